"""A 2D keypoint set with diverse appearance: the embedded stand-in for COCO.

The paper's encoder is pretrained for 2D pose on COCO: many people, places, cameras and
lights, 2D labels only. The embedded benchmark has no COCO, so this module renders one in
miniature (**synthetic**): the *training* clips and *training* subjects only (no test or
wild clip, no held-out body size), each take posed with its own yaw, phase and joint-angle
jitter and seen by ``views`` random cameras with a random key light, procedural
background, colour tint and sensor noise (:func:`lbi.data.embedded.render_wild_view`).
Only the 2D labels are meant for use (``pretrain2d`` trains on ``pose2d``); the store
keeps the canonical arrays so the usual :class:`~lbi.data.dataset.PoseDataset` reads it.

Store: ``dataset: embedded_pose2d``, split ``train``, ``synthetic: true``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lbi.config import check_range, to_dict
from lbi.data import mocap
from lbi.data.embedded import (
    _DOMAIN_CODE,
    EmbeddedConfig,
    _rng,
    _Split,
    make_take,
    provenance,
    render_wild_view,
    subject_colors,
)
from lbi.data.store import write_meta

POSE2D_DATASET = "embedded_pose2d"


@dataclass(frozen=True)
class Pose2DSetConfig:
    """Size of the 2D set (``params.yaml`` ``pretrain2d.takes_per_clip``, ``.views``)."""

    takes_per_clip: int = 3  # takes per (training clip, training subject)
    views: int = 4  # random cameras per take

    def __post_init__(self) -> None:
        check_range("takes_per_clip", self.takes_per_clip, 1, 50)
        check_range("views", self.views, 1, 32)


def generate_pose2d_set(
    cfg: EmbeddedConfig, set_cfg: Pose2DSetConfig, out_dir: Path, progress: bool = True
) -> dict[str, Any]:
    """Render the 2D set into ``out_dir`` (split ``train``); return ``{"train": N, "seconds": s}``.

    Deterministic in (``cfg``, ``set_cfg``); its random streams are disjoint from the lab
    and wild stores' (own domain code).
    """
    t0 = time.perf_counter()
    code = _DOMAIN_CODE["pose2d_train"]
    n_takes = len(cfg.train_subjects) * len(cfg.train_clips) * set_cfg.takes_per_clip
    bar: Any = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n_takes, desc="2D set takes", unit="take")
    out = _Split()
    n_cam = 0
    for si, size in enumerate(cfg.train_subjects):
        colors = subject_colors(cfg.look, _rng(cfg, 7, code, si), jitter=0.1)
        for clip in cfg.train_clips:
            for take_i in range(set_cfg.takes_per_clip):
                rng = _rng(cfg, code, si, mocap.CLIPS.index(clip), take_i)
                take = make_take(
                    cfg, clip, f"pose2d_s{si + 1}", size, colors, cfg.angle_jitter_deg, rng
                )
                for _ in range(set_cfg.views):
                    out.add(*render_wild_view(cfg, take, f"pose2d_c{n_cam:04d}", rng))
                    n_cam += 1
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    n = out.write(Path(out_dir), "train")
    write_meta(
        Path(out_dir),
        dataset=POSE2D_DATASET,
        synthetic=True,
        crop_hw=cfg.crop_hw,
        fps=cfg.fps,
        splits={"train": n},
        provenance={
            **provenance(cfg),
            "domain": "pose2d (COCO stand-in: training clips and subjects, random cameras)",
            "pose2d_set": to_dict(set_cfg),
        },
    )
    return {"train": n, "seconds": time.perf_counter() - t0}

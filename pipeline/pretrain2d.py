"""Stage ``pretrain2d``: pretrain the encoder on 2D keypoints (the embedded stand-in for COCO).

The paper's encoder starts from COCO 2D-pose weights. On the embedded benchmark this stage
renders a diverse 2D set (training clips and subjects only, random cameras, lights,
backgrounds; :mod:`lbi.data.pose2d_set`), trains ``keypoints2d`` (encoder + heatmap
head, soft-argmax, L1 in px) with the one loop, and writes the backbone as a timm-format
weight file that ``train_stage1`` loads (:func:`lbi.params.encoder_init`). Validation:
2D error (px) on the lab test and wild crops.

``pretrain2d.enabled: false`` (real data: point ``model.pretrained`` at the COCO file):
writes only ``backbone.json`` saying so.
Reads params: ``data.dataset``, ``embedded``, ``pretrain2d``, ``model.backbone``,
``model.input_hw``. Writes ``${paths.models}/pretrain2d/`` and
``${paths.store_pose2d}``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pipeline._cli import out_dir, parse, run, train_stage


def main() -> None:
    args, p = parse(__doc__.splitlines()[0])
    from lbi.io import atomic_path, save_json
    from lbi.params import pretrain2d_dir

    out = out_dir(pretrain2d_dir(p))
    cfg = p.pretrain2d
    store_dir = Path(p.paths.store_pose2d)
    if not cfg.enabled:
        shutil.rmtree(store_dir, ignore_errors=True)
        out_dir(store_dir)
        save_json(out / "backbone.json", {"enabled": False, "pretrained": p.model.pretrained})
        print(
            f"pretrain2d: disabled; stage 1 initialises from model.pretrained = {p.model.pretrained}"
        )
        return

    import torch

    from lbi.config import to_dict
    from lbi.data.dataset import PoseDataset
    from lbi.data.pose2d_set import POSE2D_DATASET, Pose2DSetConfig, generate_pose2d_set
    from lbi.experiment import Datasets
    from lbi.model import ModelConfig, build_model

    set_cfg = Pose2DSetConfig(takes_per_clip=cfg.takes_per_clip, views=cfg.views)
    summary = generate_pose2d_set(p.embedded, set_cfg, store_dir, progress=not args.no_progress)
    print(
        f"pretrain2d: rendered {summary['train']} crops in {summary['seconds']:.0f} s -> {store_dir}"
    )
    t = cfg.train
    ds = Datasets(
        train=PoseDataset(store_dir, "train", flip=t.flip_augment, seed=t.seed,
                          background_augment=t.background_augment, color_augment=t.color_augment),
        test=PoseDataset(p.paths.store_in, p.data.test_split),
        cross=PoseDataset(p.paths.store_cross, p.data.cross_split),
        source="gt", synthetic=True, dataset=POSE2D_DATASET,
    )  # fmt: skip
    mcfg = ModelConfig(
        arch="keypoints2d", backbone=p.model.backbone, input_hw=p.model.input_hw, dim=cfg.head_dim
    )
    log = {"model": to_dict(mcfg), "train": to_dict(t), "pose2d_set": to_dict(set_cfg)}
    res = train_stage("pretrain2d", "pose2d", "pretrain2d", lambda _ds: build_model(mcfg), t, p,
                      out_name="keypoints2d", log_params=log, progress=not args.no_progress,
                      datasets=ds)  # fmt: skip
    from lbi.train import load_model

    model, _ = load_model(res.checkpoint)
    with atomic_path(out / "backbone.pt") as tmp:
        torch.save(model.encoder.backbone.state_dict(), tmp)  # timm key names
    last = res.history[-1]
    save_json(out / "backbone.json", {
        "enabled": True, "backbone": p.model.backbone, "file": str(out / "backbone.pt"),
        "checkpoint": str(res.checkpoint), "train_samples": summary["train"],
        "val_test_error_px": last.get("val_test_error_px"),
        "val_cross_error_px": last.get("val_cross_error_px"), "synthetic": True,
    })  # fmt: skip
    print(f"pretrain2d: backbone -> {out / 'backbone.pt'}")


if __name__ == "__main__":
    run(main)

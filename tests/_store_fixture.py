"""A small random canonical store written with the real writer (data, not a mock)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lbi.data.store import save_detections, write_meta, write_split
from lbi.skeleton import NUM_JOINTS


def make_store(
    store_dir: Path,
    *,
    n: dict[str, int] | None = None,
    crop_hw: tuple[int, int] = (32, 24),
    dataset: str = "toy",
    seed: int = 0,
    synthetic: bool = True,
) -> Path:
    """Random poses whose 2D is the pinhole projection of the 3D; crop brightness = depth.

    Also writes ``keypoints2d_<dataset>_gt.npz`` next to the store's folder.
    """
    n = n or {"train": 64, "test": 16}
    g = np.random.default_rng(seed)
    h, w = crop_hw
    f, c = 1000.0, 500.0
    kps = {}
    for split, m in n.items():
        pose3d = g.normal(0, 200, (m, NUM_JOINTS, 3)).astype(np.float32)
        pose3d[:, 0] = 0.0
        root3d = np.stack([g.normal(0, 100, m), g.normal(0, 100, m), g.uniform(3000, 6000, m)], 1)
        root3d = root3d.astype(np.float32)
        cam = pose3d + root3d[:, None]
        pose2d = (f * cam[..., :2] / cam[..., 2:] + c).astype(np.float32)
        centre = pose2d[:, 0]
        s = np.full(m, w / 400.0, dtype=np.float32)
        aff = np.zeros((m, 2, 3), np.float32)
        aff[:, 0, 0] = s
        aff[:, 1, 1] = s
        aff[:, 0, 2] = w / 2 - s * centre[:, 0]
        aff[:, 1, 2] = h / 2 - s * centre[:, 1]
        crops = np.zeros((m, h, w, 3), np.uint8)
        crops[:] = ((root3d[:, 2] - 3000) / 3000 * 255).astype(np.uint8)[:, None, None, None]
        crops[:, : h // 2, : w // 2, 0] = 200  # an asymmetric mark, to check flips
        arrays = {
            "pose3d": pose3d,
            "root3d": root3d,
            "pose2d": pose2d,
            "crop_affine": aff,
            "intrinsics": np.tile(np.array([f, f, c, c, 0, 0, 0, 0, 0], np.float32), (m, 1)),
            "image_wh": np.tile(np.array([1000, 1000], np.int32), (m, 1)),
            "subject": np.array([f"s{i % 2}" for i in range(m)]),
            "action": np.array(["walk", "run", "jump"])[np.arange(m) % 3],
            "camera": np.array(["c0"] * m),
            "frame": np.arange(m, dtype=np.int32),
        }
        fg = np.zeros((m, h, w), np.uint8)
        fg[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
        write_split(store_dir, split, arrays, crops, fg)
        kps[split] = pose2d
    write_meta(
        store_dir,
        dataset=dataset,
        synthetic=synthetic,
        crop_hw=crop_hw,
        splits=n,
        fps=10.0,
        provenance={"test": True},
    )
    save_detections(
        store_dir.parent / f"keypoints2d_{dataset}_gt.npz",
        kps,
        {
            "dataset": dataset,
            "detector": "gt",
            "method": "gt",
            "layout": "h36m17",
            "synthetic": synthetic,
        },
    )
    return store_dir

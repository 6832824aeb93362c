"""Torch dataset over the canonical store: image crop, normalised 2D, 3D target, metadata.

One sample (all tensors, see :class:`PoseDataset`)::

    image     uint8   (3, H, W)   RGB crop; the model normalises it (ImageNet mean/std)
    pose2d    float32 (J, 2)      2D input in normalised crop coordinates
                                  (crop px -> x / W * 2 - [1, H / W]); J = 17, or 16 (SH)
    pose2d_px float32 (J, 2)      the same 2D input in crop px (attention analysis)
    pose3d    float32 (17, 3)     mm, camera frame, root-relative target
    index     int64   ()          sample index in the split

Batches are fetched with ``__getitems__`` (one fancy-indexed read of the memory-mapped
crops per batch), which is what makes loading outrun a GPU training step.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lbi.data.store import Store, StoreError, load_detections, open_store
from lbi.skeleton import NUM_JOINTS, SH16_TO_17, flip_permutation


def to_crop_normalized(
    kp_px: np.ndarray, crop_affine: np.ndarray, crop_hw: tuple[int, int]
) -> np.ndarray:
    """Full-image px ``(N, J, 2)`` -> crop px -> normalised crop coords ``(N, J, 2)``.

    Normalisation is VideoPose3D's screen convention on the crop: ``x / W * 2 - 1`` and
    ``y / W * 2 - H / W`` (aspect preserved, x in [-1, 1]).
    """
    crop_px = apply_affine_np(kp_px, crop_affine)
    h, w = crop_hw
    return (crop_px / w * 2.0 - np.array([1.0, h / w], dtype=np.float32)).astype(np.float32)


def apply_affine_np(points: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Apply per-sample affines ``A (N, 2, 3)`` to points ``(N, J, 2)``."""
    return np.einsum("nij,nkj->nki", A[:, :, :2], points) + A[:, None, :, 2]


class PoseDataset(Dataset):
    """One split of a store with one 2D source.

    Args:
        store_dir: canonical store folder (see :mod:`lbi.data.store`).
        split: split name, e.g. ``"train"`` or ``"test"``.
        detections: a ``keypoints2d_<dataset>_<detector>.npz`` file, or None to use the
            store's ground-truth 2D projection.
        flip: horizontal-flip augmentation with probability 0.5 (training only): the crop
            is mirrored, 2D x -> W - 1 - x, 3D x -> -x, left/right joints swapped.
        seed: seed of the flip decisions (decided per (epoch, index), so a resumed run
            sees the same flips); call :meth:`set_epoch` each epoch.
        joints_in: 16 to feed a model trained on SH-layout (16-joint) input with 17-joint
            detections (Neck/Nose dropped); None keeps the file's joint count.
        background_augment: probability of replacing a crop's background by a random
            texture (training only). Needs the store's exact foreground masks, which only
            synthetic stores have: with few fixed studio backgrounds a CNN otherwise
            learns the backgrounds (the paper's "background overfitting", much stronger
            on the small synthetic lab domain). Decided per (seed, epoch, index).
    """

    def __init__(
        self,
        store_dir: str | Path,
        split: str,
        detections: str | Path | None = None,
        *,
        flip: bool = False,
        seed: int = 0,
        joints_in: int | None = None,
        background_augment: float = 0.0,
        color_augment: float = 0.0,
    ) -> None:
        self.store: Store = open_store(store_dir)
        self.split = split
        arrays = self.store.arrays(split)
        self.meta: dict[str, np.ndarray] = {
            k: arrays[k] for k in ("subject", "action", "camera", "frame")
        }
        self.pose3d = arrays["pose3d"]
        self.crop_affine = arrays["crop_affine"]
        self.crop_hw = self.store.crop_hw
        n = len(self.pose3d)
        self.detections_path = Path(detections) if detections is not None else None
        if detections is None:
            kp = arrays["pose2d"]
            self.source_meta: dict[str, Any] = {
                "detector": "gt",
                "method": "ground-truth projection",
            }
        else:
            kp, self.source_meta = load_detections(detections, split, n)
            if self.source_meta.get("dataset") not in (None, self.store.dataset):
                raise StoreError(
                    f"{detections}: detections are for dataset '{self.source_meta.get('dataset')}' "
                    f"but the store {store_dir} is '{self.store.dataset}'"
                )
        if kp.shape[1] not in (16, NUM_JOINTS):
            raise StoreError(f"{detections}: {kp.shape[1]} joints; expected 17 or 16 (SH layout)")
        if joints_in is not None and joints_in != kp.shape[1]:
            if joints_in == 16 and kp.shape[1] == NUM_JOINTS:
                kp = kp[:, list(SH16_TO_17)]
            else:
                raise StoreError(
                    f"{detections}: {kp.shape[1]}-joint detections cannot feed a {joints_in}-joint "
                    "model; train with a 17-joint source or set model.num_joints_in"
                )
        self.num_joints_in = int(kp.shape[1])
        h, w = self.crop_hw
        self.pose2d_px = apply_affine_np(kp.astype(np.float32), self.crop_affine).astype(np.float32)
        self.pose2d = (self.pose2d_px / w * 2.0 - np.array([1.0, h / w], dtype=np.float32)).astype(
            np.float32
        )
        self.crops = self.store.crops(split)
        if len(self.crops) != n:
            raise StoreError(
                f"{self.store.root}/{split}_crops.npy: {len(self.crops)} crops for {n} samples"
            )
        self.flip = flip
        self.seed = seed
        self.background_augment = float(background_augment)
        self.color_augment = float(color_augment)
        self.fgmask = self.store.fgmask(split) if self.background_augment > 0 else None
        if self.background_augment > 0 and self.fgmask is None:
            raise StoreError(
                f"{self.store.root}/{split}_fgmask.npy: background augmentation needs foreground "
                "masks (only synthetic stores have them); set background_augment: 0.0 in params.yaml"
            )
        self.epoch = 0
        self.images = True  # False: batches carry an empty image (see without_images)
        self._perm_in = flip_permutation(self.num_joints_in)
        self._perm_out = flip_permutation(NUM_JOINTS)

    def __len__(self) -> int:
        return len(self.pose3d)

    def fingerprint(self) -> str:
        """md5 of what this dataset reads (store meta + split arrays + detections file).

        Part of a training run's resume key, so a checkpoint made on other data is never
        resumed (regenerated stores have the same sample count).
        """
        h = hashlib.md5()
        for f in (
            self.store.root / "meta.json",
            self.store.root / f"{self.split}.npz",
            self.detections_path,
        ):
            if f is not None:
                h.update(Path(f).read_bytes())
        return h.hexdigest()

    def without_images(self) -> PoseDataset:
        """This dataset for a model that never looks at the crop (the 2D lifters).

        Batches carry an empty ``image (B, 3, 0, 0)``; the crops are neither read nor
        augmented. Everything else (2D, 3D, flips) is identical: the image augmentations
        draw from their own per-batch generators, so no random stream shifts.
        """
        view = copy.copy(self)
        view.images = False
        return view

    def set_epoch(self, epoch: int) -> None:
        """Flip decisions depend on (seed, epoch, index) only."""
        self.epoch = epoch

    def _flip_mask(self, idx: np.ndarray) -> np.ndarray:
        if not self.flip:
            return np.zeros(len(idx), dtype=bool)
        g = np.random.default_rng([self.seed, self.epoch])
        return g.random(len(self))[idx] < 0.5

    def _replace_background(self, images: np.ndarray, idx: np.ndarray) -> None:
        """In place: background pixels of some crops ``(B, H, W, 3)`` -> random textures."""
        g = np.random.default_rng([self.seed, self.epoch, 7])
        pick = g.random(len(self))[idx] < self.background_augment  # (B,)
        if not pick.any():
            return
        sel = np.nonzero(pick)[0]
        rng = np.random.default_rng([self.seed, self.epoch, int(idx[sel[0]]), int(idx[sel].sum())])
        bg = random_textures(rng, len(sel), self.crop_hw)  # (b, H, W, 3)
        order = np.argsort(idx[sel])
        fg = np.empty((len(sel), *self.crop_hw), dtype=np.uint8)
        fg[order] = self.fgmask[idx[sel][order]]  # type: ignore[index]
        keep = fg[..., None].astype(bool)
        images[sel] = np.where(keep, images[sel], bg)

    def _photometric(self, images: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Gamma, contrast, saturation, per-channel gain, brightness and sensor noise on some
        crops ``(B, H, W, 3)``."""
        g = np.random.default_rng([self.seed, self.epoch, 11])
        pick = g.random(len(self))[idx] < self.color_augment  # (B,)
        if not pick.any():
            return images
        sel = np.nonzero(pick)[0]
        rng = np.random.default_rng(
            [self.seed, self.epoch, 13, int(idx[sel[0]]), int(idx[sel].sum())]
        )
        n = len(sel)
        x = images[sel].astype(np.float32) / 255.0  # (n, H, W, 3) in [0, 1]
        # Light-like changes first: gamma (shading fall-off), contrast about the crop mean
        # (key vs ambient light), saturation; then camera-like ones: gain, brightness, noise.
        x = x ** rng.uniform(0.7, 1.4, (n, 1, 1, 1)).astype(np.float32)
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        x = (x - mean) * rng.uniform(0.6, 1.4, (n, 1, 1, 1)).astype(np.float32) + mean
        gray = x.mean(axis=3, keepdims=True)
        x = (x - gray) * rng.uniform(0.6, 1.4, (n, 1, 1, 1)).astype(np.float32) + gray
        gain = rng.uniform(0.8, 1.2, (n, 1, 1, 3)) * rng.uniform(0.8, 1.2, (n, 1, 1, 1))
        noise = rng.normal(0.0, 1.0, x.shape) * rng.uniform(0, 6, (n, 1, 1, 1))
        out = images.copy()
        out[sel] = np.clip(x * 255.0 * gain + noise, 0, 255).astype(np.uint8)
        return out

    def __getitems__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        """A whole batch: one sorted read of the memory-mapped crops."""
        idx = np.asarray(indices, dtype=np.int64)
        p2 = self.pose2d[idx].copy()  # (B, J, 2)
        p2px = self.pose2d_px[idx].copy()  # (B, J, 2)
        p3 = self.pose3d[idx].copy()  # (B, 17, 3)
        fl = self._flip_mask(idx)
        if self.images:
            order = np.argsort(idx, kind="stable")
            images = np.empty((len(idx), *self.crops.shape[1:]), dtype=np.uint8)
            images[order] = self.crops[idx[order]]  # (B, H, W, 3)
            if self.background_augment > 0:
                self._replace_background(images, idx)
            if self.color_augment > 0:
                images = self._photometric(images, idx)
            if fl.any():
                images[fl] = images[fl][:, :, ::-1]
            image = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
        else:
            image = torch.empty((len(idx), 3, 0, 0), dtype=torch.uint8)
        if fl.any():
            w = self.crop_hw[1]
            p2px[fl] = p2px[fl][:, self._perm_in]
            p2px[fl, :, 0] = (w - 1) - p2px[fl, :, 0]
            p2[fl] = p2[fl][:, self._perm_in]
            # normalised x = px / w * 2 - 1 ; mirrored px' = w - 1 - px -> x' = -x + ... keep exact:
            p2[fl, :, 0] = p2px[fl, :, 0] / w * 2.0 - 1.0
            p3[fl] = p3[fl][:, self._perm_out]
            p3[fl, :, 0] = -p3[fl, :, 0]
        return {
            "image": image,  # (B, 3, H, W), or (B, 3, 0, 0) without images
            "pose2d": torch.from_numpy(p2),
            "pose2d_px": torch.from_numpy(p2px),
            "pose3d": torch.from_numpy(p3),
            "index": torch.from_numpy(idx),
        }

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        batch = self.__getitems__([int(i)])
        return {k: v[0] for k, v in batch.items()}


def random_textures(rng: np.random.Generator, n: int, hw: tuple[int, int]) -> np.ndarray:
    """``n`` random backgrounds ``(n, H, W, 3)`` uint8: smooth colour fields, stripes, noise."""
    h, w = hw
    gh, gw = int(rng.integers(2, 7)), int(rng.integers(2, 7))
    grid = torch.from_numpy(rng.uniform(0, 255, (n, 3, gh, gw)).astype(np.float32))
    smooth = torch.nn.functional.interpolate(grid, size=(h, w), mode="bilinear", align_corners=True)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi, (n, 1, 1))
    period = rng.uniform(4, 24, (n, 1, 1))
    stripes = np.sin(2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period)  # (n, H, W)
    amp = rng.uniform(0, 60, (n, 1, 1)) * (rng.random((n, 1, 1)) < 0.5)
    noise = rng.normal(0, rng.uniform(2, 25), (n, h, w, 3))
    img = smooth.permute(0, 2, 3, 1).numpy() + (amp * stripes)[..., None] + noise
    return np.clip(img, 0, 255).astype(np.uint8)


def collate_batch(
    batch: dict[str, torch.Tensor] | list[dict[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """DataLoader ``collate_fn``: batches from ``__getitems__`` pass through unchanged."""
    if isinstance(batch, dict):
        return batch
    return {k: torch.stack([b[k] for b in batch]) for k in batch[0]}


def flip_test_inputs(
    batch: dict[str, torch.Tensor], crop_w: int, num_joints_in: int
) -> dict[str, torch.Tensor]:
    """Mirror a batch for flip-test: image, 2D (px and normalised) with joints swapped."""
    perm = flip_permutation(num_joints_in)
    out = dict(batch)
    out["image"] = batch["image"].flip(-1)
    px = batch["pose2d_px"][:, perm].clone()
    px[..., 0] = (crop_w - 1) - px[..., 0]
    out["pose2d_px"] = px
    p2 = batch["pose2d"][:, perm].clone()
    p2[..., 0] = px[..., 0] / crop_w * 2.0 - 1.0
    out["pose2d"] = p2
    return out


def unflip_pose3d(pose3d: torch.Tensor) -> torch.Tensor:
    """Map a 3D prediction ``(B, 17, 3)`` made on a mirrored input back: x -> -x, swap sides."""
    out = pose3d[:, flip_permutation(NUM_JOINTS)].clone()
    out[..., 0] = -out[..., 0]
    return out

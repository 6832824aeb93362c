"""The canonical store: one on-disk format written by every preprocessor.

Human3.6M, MPI-INF-3DHP and the embedded synthetic benchmark are all converted into
this layout; every later stage (detect2d, training, evaluation) reads only this.

Layout of a store folder::

    meta.json              {"format": "lbi-store/1", "dataset": str, "synthetic": bool,
                            "joint_names": [17 names], "crop_hw": [H, W],
                            "splits": {split: num_samples}, "fps": float,
                            "provenance": {...free-form, how it was made...}}
    <split>.npz            per-sample arrays, N = samples in the split:
      pose3d      float32 (N, 17, 3)  mm, camera frame, root-relative (joint 0 = origin)
      root3d      float32 (N, 3)      mm, camera frame, absolute pelvis position
      pose2d      float32 (N, 17, 2)  px, full-image coordinates, ground-truth projection
      crop_affine float32 (N, 2, 3)   full-image px -> crop px: [u, v]^T = A @ [x, y, 1]^T
      intrinsics  float32 (N, 9)      fx, fy, cx, cy, k1, k2, k3, p1, p2 (px; H36M convention)
      image_wh    int32   (N, 2)      full image width, height (px)
      subject     <U      (N,)        subject id, e.g. "S9", "TS1", "lab_s2"
      action      <U      (N,)        canonical action name (e.g. "Directions", "walk")
      camera      <U      (N,)        camera id (e.g. "54138969", "lab_c0")
      frame       int32   (N,)        frame index in the original, un-subsampled sequence
    <split>_crops.npy      uint8 (N, H, W, 3) RGB crops at the encoder input size, read
                           memory-mapped (``np.load(mmap_mode='r')``): no JPEG in the hot loop
    <split>_fgmask.npy     optional uint8 (N, H, W): 1 on the person, 0 on background
                           (exact for synthetic data; absent for real data)

2D detections are separate named artefacts, one file per (dataset, detector)
(:func:`save_detections`)::

    keypoints2d_<dataset>_<detector>.npz
      <split>     float32 (N, J, 2)  px, full-image coordinates, J = 17 or 16 (SH layout)
      meta        JSON string: {"dataset", "detector", "method", "layout": "h36m17"|"sh16",
                                "synthetic": bool, "settings": {...}}

Every write is atomic (temp file + rename); ``meta.json`` is written last, so a store
without it is incomplete and is rejected by :func:`open_store`.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lbi.io import save_json, save_npy, save_npz
from lbi.skeleton import H36M_JOINTS, NUM_JOINTS

FORMAT = "lbi-store/1"
SAMPLE_FIELDS: dict[str, tuple[str, tuple[int | None, ...]]] = {
    "pose3d": ("float32", (None, NUM_JOINTS, 3)),
    "root3d": ("float32", (None, 3)),
    "pose2d": ("float32", (None, NUM_JOINTS, 2)),
    "crop_affine": ("float32", (None, 2, 3)),
    "intrinsics": ("float32", (None, 9)),
    "image_wh": ("int32", (None, 2)),
    "subject": ("U", (None,)),
    "action": ("U", (None,)),
    "camera": ("U", (None,)),
    "frame": ("int32", (None,)),
}


class StoreError(ValueError):
    """A store or detections file is missing, incomplete or malformed."""


_UNREADABLE = (OSError, EOFError, ValueError, zipfile.BadZipFile, KeyError)


def _unreadable(path: Path, e: BaseException, fix: str) -> StoreError:
    """One-line error for a truncated or corrupt ``.npy``/``.npz``."""
    why = str(e).splitlines()[0] if str(e) else ""
    return StoreError(f"{path}: truncated or corrupt ({type(e).__name__}: {why}); {fix}")


_REBUILD = "delete the store folder and rerun the preprocess stage (`dvc repro -f preprocess`)"


def _load_npz(path: Path, fix: str) -> dict[str, np.ndarray]:
    """All arrays of an npz (no pickles), or a :class:`StoreError` naming the file."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except _UNREADABLE as e:
        raise _unreadable(path, e, fix) from None


def _load_npy_mmap(path: Path) -> np.ndarray:
    """A memory-mapped ``.npy`` whose size matches its header, else a :class:`StoreError`."""
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except _UNREADABLE as e:
        raise _unreadable(path, e, _REBUILD) from None


def validate_split(arrays: dict[str, np.ndarray], where: str) -> int:
    """Check the per-sample arrays of one split; return N. Raises :class:`StoreError`."""
    missing = [k for k in SAMPLE_FIELDS if k not in arrays]
    if missing:
        raise StoreError(f"{where}: missing fields {missing}")
    n = len(arrays["pose3d"])
    for key, (dtype, shape) in SAMPLE_FIELDS.items():
        a = arrays[key]
        ok_dtype = a.dtype.kind == "U" if dtype == "U" else a.dtype == np.dtype(dtype)
        if not ok_dtype:
            raise StoreError(f"{where}: field '{key}' has dtype {a.dtype}, expected {dtype}")
        if a.ndim != len(shape) or any(
            s is not None and s != d for s, d in zip(shape, a.shape, strict=True)
        ):
            raise StoreError(
                f"{where}: field '{key}' has shape {a.shape}, expected {shape} (None = N)"
            )
        if len(a) != n:
            raise StoreError(f"{where}: field '{key}' has {len(a)} samples, 'pose3d' has {n}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            bad = np.unique(np.nonzero(~np.isfinite(a.reshape(n, -1)))[0])[:5]
            raise StoreError(f"{where}: field '{key}' has NaN/inf at samples {bad.tolist()}")
    return n


def write_split(
    store_dir: str | Path,
    split: str,
    arrays: dict[str, np.ndarray],
    crops: np.ndarray,
    fgmask: np.ndarray | None = None,
) -> int:
    """Validate and write one split (arrays, crops ``(N, H, W, 3)`` uint8, optional masks)."""
    store_dir = Path(store_dir)
    n = validate_split(arrays, f"{store_dir}/{split}.npz")
    if crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[0] != n or crops.shape[-1] != 3:
        raise StoreError(
            f"{store_dir}/{split}_crops.npy: expected uint8 (N={n}, H, W, 3), got {crops.dtype} {crops.shape}"
        )
    save_npz(store_dir / f"{split}.npz", **{k: arrays[k] for k in SAMPLE_FIELDS})
    save_npy(store_dir / f"{split}_crops.npy", crops)
    if fgmask is not None:
        if fgmask.shape != crops.shape[:3]:
            raise StoreError(
                f"{store_dir}/{split}_fgmask.npy: shape {fgmask.shape} != crops {crops.shape[:3]}"
            )
        save_npy(store_dir / f"{split}_fgmask.npy", fgmask.astype(np.uint8))
    return n


def write_meta(
    store_dir: str | Path,
    *,
    dataset: str,
    synthetic: bool,
    crop_hw: tuple[int, int],
    splits: dict[str, int],
    fps: float,
    provenance: dict[str, Any],
) -> Path:
    """Write ``meta.json`` last: it marks the store complete."""
    meta = {
        "format": FORMAT,
        "dataset": dataset,
        "synthetic": bool(synthetic),
        "joint_names": list(H36M_JOINTS),
        "crop_hw": [int(crop_hw[0]), int(crop_hw[1])],
        "splits": {k: int(v) for k, v in splits.items()},
        "fps": float(fps),
        "provenance": provenance,
    }
    return save_json(Path(store_dir) / "meta.json", meta)


@dataclass(frozen=True)
class Store:
    """A validated store folder. Arrays load lazily; crops are memory-mapped."""

    root: Path
    meta: dict[str, Any]

    @property
    def dataset(self) -> str:
        return str(self.meta["dataset"])

    @property
    def synthetic(self) -> bool:
        return bool(self.meta["synthetic"])

    @property
    def crop_hw(self) -> tuple[int, int]:
        h, w = self.meta["crop_hw"]
        return int(h), int(w)

    @property
    def splits(self) -> list[str]:
        return list(self.meta["splits"])

    def _check_split(self, split: str) -> None:
        if split not in self.meta["splits"]:
            raise StoreError(
                f"{self.root}/meta.json: no split '{split}' (has {self.splits}); "
                "check the split names in params.yaml"
            )

    def arrays(self, split: str) -> dict[str, np.ndarray]:
        """All per-sample arrays of ``split`` (validated)."""
        self._check_split(split)
        path = self.root / f"{split}.npz"
        if not path.exists():
            raise StoreError(f"{path}: missing; rerun the preprocess stage")
        arrays = _load_npz(path, _REBUILD)
        n = validate_split(arrays, str(path))
        if n != self.meta["splits"][split]:
            raise StoreError(f"{path}: {n} samples but meta.json says {self.meta['splits'][split]}")
        return arrays

    def crops(self, split: str) -> np.ndarray:
        """Memory-mapped uint8 crops ``(N, H, W, 3)``."""
        self._check_split(split)
        path = self.root / f"{split}_crops.npy"
        if not path.exists():
            raise StoreError(f"{path}: missing; rerun the preprocess stage")
        crops = _load_npy_mmap(path)
        n = self.meta["splits"][split]
        if crops.ndim != 4 or len(crops) != n or crops.shape[1:3] != self.crop_hw:
            raise StoreError(
                f"{path}: crops of shape {crops.shape}, but meta.json says {n} samples of "
                f"{self.crop_hw}; {_REBUILD}"
            )
        return crops

    def fgmask(self, split: str) -> np.ndarray | None:
        """Memory-mapped uint8 foreground masks ``(N, H, W)``, or None if absent."""
        path = self.root / f"{split}_fgmask.npy"
        return _load_npy_mmap(path) if path.exists() else None


def open_store(store_dir: str | Path) -> Store:
    """Open and check a store folder; errors name the file and how to fix it."""
    root = Path(store_dir)
    meta_path = root / "meta.json"
    if not meta_path.exists():
        raise StoreError(
            f"{meta_path}: missing - '{root}' is not a complete lbi store "
            "(run `dvc repro preprocess`, or check data paths in params.yaml)"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as e:
        raise StoreError(f"{meta_path}: not valid JSON ({e})") from e
    if meta.get("format") != FORMAT:
        raise StoreError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    return Store(root=root, meta=meta)


def detections_path(folder: str | Path, dataset: str, detector: str) -> Path:
    """``<folder>/keypoints2d_<dataset>_<detector>.npz``."""
    return Path(folder) / f"keypoints2d_{dataset}_{detector}.npz"


def save_detections(
    path: str | Path, keypoints: dict[str, np.ndarray], meta: dict[str, Any]
) -> Path:
    """Write a detections file: ``keypoints[split]`` float32 ``(N, J, 2)`` px + meta."""
    for key in ("dataset", "detector", "method", "layout", "synthetic"):
        if key not in meta:
            raise StoreError(f"{path}: detections meta lacks '{key}'")
    for split, kp in keypoints.items():
        if kp.ndim != 3 or kp.shape[-1] != 2 or kp.shape[1] not in (16, 17):
            raise StoreError(
                f"{path}: split '{split}' has shape {kp.shape}, expected (N, 16|17, 2)"
            )
        if not np.isfinite(kp).all():
            raise StoreError(f"{path}: split '{split}' has NaN/inf keypoints")
    arrays = {k: v.astype(np.float32) for k, v in keypoints.items()}
    return save_npz(path, meta=np.array(json.dumps(meta)), **arrays)


def load_detections(
    path: str | Path, split: str, num_samples: int
) -> tuple[np.ndarray, dict[str, Any]]:
    """Read split ``split`` of a detections file, checking it matches the store's N."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"{path}: missing 2D detections; run `dvc repro detect2d`")
    z = _load_npz(path, "delete it and rerun the detect2d stage (`dvc repro -f detect2d`)")
    if "meta" not in z:
        raise StoreError(f"{path}: not an lbi detections file (no 'meta' key)")
    meta = json.loads(str(z["meta"]))
    if split not in z:
        raise StoreError(f"{path}: no split '{split}' (has {[f for f in z if f != 'meta']})")
    kp = z[split]
    if len(kp) != num_samples:
        raise StoreError(
            f"{path}: split '{split}' has {len(kp)} poses but the store has {num_samples}; "
            "the detections were made from another store - rerun detect2d"
        )
    return kp, meta

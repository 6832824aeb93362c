"""2D "detections" for the synthetic benchmark from a declared noise model (no detector network).

The embedded benchmark has no CPN or stacked-hourglass network, so ``cpn`` and ``sh``
keypoints are the ground-truth projection corrupted by a documented error model
(:class:`NoiseModel`); ``gt`` is the projection itself. Outputs are labelled
``method: "synthetic noise model"`` and ``synthetic: true``.

Error model, per sample ``n`` and joint ``j`` (px, full-image coordinates):

1. scale ``s_n = (fx * 2000 mm / Z_root) / ref_box_px``: errors grow with the person's
   size in the image (``ref_box_px`` = 500 px, the 2 m root box of the lab rig, as for a
   person ~4.6 m from a Human3.6M camera);
2. anisotropic Gaussian: std ``sigma_px[j] * along_ratio`` along the 2D direction of the
   joint's parent bone and ``sigma_px[j]`` across it (the pelvis: isotropic), larger at
   wrists and ankles; the unit noise is AR(1)-correlated over consecutive frames of a
   sequence (same subject, action, camera) with coefficient ``temporal_rho``;
3. gross errors: per sample and limb (arms, legs), with probability ``swap_prob`` the
   left and right limb's two distal joints (elbow+wrist or knee+ankle) swap labels; per
   joint, with probability ``jump_prob`` the joint lands on another random joint.

Calibration targets (``target_mean_px``, mean 2D error at ``s = 1``): CPN ~5.5 px and SH
~9.5 px, the levels commonly quoted for these detectors on Human3.6M (1000 px images),
i.e. SH clearly worse than CPN. ``sh`` returns 16 joints in the SH16 layout
(``lbi.skeleton.SH16_TO_17``: our order without Neck/Nose).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import lfilter

from lbi.data.store import Store, StoreError, detections_path, save_detections
from lbi.skeleton import NUM_JOINTS, PARENTS, SH16_TO_17

# Relative per-joint error profile (our 17-joint order): extremities are the hardest.
_PROFILE = (0.8, 0.9, 1.0, 1.3, 0.9, 1.0, 1.3, 0.9, 0.8, 0.8, 1.0, 0.9, 1.15, 1.5, 0.9, 1.15, 1.5)
# Distal joints of the limbs swapped by a left/right confusion: (left, right) pairs.
_LIMB_SWAPS = (((12, 13), (15, 16)), ((5, 6), (2, 3)))  # arms (elbow, wrist), legs (knee, foot)


@dataclass(frozen=True)
class NoiseModel:
    """A documented 2D detection error model (see the module docstring)."""

    name: str
    layout: str  # "h36m17" (17 joints) or "sh16" (16 joints, no Neck/Nose)
    sigma_px: tuple[float, ...]  # (17,) std across the bone at s = 1, px
    along_ratio: float  # std along the parent bone / std across it
    temporal_rho: float  # AR(1) coefficient between consecutive frames
    swap_prob: float  # per sample and limb: left/right swap of the distal joints
    jump_prob: float  # per sample and joint: jump onto another joint
    target_mean_px: float  # calibration target: mean error at s = 1
    ref_box_px: float = 500.0  # person scale (2 m root box, px) at which s = 1

    def __post_init__(self) -> None:
        if self.layout not in ("h36m17", "sh16"):
            raise ValueError(f"NoiseModel.layout must be 'h36m17' or 'sh16', got {self.layout!r}")
        if len(self.sigma_px) != NUM_JOINTS or min(self.sigma_px) < 0:
            raise ValueError(f"NoiseModel.sigma_px must be {NUM_JOINTS} non-negative values")
        if not 0 <= self.temporal_rho < 1:
            raise ValueError(f"NoiseModel.temporal_rho must be in [0, 1), got {self.temporal_rho}")
        for k in ("swap_prob", "jump_prob"):
            if not 0 <= getattr(self, k) <= 1:
                raise ValueError(f"NoiseModel.{k} must be in [0, 1], got {getattr(self, k)}")


def _sigmas(scale: float) -> tuple[float, ...]:
    return tuple(round(scale * p, 3) for p in _PROFILE)


NOISE_MODELS: dict[str, NoiseModel] = {
    "cpn": NoiseModel("cpn", "h36m17", _sigmas(2.9), 1.3, 0.6, 0.015, 0.004, 5.5),
    "sh": NoiseModel("sh", "sh16", _sigmas(4.6), 1.3, 0.6, 0.03, 0.012, 9.5),
}
DETECTORS: tuple[str, ...] = ("gt", *NOISE_MODELS)


def _seed(*parts: str | int) -> list[int]:
    return [zlib.crc32(str(p).encode()) for p in parts]


def _unit_noise(arrays: dict[str, np.ndarray], rho: float, rng: np.random.Generator) -> np.ndarray:
    """Standard normal noise ``(N, 17, 2)``, AR(1) with ``rho`` along each sequence."""
    n = len(arrays["frame"])
    w = rng.standard_normal((n, NUM_JOINTS, 2))
    if rho <= 0 or n == 0:
        return w
    keys = np.char.add(np.char.add(arrays["subject"], "|"), np.char.add(arrays["action"], "|"))
    keys = np.char.add(keys, arrays["camera"])
    order = np.lexsort((arrays["frame"], keys))
    out = np.empty_like(w)
    bounds = np.flatnonzero(keys[order][1:] != keys[order][:-1]) + 1
    gain = np.sqrt(1 - rho**2)
    for idx in np.split(order, bounds):
        x = w[idx].copy()
        x[0] /= gain  # start in the stationary distribution
        out[idx] = lfilter([gain], [1.0, -rho], x, axis=0)
    return out


def corrupt(
    pose2d: np.ndarray, arrays: dict[str, np.ndarray], model: NoiseModel, rng: np.random.Generator
) -> np.ndarray:
    """Apply ``model`` to ground-truth keypoints ``(N, 17, 2)`` px -> ``(N, 17, 2)`` px.

    ``arrays`` are the split's store arrays (``intrinsics``, ``root3d`` for the person
    scale; ``subject``, ``action``, ``camera``, ``frame`` for the temporal correlation).
    """
    N = len(pose2d)
    box = arrays["intrinsics"][:, 0] * 2000.0 / arrays["root3d"][:, 2]
    s = (box / model.ref_box_px)[:, None, None]  # (N, 1, 1)
    parents = np.array([p if p >= 0 else 0 for p in PARENTS])
    along = pose2d - pose2d[:, parents]  # (N, 17, 2) parent -> joint
    norm = np.linalg.norm(along, axis=-1, keepdims=True)
    e = np.where(norm > 1e-6, along / np.maximum(norm, 1e-6), [1.0, 0.0])
    e_perp = np.stack([-e[..., 1], e[..., 0]], -1)
    z = _unit_noise(arrays, model.temporal_rho, rng)
    ratio = np.full(NUM_JOINTS, model.along_ratio)
    ratio[0] = 1.0  # the root has no bone
    sigma = np.array(model.sigma_px) * s[..., 0]  # (N, 17)
    out = pose2d + sigma[..., None] * (e * (ratio[:, None] * z[..., :1]) + e_perp * z[..., 1:])
    for left, right in _LIMB_SWAPS:
        swap = rng.random(N) < model.swap_prob
        li, ri = list(left), list(right)
        out[np.ix_(swap, li + ri)] = out[np.ix_(swap, ri + li)]
    jump = rng.random((N, NUM_JOINTS)) < model.jump_prob
    if jump.any():
        n_idx, j_idx = np.nonzero(jump)
        other = (j_idx + rng.integers(1, NUM_JOINTS, len(j_idx))) % NUM_JOINTS
        out[n_idx, j_idx] = pose2d[n_idx, other] + sigma[n_idx, other, None] * rng.standard_normal(
            (len(n_idx), 2)
        )
    return out


def synthesize_detections(
    store: Store, detector: str, seed: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Detections of ``detector`` ("gt", "cpn", "sh") for every split of ``store``.

    Returns ``{split: float32 (N, J, 2)}`` px full-image (J = 16 for "sh", else 17) and the
    meta for :func:`lbi.data.store.save_detections`, incl. the measured mean error (px).
    """
    if detector not in DETECTORS:
        raise StoreError(
            f"unknown detector {detector!r} for {store.root}; expected one of {DETECTORS}"
        )
    model = NOISE_MODELS.get(detector)
    out: dict[str, np.ndarray] = {}
    mean_err: dict[str, float] = {}
    for split in store.splits:
        arrays = store.arrays(split)
        gt = arrays["pose2d"].astype(np.float64)
        if model is None:
            kp = gt
        else:
            kp = corrupt(gt, arrays, model, np.random.default_rng(_seed(seed, detector, split)))
            if model.layout == "sh16":
                kp, gt = kp[:, list(SH16_TO_17)], gt[:, list(SH16_TO_17)]
        out[split] = kp.astype(np.float32)
        mean_err[split] = float(np.linalg.norm(kp - gt, axis=-1).mean()) if len(kp) else 0.0
    meta = {
        "dataset": store.dataset,
        "detector": detector,
        "method": "ground-truth projection" if model is None else "synthetic noise model",
        "layout": "h36m17" if model is None else model.layout,
        "synthetic": True,
        "settings": {"seed": seed, **(asdict(model) if model else {})},
        "mean_error_px": mean_err,
    }
    return out, meta


def write_detections(
    store: Store, detector: str, seed: int, folder: str | Path | None = None
) -> Path:
    """Synthesize and save ``keypoints2d_<dataset>_<detector>.npz`` (default: in the store)."""
    kp, meta = synthesize_detections(store, detector, seed)
    path = detections_path(folder or store.root, store.dataset, detector)
    return save_detections(path, kp, meta)

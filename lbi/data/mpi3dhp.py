"""MPI-INF-3DHP test set -> the canonical store (cross-dataset evaluation only).

Users bring their own copy (https://vcai.mpi-inf.mpg.de/3dhp-dataset/, licence);
nothing is downloaded. Two inputs are supported (``cfg.subset_file`` picks):

**The official test set** (``subset_file: null``), under ``cfg.root``:
``TS1..TS6/annot_data.mat`` and the frames ``TS{k}/imageSequence/img_{frame+1:06d}.jpg``
(2048x2048 for TS1-4, 1920x1080 for TS5-6). ``annot_data.mat`` is MATLAB v7.3 (HDF5,
read with h5py); older-format .mat files are read with scipy. Variables used:

- ``univ_annot3`` (3D, mm, camera frame, "universal" skeleton rescaled to the Human3.6M
  height: the evaluation standard) or ``annot3`` (actual skeleton) for ``pose3d``;
- ``annot2`` (2D, px) for ``pose2d``; ``valid_frame`` (only frames with 1 are kept);
- ``activity_annotation`` (optional, 1..7 -> :data:`ACTIVITIES`) for ``action``,
  ``"all"`` when absent.

MATLAB stores ``annot3`` as ``3 x 17 x 1 x T`` in column-major order, so h5py (which
reports the HDF5 dimensions, i.e. reversed) shows ``(T, 1, 17, 3)``; that is what the
distributed files give. The MATLAB order ``(3, 17, 1, T)`` (e.g. from scipy, or a file
written without the reversal) is accepted too, as are both without the singleton axis;
``valid_frame`` / ``activity_annotation`` may be ``(T, 1)`` or ``(1, T)``.

Intrinsics: from ``cfg.cameras_file`` (JSON ``{"TS1": [fx, fy, cx, cy], ...}`` px, or
9-vectors with distortion) if given, else **estimated per sequence** by linear least
squares of the pinhole model ``u = fx X/Z + cx``, ``v = fy Y/Z + cy`` over all valid
frames and joints, fitting ``annot2`` against ``annot3`` when present (the skeleton that
actually projects to ``annot2``), else ``univ_annot3``. The fit's RMS residual is
recorded in ``provenance.intrinsics_rms_px``; above :data:`MAX_FIT_RMS_PX` it is an
error (the 2D and 3D do not belong together, or an axis order is wrong).

**A cross-dataset subset npz** (``subset_file: <file>``), as used by augmentation-based
lifting papers (e.g. the 2,929 valid test frames). Layout:

- ``pose3d``  (N, 17, 3) mm, camera frame, absolute - or root-relative plus ``root3d``
- ``pose2d``  (N, 17, 2) px, full image
- ``image_wh`` (N, 2) or (2,) px;  ``subject`` (N,) str (``"TS1"``..);  ``frame`` (N,) int,
  0-based frame index in the sequence
- ``joint_order``  scalar str: ``"mpi3dhp"`` (the 17-joint 3DHP test order) or ``"h36m"``
- optional: ``root3d`` (N, 3) mm, ``action`` (N,) str, ``intrinsics`` (N, 4 | 9) px

The store has ``dataset="mpi_inf_3dhp"``, split ``test`` and, when ``cfg.val_sequences``
names some sequences, split ``val`` holding those (out of ``test``: per-epoch validation
reads ``val``, the report ``test``; default none, so training logs no cross-domain curve
and no choice is made on 3DHP; the paper's protocol reports all six on test),
``subject`` = sequence
(``TS1``..), ``camera`` = sequence (one camera each), ``frame`` = 0-based index, and
``fps = 0`` (valid frames only: not a uniformly sampled video). Without frames
(``frames_root: null``) crops are black and ``provenance.has_images`` is False, which
image models must refuse. The ground-truth 2D is also written as the detections
artefact ``keypoints2d_mpi_inf_3dhp_gt.npz``.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from lbi.camera import box_from_3d, box_from_points, crop_affine
from lbi.config import check_choice
from lbi.data.frames import (
    CropJob,
    DatasetError,
    FrameSourceConfig,
    first_missing,
    frame_path,
    write_split_from_frames,
)
from lbi.data.store import detections_path, save_detections, write_meta
from lbi.skeleton import MPI3DHP_TO_H36M, NUM_JOINTS

DATASET = "mpi_inf_3dhp"
MPI3DHP_HELP = (
    "MPI-INF-3DHP is distributed under a licence at https://vcai.mpi-inf.mpg.de/3dhp-dataset/ "
    "(lbi never downloads data): unpack its test set and set mpi3dhp.root in params.yaml"
)
TEST_SEQUENCES: tuple[str, ...] = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
TEST_RESOLUTION: dict[str, tuple[int, int]] = {
    "TS1": (2048, 2048), "TS2": (2048, 2048), "TS3": (2048, 2048), "TS4": (2048, 2048),
    "TS5": (1920, 1080), "TS6": (1920, 1080),
}  # fmt: skip
ACTIVITIES: dict[int, str] = {
    1: "StandWalk", 2: "Exercise", 3: "Sit", 4: "ReachCrouch", 5: "Floor", 6: "Sports", 7: "Misc",
}  # fmt: skip
MAX_FIT_RMS_PX = 50.0


@dataclass(frozen=True)
class MPI3DHPConfig(FrameSourceConfig):
    """``params.yaml`` section ``mpi3dhp``. Relative paths are relative to ``root``."""

    root: str = "data/raw/mpi_inf_3dhp/mpi_inf_3dhp_test_set"
    subset_file: str | None = None  # a cross-dataset subset npz instead of TS*/annot_data.mat
    sequences: tuple[str, ...] = TEST_SEQUENCES
    val_sequences: tuple[str, ...] = ()  # of `sequences`, held out of test as split val
    universal: bool = True  # pose3d from univ_annot3 (standard) or annot3
    frames_root: str | None = "."
    frames_pattern: str = "{subject}/imageSequence/img_{frame1:06d}.jpg"
    cameras_file: str | None = None  # None: intrinsics estimated per sequence
    crop_hw: tuple[int, int] = (256, 192)
    box: Literal["3d", "2d"] = "3d"
    box_extent_mm: float = 2000.0
    box_margin: float = 1.2
    workers: int = 0  # crop processes, 0 = one per CPU

    def __post_init__(self) -> None:
        self.check_crop_fields()
        for s in self.sequences:
            check_choice("sequences", s, TEST_SEQUENCES)
        if not self.sequences:
            raise ValueError("'sequences' is empty")
        for s in self.val_sequences:
            check_choice("val_sequences", s, tuple(self.sequences))
        if set(self.sequences) <= set(self.val_sequences):
            raise ValueError(
                f"'val_sequences' = {list(self.val_sequences)} leaves no test sequence "
                f"of {list(self.sequences)}"
            )


def _missing(path: Path, what: str) -> DatasetError:
    return DatasetError(f"{path}: {what} not found. {MPI3DHP_HELP}")


def required_files(cfg: MPI3DHPConfig) -> list[Path]:
    """The annotation files (and frame folders) the config needs; error on the first missing."""
    files = (
        [cfg.path(cfg.subset_file)]
        if cfg.subset_file
        else [cfg.path(f"{s}/annot_data.mat") for s in cfg.sequences]
    )
    files += cfg.optional_inputs()
    missing = first_missing(files)
    if missing is not None:
        raise _missing(missing, "file" if missing.suffix else "folder")
    return files


# --- reading annot_data.mat ----------------------------------------------------------------
def _read_mat(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """Numeric variables of a .mat file and the axis order they come in (``hdf5``|``matlab``)."""
    if not path.exists():
        raise _missing(path, "annotation file")
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if head.lstrip()[:1] == b"<" or b"<html" in head.lower():
        raise DatasetError(
            f"{path}: an HTML page (a failed or login-page download), not a MATLAB file; "
            f"download it again. {MPI3DHP_HELP}"
        )
    if h5py.is_hdf5(path):
        try:
            with h5py.File(path, "r") as f:
                return {
                    k: np.asarray(f[k][()]) for k in f if isinstance(f[k], h5py.Dataset)
                }, "hdf5"
        except (OSError, KeyError, ValueError) as e:
            raise DatasetError(
                f"{path}: corrupt MATLAB v7.3 (HDF5) file ({e}); re-extract it"
            ) from e
    try:
        from scipy.io import loadmat

        data = loadmat(path)
    except Exception as e:  # scipy raises ValueError, IndexError, TypeError... on junk
        why = str(e).splitlines()[0] if str(e) else ""
        raise DatasetError(
            f"{path}: not a readable .mat file ({type(e).__name__}: {why}); re-extract it"
        ) from e
    return {k: np.asarray(v) for k, v in data.items() if not k.startswith("__")}, "matlab"


def joints_array(a: np.ndarray, channels: int, order: str, where: str) -> np.ndarray:
    """A MATLAB joint array as ``(T, 17, channels)``.

    Accepts ``(T, 1, 17, C)`` / ``(T, 17, C)`` (h5py's view of MATLAB's ``C x 17 x 1 x T``)
    and ``(C, 17, 1, T)`` / ``(C, 17, T)`` (MATLAB order); for 3D shapes that fit both,
    ``order`` (``"hdf5"`` or ``"matlab"``) decides.
    """
    J, C = NUM_JOINTS, channels
    h5_4 = a.ndim == 4 and a.shape[1] == 1 and a.shape[2:] == (J, C)
    ml_4 = a.ndim == 4 and a.shape[2] == 1 and a.shape[:2] == (C, J)
    h5_3 = a.ndim == 3 and a.shape[1:] == (J, C)
    ml_3 = a.ndim == 3 and a.shape[:2] == (C, J)
    if h5_4:
        return a[:, 0]
    if ml_4:
        return a[:, :, 0].transpose(2, 1, 0)
    if h5_3 and (order == "hdf5" or not ml_3):
        return a
    if ml_3:
        return a.transpose(2, 1, 0)
    raise DatasetError(
        f"{where}: shape {a.shape}, expected (T, 1, {J}, {C}) as h5py reads MATLAB v7.3 "
        f"(or ({C}, {J}, 1, T) in MATLAB order)"
    )


def _per_frame(a: np.ndarray, n: int, where: str) -> np.ndarray:
    if a.size != n or sum(d != 1 for d in a.shape) > 1:
        raise DatasetError(f"{where}: shape {a.shape}, expected one value per frame ({n})")
    return a.reshape(n)


@dataclass(frozen=True)
class Sequence:
    """One 3DHP test sequence in our joint order, valid frames only."""

    name: str
    frames: np.ndarray  # (N,) int, 0-based
    pose3d: np.ndarray  # (N, 17, 3) mm camera frame, absolute (univ or actual skeleton)
    fit3d: np.ndarray  # (N, 17, 3) mm: the skeleton that projects to pose2d (intrinsics fit)
    pose2d: np.ndarray  # (N, 17, 2) px
    action: np.ndarray  # (N,) str


def load_sequence(path: Path, name: str, universal: bool = True) -> Sequence:
    """Read ``TS*/annot_data.mat`` -> valid frames, mapped to our 17 joints."""
    data, order = _read_mat(path)
    key3 = "univ_annot3" if universal else "annot3"
    for key in (key3, "annot2", "valid_frame"):
        if key not in data:
            raise DatasetError(
                f"{path}: sequence {name}: missing variable '{key}' (has {sorted(data)}); expected the 3DHP test-set annot_data.mat"
            )
    p3 = joints_array(data[key3], 3, order, f"{path}: sequence {name}: '{key3}'")
    p2 = joints_array(data["annot2"], 2, order, f"{path}: sequence {name}: 'annot2'")
    fit = (
        joints_array(data["annot3"], 3, order, f"{path}: sequence {name}: 'annot3'")
        if "annot3" in data
        else p3
    )
    T = len(p3)
    if len(p2) != T or len(fit) != T:
        raise DatasetError(
            f"{path}: sequence {name}: '{key3}' has {T} frames, 'annot2' {len(p2)}, 'annot3' {len(fit)}"
        )
    valid = _per_frame(data["valid_frame"], T, f"{path}: sequence {name}: 'valid_frame'") > 0.5
    frames = np.nonzero(valid)[0]
    if not len(frames):
        raise DatasetError(f"{path}: sequence {name}: no valid frames")
    idx = list(MPI3DHP_TO_H36M)
    p3, p2, fit = (x[frames][:, idx].astype(np.float64) for x in (p3, p2, fit))
    for key, x in ((key3, p3), ("annot2", p2), ("annot3", fit)):
        bad = ~np.isfinite(x).reshape(len(x), -1).all(1)
        if bad.any():
            raise DatasetError(
                f"{path}: sequence {name}: '{key}' has NaN/inf at valid frames {frames[bad][:5].tolist()}"
            )
    if "activity_annotation" in data:
        act = _per_frame(
            data["activity_annotation"], T, f"{path}: sequence {name}: 'activity_annotation'"
        )[frames]
        action = np.array([ACTIVITIES.get(int(a), "Misc") for a in np.rint(act)])
    else:
        action = np.full(len(frames), "all")
    return Sequence(name, frames, p3, fit, p2, action)


# --- intrinsics ------------------------------------------------------------------------------
def fit_pinhole(pose3d: np.ndarray, pose2d: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares ``[fx, fy, cx, cy]`` (px) from ``(N, J, 3)`` mm vs ``(N, J, 2)`` px; RMS px."""
    xy = (pose3d[..., :2] / pose3d[..., 2:3]).reshape(-1, 2)
    uv = pose2d.reshape(-1, 2)
    K, sq = np.zeros(4), 0.0
    for a in range(2):
        M = np.stack([xy[:, a], np.ones(len(xy))], 1)
        (f, c), *_ = np.linalg.lstsq(M, uv[:, a], rcond=None)
        K[a], K[2 + a] = f, c
        sq += float(((M @ np.array([f, c]) - uv[:, a]) ** 2).sum())
    return K, float(np.sqrt(sq / max(len(uv), 1)))


def _load_camera_file(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise _missing(path, "cameras file")
    try:
        raw = json.loads(path.read_text())
        out = {str(k): np.asarray(v, np.float64).reshape(-1) for k, v in raw.items()}
    except (json.JSONDecodeError, AttributeError, TypeError, ValueError) as e:
        raise DatasetError(f'{path}: expected JSON {{"TS1": [fx, fy, cx, cy], ...}} ({e})') from e
    for k, v in out.items():
        if v.shape not in ((4,), (9,)) or not np.isfinite(v).all():
            raise DatasetError(
                f"{path}: sequence {k}: intrinsics must be 4 or 9 finite numbers, got {v.tolist()}"
            )
    return out


def _intrinsics9(K: np.ndarray) -> np.ndarray:
    return np.concatenate([K, np.zeros(9 - len(K))]) if len(K) == 4 else K


# --- reading the subset npz ----------------------------------------------------------------
def load_subset(path: Path) -> dict[str, np.ndarray]:
    """Read and check a subset npz (layout in the module docstring); returns our-order arrays."""
    if not path.exists():
        raise _missing(path, "subset file")
    try:
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise DatasetError(
            f"{path}: corrupt or not an npz archive ({type(e).__name__}: {e})"
        ) from e
    missing = [
        k for k in ("pose3d", "pose2d", "image_wh", "subject", "frame", "joint_order") if k not in d
    ]
    if missing:
        raise DatasetError(
            f"{path}: missing key(s) {missing} (has {sorted(d)}); see the layout in lbi.data.mpi3dhp"
        )
    n = len(d["pose3d"])
    order = str(d["joint_order"])
    check = {
        "pose3d": (n, NUM_JOINTS, 3),
        "pose2d": (n, NUM_JOINTS, 2),
        "subject": (n,),
        "frame": (n,),
    }
    if "root3d" in d:
        check["root3d"] = (n, 3)
    if "action" in d:
        check["action"] = (n,)
    for k, shape in check.items():
        if d[k].shape != shape:
            raise DatasetError(f"{path}: '{k}' has shape {d[k].shape}, expected {shape}")
    if order not in ("mpi3dhp", "h36m"):
        raise DatasetError(f"{path}: joint_order {order!r}, expected 'mpi3dhp' or 'h36m'")
    if d["image_wh"].shape not in ((2,), (n, 2)):
        raise DatasetError(
            f"{path}: 'image_wh' has shape {d['image_wh'].shape}, expected (2,) or ({n}, 2)"
        )
    wh = np.broadcast_to(d["image_wh"], (n, 2)).astype(np.int32)
    idx = list(MPI3DHP_TO_H36M) if order == "mpi3dhp" else list(range(NUM_JOINTS))
    p3, p2 = d["pose3d"][:, idx].astype(np.float64), d["pose2d"][:, idx].astype(np.float64)
    for k in ("pose3d", "pose2d", "root3d"):
        if k in d:
            bad = ~np.isfinite(d[k].astype(np.float64)).reshape(n, -1).all(1)
            if bad.any():
                raise DatasetError(
                    f"{path}: '{k}' has NaN/inf at samples {np.nonzero(bad)[0][:5].tolist()} "
                    f"(sequences {sorted(set(d['subject'][bad].astype(str).tolist()))})"
                )
    if "root3d" in d:
        p3 = p3 - p3[:, :1] + d["root3d"][:, None].astype(np.float64)
    elif np.abs(p3[:, 0]).max() < 1e-3:
        raise DatasetError(
            f"{path}: 'pose3d' is root-relative (pelvis at 0) and there is no 'root3d'; absolute camera-frame positions are needed"
        )
    out = {
        "pose3d": p3,
        "pose2d": p2,
        "image_wh": wh,
        "subject": d["subject"].astype(str),
        "frame": d["frame"].astype(np.int64),
        "action": d["action"].astype(str) if "action" in d else np.full(n, "all"),
    }
    if "intrinsics" in d:
        K = np.asarray(d["intrinsics"], np.float64)
        if K.shape not in ((n, 4), (n, 9)) or not np.isfinite(K).all():
            raise DatasetError(
                f"{path}: 'intrinsics' has shape {K.shape}, expected ({n}, 4|9) finite px"
            )
        out["intrinsics"] = np.concatenate([K, np.zeros((n, 9 - K.shape[1]))], 1)
    return out


# --- preprocessing ---------------------------------------------------------------------------
def _gather(cfg: MPI3DHPConfig) -> tuple[dict[str, np.ndarray], dict[str, float], str]:
    """All samples (our order, absolute 3D) with intrinsics; fit residuals; source label."""
    cams = _load_camera_file(cfg.path(cfg.cameras_file)) if cfg.cameras_file else {}
    rms: dict[str, float] = {}
    if cfg.subset_file:
        d = load_subset(cfg.path(cfg.subset_file))
        src = f"subset npz {cfg.subset_file}"
        fit3d = d["pose3d"]
    else:
        seqs = [
            load_sequence(cfg.path(f"{s}/annot_data.mat"), s, cfg.universal) for s in cfg.sequences
        ]
        d = {
            "pose3d": np.concatenate([s.pose3d for s in seqs]),
            "pose2d": np.concatenate([s.pose2d for s in seqs]),
            "image_wh": np.concatenate(
                [np.repeat([TEST_RESOLUTION[s.name]], len(s.frames), 0) for s in seqs]
            ),
            "subject": np.concatenate([np.full(len(s.frames), s.name) for s in seqs]),
            "frame": np.concatenate([s.frames for s in seqs]),
            "action": np.concatenate([s.action for s in seqs]),
        }
        fit3d = np.concatenate([s.fit3d for s in seqs])
        src = "test set annot_data.mat (" + ("univ_annot3" if cfg.universal else "annot3") + ")"
    n = len(d["pose3d"])
    if "intrinsics" not in d:
        K = np.zeros((n, 9))
        for s in sorted(set(d["subject"].tolist())):
            m = d["subject"] == s
            if s in cams:
                K[m] = _intrinsics9(cams[s])
                continue
            if cams:
                raise DatasetError(
                    f"{cfg.path(cfg.cameras_file or '')}: no intrinsics for sequence {s}"
                )
            k4, rms[s] = fit_pinhole(fit3d[m], d["pose2d"][m])
            if rms[s] > MAX_FIT_RMS_PX:
                raise DatasetError(
                    f"{cfg.path(cfg.subset_file or f'{s}/annot_data.mat')}: sequence {s}: pinhole fit of 2D to 3D "
                    f"leaves {rms[s]:.1f} px RMS; the 2D and 3D annotations do not match (axis order?) - "
                    "or pass a cameras_file"
                )
            K[m] = _intrinsics9(k4)
        d["intrinsics"] = K
    return d, rms, src


def preprocess_3dhp(
    cfg: MPI3DHPConfig, out_dir: str | Path, det_dir: str | Path, progress: bool = True
) -> dict[str, Any]:
    """Convert the 3DHP test set into a store at ``out_dir`` (split ``test``, and ``val`` for
    ``cfg.val_sequences``) + GT detections."""
    out_dir, det_dir = Path(out_dir), Path(det_dir)
    (out_dir / "meta.json").unlink(missing_ok=True)
    d, rms, src = _gather(cfg)
    p3, K = d["pose3d"], d["intrinsics"]
    if (p3[..., 2] <= 0).any():
        raise DatasetError(
            f"{cfg.root}: 3D joints with Z <= 0 in sequences {sorted(set(d['subject'][(p3[..., 2] <= 0).any(1)].tolist()))}; 3D must be camera-frame mm"
        )
    if cfg.box == "3d":
        center, size = box_from_3d(p3, K, cfg.box_extent_mm)
    else:
        center, size = box_from_points(d["pose2d"], cfg.box_margin)
    A = crop_affine(center, size, cfg.crop_hw)
    arrays = {
        "pose3d": (p3 - p3[:, :1]).astype(np.float32),
        "root3d": p3[:, 0].astype(np.float32),
        "pose2d": d["pose2d"].astype(np.float32),
        "crop_affine": A.astype(np.float32),
        "intrinsics": K.astype(np.float32),
        "image_wh": d["image_wh"].astype(np.int32),
        "subject": d["subject"],
        "action": d["action"],
        "camera": d["subject"],
        "frame": d["frame"].astype(np.int32),
    }
    jobs: list[CropJob] | None = None
    if cfg.frames_root is not None:
        root = cfg.path(cfg.frames_root)
        jobs = [
            CropJob(
                root / frame_path(cfg.frames_pattern, subject=s, action=a, camera=s, frame=int(f)),
                A[i],
                (int(d["image_wh"][i, 0]), int(d["image_wh"][i, 1])),
                f"sequence {s}, frame {f}",
            )
            for i, (s, a, f) in enumerate(zip(d["subject"], d["action"], d["frame"], strict=True))
        ]
    is_val = np.isin(d["subject"], list(cfg.val_sequences))
    masks = {"test": ~is_val, **({"val": is_val} if cfg.val_sequences else {})}
    counts, kp2d = {}, {}
    for split, m in masks.items():
        idx = np.flatnonzero(m)
        if len(idx) == 0:
            raise DatasetError(
                f"{cfg.root}: no valid frames for split '{split}' (mpi3dhp.val_sequences = "
                f"{list(cfg.val_sequences)}, sequences = {list(cfg.sequences)})"
            )
        counts[split] = write_split_from_frames(
            out_dir, split, {k: v[idx] for k, v in arrays.items()},
            None if jobs is None else [jobs[i] for i in idx], cfg.crop_hw,
            workers=cfg.workers, progress=progress,
        )  # fmt: skip
        kp2d[split] = arrays["pose2d"][idx]
    det = save_detections(
        detections_path(det_dir, DATASET, "gt"),
        kp2d,
        {
            "dataset": DATASET,
            "detector": "gt",
            "method": "ground-truth annot2",
            "layout": "h36m17",
            "synthetic": False,
            "settings": {"source": src},
        },
    )
    provenance = {
        "source": f"MPI-INF-3DHP {src}",
        "root": cfg.root,
        "has_images": jobs is not None,
        "frames": str(cfg.path(cfg.frames_root) / cfg.frames_pattern) if jobs is not None else None,
        "intrinsics": "cameras_file"
        if cfg.cameras_file
        else ("subset npz" if not rms and cfg.subset_file else "least-squares pinhole fit"),
        "intrinsics_rms_px": rms,
        "universal_skeleton": cfg.universal,
        "box": cfg.box,
        "box_extent_mm": cfg.box_extent_mm,
        "box_margin": cfg.box_margin,
        "valid_frames_only": True,
        "val_sequences": list(cfg.val_sequences),
    }
    write_meta(
        out_dir,
        dataset=DATASET,
        synthetic=False,
        crop_hw=cfg.crop_hw,
        splits=counts,
        fps=0.0,
        provenance=provenance,
    )
    return {
        "dataset": DATASET,
        "store": str(out_dir),
        "splits": {k: int(m.sum()) for k, m in masks.items()},
        "detections": {"gt": str(det)},
        "has_images": jobs is not None,
        "intrinsics_rms_px": rms,
    }

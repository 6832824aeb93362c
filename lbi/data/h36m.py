"""Human3.6M -> the canonical store, from the de-facto VideoPose3D file layout.

Users bring their own licensed copy (http://vision.imar.ro/human3.6m) converted with the
VideoPose3D data instructions; nothing is downloaded. Files read, under ``cfg.root``:

``data_3d_h36m.npz``
    key ``positions_3d``: a pickled dict ``subject -> action -> (T, 32, 3)`` float world
    coordinates in **metres** at 50 fps (the 32-joint mocap skeleton; 17-joint arrays
    already reduced with ``H36M32_TO_17`` are accepted too). The pickles are read by
    :class:`RestrictedUnpickler` (dicts, lists, tuples, str, numbers and numpy arrays
    only): a file whose pickle names any other global is refused, never run.
``data_2d_h36m_<detector>.npz`` (one per entry of ``cfg.detectors``)
    key ``positions_2d``: pickled dict ``subject -> action -> [4 x (T', J, 2)]`` pixels,
    one array per camera in ``CAMERA_IDS`` order, ``T' >= T``; key ``metadata``: dict
    with ``layout_name``, ``num_joints``, ``keypoints_symmetry``. ``gt`` and
    ``cpn_ft_h36m_dbb`` have 17 joints in our order; ``sh_pt_mpii`` has 16 joints in the
    raw MPII order (recognised by ``keypoints_symmetry == [[3,4,5,13,14,15],
    [0,1,2,10,11,12]]`` and converted with :func:`lbi.skeleton.mpii16_to_sh16`); other
    16-joint files are taken to be SH16 in H36M order already.
frames
    ``<frames_root>/<frames_pattern>``, default
    ``<root>/frames/{subject}/{action}.{camera}/{frame:06d}.jpg`` (``action`` is the
    sequence name of the 3D file, e.g. ``Directions 1``; ``frame`` 0-based at 50 fps);
    see :mod:`lbi.data.frames` for the placeholders. The videos are named
    ``S1/Videos/TakingPhoto 1.54138969.mp4`` while CDF-converted 3D files may say
    ``Photo 1``: when the folder for the 3D name is absent, the other spelling
    (``TakingPhoto``/``Photo``, ``WalkingDog``/``WalkDog``) is used. Extract with e.g.
    ``ffmpeg -i "S1/Videos/Directions 1.54138969.mp4" -qscale:v 2 -start_number 0
    "frames/S1/Directions 1.54138969/%06d.jpg"`` (all frames, so that frame ``i``
    is mocap frame ``i``). ``frames_root: null`` writes black crops and marks the
    store ``provenance.has_images = False``.

Processing, identical for 3D, 2D files and frames: 2D sequences longer than the mocap
(some videos carry extra frames; VideoPose3D trims them too) are trimmed to the mocap
length if the excess is at most ``MAX_EXTRA_2D_FRAMES`` (shorter or much longer ones are
an error; the trimmed counts are recorded in the store's provenance); every ``stride``-th frame
is kept (``frames 0, stride, 2 stride, ...``: 50 -> 5 fps at the default 10); the
``(subject, raw action, camera)`` triples of ``cfg.skip`` are dropped - by default S11
"Directions" camera 54138969, whose video is corrupt in the distributed dataset
(VideoPose3D's own conversion drops all of S11 "Directions" from its 3D file, in which
case there is nothing to skip).
Actions are stored under their canonical names (``TakingPhoto`` -> ``Photo``,
``WalkingDog`` -> ``WalkDog``, take suffixes stripped).

Per sample: 3D world -> camera (mm), root-relative ``pose3d`` + ``root3d``; ``pose2d``
the projection with lens distortion (:func:`lbi.camera.project`); the crop box is
the root-centred ``box_extent_mm`` square projected (``box="3d"``) or the 2D joint
extent times ``box_margin`` (``box="2d"``). Each 2D file becomes a detections artefact
``keypoints2d_h36m_<detector>.npz`` whose splits align 1:1 with the store's samples.
A ``gt`` 2D file is also checked against our projection (median gap <=
``GT_TOLERANCE_PX``), which catches a camera table that does not match the data; every
other detector's 2D must lie within ``DETECTION_TOLERANCE_CROP_PX`` (median, in crop
pixels) of it, which catches misaligned, shifted or swapped 2D sequences.
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from lbi.actions import canonical_action
from lbi.camera import box_from_3d, box_from_points, crop_affine, project, world_to_camera
from lbi.config import check_range
from lbi.data.frames import (
    CropJob,
    DatasetError,
    FrameSourceConfig,
    first_missing,
    frame_path,
    write_split_from_frames,
)
from lbi.data.h36m_cameras import CAMERA_IDS, CameraTable, load_cameras
from lbi.data.store import detections_path, save_detections, write_meta
from lbi.skeleton import H36M32_TO_17, MPII16_SYMMETRY, NUM_JOINTS, SH16_TO_17, mpii16_to_sh16

DATASET = "h36m"
SOURCE_FPS = 50.0
GT_TOLERANCE_PX = 5.0
# A detector's 2D vs the ground-truth projection, median over joints and frames, in crop
# px: real detectors are a few px off; a shifted, swapped or other-camera sequence is
# hundreds of px off. Generous on purpose: this catches wrong data, not weak detectors.
DETECTION_TOLERANCE_CROP_PX = 50.0
# 2D frames a sequence may have beyond the mocap (1 s at 50 fps); more is another take.
MAX_EXTRA_2D_FRAMES = 50
H36M_HELP = (
    "Human3.6M is licensed: request it at http://vision.imar.ro/human3.6m and convert it "
    "to data_3d_h36m.npz / data_2d_h36m_<detector>.npz as in VideoPose3D's DATASETS.md "
    "(lbi never downloads data); then set h36m.root in params.yaml"
)
H36M17_SYMMETRY = ((4, 5, 6, 11, 12, 13), (1, 2, 3, 14, 15, 16))
DEFAULT_DETECTORS = {
    "gt": "data_2d_h36m_gt.npz",
    "cpn": "data_2d_h36m_cpn_ft_h36m_dbb.npz",
    "sh": "data_2d_h36m_sh_pt_mpii.npz",
}


@dataclass(frozen=True)
class H36MConfig(FrameSourceConfig):
    """``params.yaml`` section ``h36m``. Relative paths are relative to ``root``."""

    root: str = "data/raw/h36m"
    positions_file: str = "data_3d_h36m.npz"
    frames_root: str | None = "frames"
    frames_pattern: str = "{subject}/{action}.{camera}/{frame:06d}.jpg"
    cameras_file: str | None = None  # None: the public calibration table
    train_subjects: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8")
    test_subjects: tuple[str, ...] = ("S9", "S11")
    stride: int = 10
    crop_hw: tuple[int, int] = (256, 192)
    box: Literal["3d", "2d"] = "3d"
    box_extent_mm: float = 2000.0
    box_margin: float = 1.2
    detectors: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_DETECTORS))
    skip: tuple[tuple[str, str, str], ...] = (("S11", "Directions", "54138969"),)
    workers: int = 0  # crop processes, 0 = one per CPU

    def __post_init__(self) -> None:
        check_range("stride", self.stride, 1)
        self.check_crop_fields()
        if not self.train_subjects and not self.test_subjects:
            raise ValueError("'train_subjects' and 'test_subjects' are both empty")
        overlap = set(self.train_subjects) & set(self.test_subjects)
        if overlap:
            raise ValueError(f"subjects {sorted(overlap)} are in both train and test")
        for name in self.detectors:
            if not name.replace("_", "").isalnum():
                raise ValueError(f"detector name {name!r} must be alphanumeric (or _)")


def required_files(cfg: H36MConfig) -> list[Path]:
    """The files (and frames folder) the config needs; error naming the first missing one."""
    files = [cfg.path(cfg.positions_file), *(cfg.path(f) for f in cfg.detectors.values())]
    files += cfg.optional_inputs()
    missing = first_missing(files)
    if missing is not None:
        raise DatasetError(f"{missing}: not found. {H36M_HELP}")
    return files


# --- reading the npz files -----------------------------------------------------------------
# The globals a VideoPose3D pickle (dicts of numpy arrays, numpy 1.x or 2.x) may name.
_SAFE_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles (Python 2 era files)
    }
)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle names a global outside :data:`_SAFE_GLOBALS`."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickle only plain data: dict, list, tuple, str, bytes, int, float, bool, None and
    numpy arrays/scalars/dtypes. Any other global (``os.system``, a class) is refused
    before it is imported or called."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _SAFE_GLOBALS:
            raise UnsafePickleError(f"{module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):
            module = "numpy._core." + module[len("numpy.core.") :]  # numpy 2 names
        return super().find_class(module, name)


def _read_npy(fh: Any) -> np.ndarray:
    """One ``.npy`` member; object arrays through :class:`RestrictedUnpickler`."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f"unsupported .npy format version {version}")
    if not dtype.hasobject:
        fh.seek(0)
        return np.lib.format.read_array(fh, allow_pickle=False)
    array = RestrictedUnpickler(fh).load()
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise pickle.UnpicklingError(f"pickle holds {type(array).__name__}, not a {shape} array")
    return array


def _load_pickled(path: Path, keys: tuple[str, ...]) -> dict[str, Any]:
    """The known ``keys`` of a VideoPose3D npz, unpickled with :class:`RestrictedUnpickler`
    (no code in the file runs); errors name the file and the fix."""
    if not path.exists():
        raise DatasetError(f"{path}: not found. {H36M_HELP}")
    out: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as z:
            names = [n.removesuffix(".npy") for n in z.namelist()]
            missing = [k for k in keys if k not in names]
            if missing:
                raise DatasetError(
                    f"{path}: missing key(s) {missing} (has {names}); expected the "
                    f"VideoPose3D layout. {H36M_HELP}"
                )
            for k in keys:
                out[k] = _read_npy(io.BytesIO(z.read(k + ".npy")))
    except DatasetError:
        raise
    except UnsafePickleError as e:
        raise DatasetError(
            f"{path}: refused to unpickle global '{e}' (a VideoPose3D file holds only dicts "
            "and numpy arrays; this one would run code). Do not use this file; re-create it "
            "from the dataset"
        ) from None
    except Exception as e:  # BadZipFile, OSError, EOFError, ValueError, UnpicklingError
        raise DatasetError(
            f"{path}: corrupt or not an npz archive ({type(e).__name__}: {e}); re-create it"
        ) from e
    result: dict[str, Any] = {}
    for k, v in out.items():
        value = v.item() if isinstance(v, np.ndarray) and v.dtype == object and v.ndim == 0 else v
        result[k] = value
    return result


def load_positions_3d(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """``subject -> raw action -> (T, 17, 3)`` float64 world mm, from ``data_3d_h36m.npz``."""
    data = _load_pickled(path, ("positions_3d",))["positions_3d"]
    if not isinstance(data, dict):
        raise DatasetError(
            f"{path}: 'positions_3d' is {type(data).__name__}, expected a dict subject -> action -> array"
        )
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in data.items():
        if not isinstance(actions, dict):
            raise DatasetError(f"{path}: subject {subject}: expected a dict action -> array")
        out[subject] = {}
        for action, pos in actions.items():
            where = f"{path}: subject {subject}, action {action!r}"
            pos = np.asarray(pos)
            if pos.ndim != 3 or pos.shape[-1] != 3 or pos.shape[1] not in (32, NUM_JOINTS):
                raise DatasetError(
                    f"{where}: 3D positions have shape {pos.shape}, expected (T, 32, 3) metres"
                )
            if pos.dtype.kind != "f" or not np.isfinite(pos).all():
                raise DatasetError(
                    f"{where}: 3D positions contain NaN/inf or are not floats ({pos.dtype})"
                )
            if len(pos) and np.median(np.abs(pos)) > 50:
                raise DatasetError(
                    f"{where}: 3D positions look like millimetres (median |x| = {np.median(np.abs(pos)):.0f}); the file must hold metres"
                )
            if pos.shape[1] == 32:
                pos = pos[:, list(H36M32_TO_17)]
            out[subject][action] = pos.astype(np.float64) * 1000.0
    return out


@dataclass(frozen=True)
class Positions2D:
    """One VideoPose3D 2D file, converted to our order: ``data[subject][action][cam]`` px."""

    path: Path
    data: dict[str, dict[str, list[np.ndarray]]]
    layout: str  # "h36m17" | "sh16"
    from_mpii: bool
    metadata: dict[str, Any]


def load_positions_2d(path: Path) -> Positions2D:
    """Read ``data_2d_h36m_<detector>.npz``; 16-joint MPII-ordered files become SH16."""
    raw = _load_pickled(path, ("positions_2d", "metadata"))
    data, meta = raw["positions_2d"], raw["metadata"]
    if not isinstance(data, dict) or not isinstance(meta, dict):
        raise DatasetError(f"{path}: 'positions_2d' and 'metadata' must be pickled dicts")
    num_joints = meta.get("num_joints")
    if isinstance(num_joints, bool) or not isinstance(num_joints, int | np.integer):
        raise DatasetError(
            f"{path}: metadata num_joints is {num_joints!r} ({type(num_joints).__name__}), "
            "expected the integer 17 or 16; fix the file's metadata dict"
        )
    num_joints = int(num_joints)
    sym = meta.get("keypoints_symmetry")
    sym_t = tuple(tuple(int(i) for i in s) for s in sym) if sym is not None else None
    if num_joints == NUM_JOINTS:
        if sym_t is not None and sym_t != H36M17_SYMMETRY:
            raise DatasetError(
                f"{path}: 17-joint file with keypoints_symmetry {sym} is not in the Human3.6M "
                f"joint order {H36M17_SYMMETRY} (e.g. a COCO-ordered detector); convert it first"
            )
        layout, from_mpii = "h36m17", False
    elif num_joints == 16:
        layout, from_mpii = "sh16", sym_t == MPII16_SYMMETRY
    else:
        raise DatasetError(
            f"{path}: metadata num_joints = {meta.get('num_joints')!r}, expected 17 or 16"
        )
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject, actions in data.items():
        out[subject] = {}
        for action, cams in actions.items():
            where = f"{path}: subject {subject}, action {action!r}"
            if not isinstance(cams, list | tuple) or len(cams) != len(CAMERA_IDS):
                raise DatasetError(
                    f"{where}: expected a list of {len(CAMERA_IDS)} per-camera arrays ({', '.join(CAMERA_IDS)})"
                )
            seqs = []
            for cam, kp in zip(CAMERA_IDS, cams, strict=True):
                kp = np.asarray(kp)
                if kp.ndim != 3 or kp.shape[1:] != (num_joints, 2):
                    raise DatasetError(
                        f"{where}, camera {cam}: 2D shape {kp.shape}, expected (T, {num_joints}, 2)"
                    )
                if kp.dtype.kind != "f" or not np.isfinite(kp).all():
                    raise DatasetError(
                        f"{where}, camera {cam}: 2D keypoints contain NaN/inf or are not floats"
                    )
                seqs.append(mpii16_to_sh16(kp) if from_mpii else kp)
            out[subject][action] = seqs
    return Positions2D(path=path, data=out, layout=layout, from_mpii=from_mpii, metadata=dict(meta))


# --- building the splits -----------------------------------------------------------------------
VIDEO_NAME_VARIANTS = (("TakingPhoto", "Photo"), ("WalkingDog", "WalkDog"))


def action_spellings(action: str) -> list[str]:
    """``action`` and its other video-name spelling: ``"Photo 1"`` -> ``["Photo 1", "TakingPhoto 1"]``."""
    out = [action]
    for long, short in VIDEO_NAME_VARIANTS:
        if action.startswith(long):
            out.append(short + action[len(long) :])
        elif action.startswith(short):
            out.append(long + action[len(short) :])
    return out


def _frames_action(cfg: H36MConfig, root: Path, subject: str, action: str, cam: str) -> str:
    """The spelling of ``action`` under which this sequence's first frame exists (else as is)."""
    for name in action_spellings(action):
        rel = frame_path(cfg.frames_pattern, subject=subject, action=name, camera=cam, frame=0)
        if (root / rel).is_file():
            return name
    return action


@dataclass
class _Split:
    fields: dict[str, list[np.ndarray]] = field(default_factory=dict)
    jobs: list[CropJob] = field(default_factory=list)
    dets: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **arrays: np.ndarray) -> None:
        for k, v in arrays.items():
            self.fields.setdefault(k, []).append(v)

    def arrays(self) -> dict[str, np.ndarray]:
        dtypes = {
            "image_wh": np.int32,
            "frame": np.int32,
            "subject": str,
            "action": str,
            "camera": str,
        }
        out = {}
        for k, parts in self.fields.items():
            out[k] = np.concatenate(parts).astype(dtypes.get(k, np.float32))
        return out


def _sequence(
    cfg: H36MConfig,
    table: CameraTable,
    split: _Split,
    subject: str,
    action: str,
    camera_index: int,
    pos3d: np.ndarray,
    files2d: dict[str, Positions2D],
    gt_gaps: dict[str, float],
    trimmed: dict[str, int],
) -> None:
    """Add one (subject, action, camera) sequence, subsampled, to ``split``.

    Each 2D file must have this sequence with the mocap's frame count (or at most
    ``MAX_EXTRA_2D_FRAMES`` more, trimmed and counted in ``trimmed``) and lie near the
    projection: ``gt`` within ``GT_TOLERANCE_PX`` (image px, recorded in ``gt_gaps``),
    every detector within ``DETECTION_TOLERANCE_CROP_PX`` (crop px).
    """
    cam = CAMERA_IDS[camera_index]
    intr, extr = table.get(subject, cam)
    K = intr.vector().astype(np.float64)
    frames = np.arange(0, len(pos3d), cfg.stride)
    Xc = world_to_camera(pos3d[frames], np.array(extr.orientation), np.array(extr.translation))
    where = f"subject {subject}, action {action!r}, camera {cam}"
    if (Xc[..., 2] <= 0).any():
        raise DatasetError(
            f"{table.source}: {where}: joints behind the camera; the calibration does not match the 3D data"
        )
    p2d = project(Xc, K)
    if cfg.box == "3d":
        center, size = box_from_3d(Xc, K, cfg.box_extent_mm)
    else:
        center, size = box_from_points(p2d, cfg.box_margin)
    A = crop_affine(center, size, cfg.crop_hw)
    n = len(frames)
    for name, f2d in files2d.items():
        seq = f2d.data.get(subject, {}).get(action)
        if seq is None:
            raise DatasetError(
                f"{f2d.path}: no 2D for subject {subject}, action {action!r} (present in the 3D file); use matching 2D/3D files"
            )
        kp = seq[camera_index]
        extra = len(kp) - len(pos3d)
        if extra < 0 or extra > MAX_EXTRA_2D_FRAMES:
            raise DatasetError(
                f"{f2d.path}: {where}: 2D has {len(kp)} frames but the 3D mocap has {len(pos3d)} "
                f"(at most {MAX_EXTRA_2D_FRAMES} extra video frames are trimmed); the files do "
                "not belong together: use the 2D file made for this data_3d file"
            )
        if extra:
            trimmed[f"{name}/{subject}/{action}/{cam}"] = extra
        kp = kp[: len(pos3d)][frames]
        ref = p2d if f2d.layout == "h36m17" else p2d[:, list(SH16_TO_17)]  # (n, J, 2) px
        gap = float(np.median(np.linalg.norm(kp - ref, axis=-1)))  # image px
        if name == "gt" and f2d.layout == "h36m17":
            gt_gaps[f"{subject}/{action}/{cam}"] = gap
            if gap > GT_TOLERANCE_PX:
                raise DatasetError(
                    f"{f2d.path}: {where}: ground-truth 2D is {gap:.1f} px (median) from the projection "
                    f"with the camera table ({table.source}); check cameras_file and the camera order"
                )
        gap_crop = gap * float(np.median(np.linalg.norm(A[:, :, 0], axis=-1)))  # crop px
        if gap_crop > DETECTION_TOLERANCE_CROP_PX:
            raise DatasetError(
                f"{f2d.path}: {where}: detector '{name}' 2D is {gap_crop:.0f} crop px "
                f"({gap:.0f} image px, median) from the ground-truth projection (bound "
                f"{DETECTION_TOLERANCE_CROP_PX:.0f}); the sequence is misaligned, shifted or "
                "from another camera/take: use the 2D file made for this data_3d file"
            )
        split.dets.setdefault(name, []).append(kp.astype(np.float32))
    split.add(
        pose3d=Xc - Xc[:, :1],
        root3d=Xc[:, 0],
        pose2d=p2d,
        crop_affine=A,
        intrinsics=np.repeat(K[None], n, 0),
        image_wh=np.repeat([[intr.res_w, intr.res_h]], n, 0),
        subject=np.full(n, subject),
        action=np.full(n, canonical_action(action)),
        camera=np.full(n, cam),
        frame=frames,
    )
    if cfg.frames_root is not None:
        root = cfg.path(cfg.frames_root)
        name = _frames_action(cfg, root, subject, action, cam)
        for i, f in enumerate(frames):
            rel = frame_path(
                cfg.frames_pattern, subject=subject, action=name, camera=cam, frame=int(f)
            )
            split.jobs.append(
                CropJob(root / rel, A[i], (intr.res_w, intr.res_h), f"{where}, frame {f}")
            )


def preprocess_h36m(
    cfg: H36MConfig, out_dir: str | Path, det_dir: str | Path, progress: bool = True
) -> dict[str, Any]:
    """Convert Human3.6M into a store at ``out_dir`` + detections in ``det_dir``; returns a summary."""
    out_dir, det_dir = Path(out_dir), Path(det_dir)
    (out_dir / "meta.json").unlink(missing_ok=True)  # the store is incomplete until rewritten
    table = load_cameras(cfg.path(cfg.cameras_file) if cfg.cameras_file else None)
    pos_path = cfg.path(cfg.positions_file)
    positions = load_positions_3d(pos_path)
    files2d = {name: load_positions_2d(cfg.path(f)) for name, f in cfg.detectors.items()}
    skip = set(cfg.skip)
    skipped: list[str] = []
    gt_gaps: dict[str, float] = {}
    trimmed: dict[str, int] = {}
    splits: dict[str, _Split] = {}
    for split_name, subjects in (("train", cfg.train_subjects), ("test", cfg.test_subjects)):
        if not subjects:
            continue
        split = splits[split_name] = _Split()
        for subject in subjects:
            if subject not in positions:
                raise DatasetError(
                    f"{pos_path}: no subject {subject} (has {sorted(positions)}); fix {split_name}_subjects"
                )
            for action in sorted(positions[subject]):
                try:
                    canonical_action(action)
                except ValueError as e:
                    raise DatasetError(f"{pos_path}: subject {subject}: {e}") from e
                for ci, cam in enumerate(CAMERA_IDS):
                    if (subject, action, cam) in skip:
                        skipped.append(f"{subject}/{action}/{cam}")
                        continue
                    _sequence(
                        cfg,
                        table,
                        split,
                        subject,
                        action,
                        ci,
                        positions[subject][action],
                        files2d,
                        gt_gaps,
                        trimmed,
                    )
        if not split.fields:
            raise DatasetError(
                f"{pos_path}: no sequences for {split_name} subjects {list(subjects)}"
            )
    has_images = cfg.frames_root is not None
    counts: dict[str, int] = {}
    for split_name, split in splits.items():
        counts[split_name] = write_split_from_frames(
            out_dir,
            split_name,
            split.arrays(),
            split.jobs if has_images else None,
            cfg.crop_hw,
            workers=cfg.workers,
            progress=progress,
        )
    det_paths = {}
    for name, f2d in files2d.items():
        kp = {s: np.concatenate(sp.dets[name]) for s, sp in splits.items()}
        det_paths[name] = str(
            save_detections(
                detections_path(det_dir, DATASET, name),
                kp,
                {
                    "dataset": DATASET,
                    "detector": name,
                    "method": f"precomputed 2D file {f2d.path.name}",
                    "layout": f2d.layout,
                    "synthetic": False,
                    "settings": {
                        "file": str(f2d.path),
                        "stride": cfg.stride,
                        "converted_from_mpii_order": f2d.from_mpii,
                        "source_layout_name": str(f2d.metadata.get("layout_name")),
                    },
                },
            )
        )
    provenance = {
        "source": "Human3.6M, VideoPose3D npz layout",
        "positions_file": str(pos_path),
        "detectors": {n: str(f.path) for n, f in files2d.items()},
        "cameras": table.source,
        "frames": str(cfg.path(cfg.frames_root) / cfg.frames_pattern) if has_images else None,
        "has_images": has_images,
        "stride": cfg.stride,
        "source_fps": SOURCE_FPS,
        "box": cfg.box,
        "box_extent_mm": cfg.box_extent_mm,
        "box_margin": cfg.box_margin,
        "projection": "lbi.camera.project (opencv distortion)",
        "skipped": skipped,
        "train_subjects": list(cfg.train_subjects),
        "test_subjects": list(cfg.test_subjects),
        "gt_2d_gap_px_max": max(gt_gaps.values(), default=None),
        "trimmed_2d_frames": dict(sorted(trimmed.items())),  # detector/subject/action/camera
    }
    write_meta(
        out_dir,
        dataset=DATASET,
        synthetic=False,
        crop_hw=cfg.crop_hw,
        splits=counts,
        fps=SOURCE_FPS / cfg.stride,
        provenance=provenance,
    )
    return {
        "dataset": DATASET,
        "store": str(out_dir),
        "splits": counts,
        "detections": det_paths,
        "skipped": skipped,
        "has_images": has_images,
    }

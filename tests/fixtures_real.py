"""Tiny fake copies of the real datasets, in exactly the formats users bring.

Numbers are made up; keys, nesting, dtypes, units and axis orders are those of the
distributed files, so the real loaders run on them unchanged:

- Human3.6M (VideoPose3D layout): ``data_3d_h36m.npz`` (pickled dict, 32 joints, metres,
  world), ``data_2d_h36m_{gt,cpn_ft_h36m_dbb,sh_pt_mpii}.npz`` (pickled dicts, 4 cameras,
  pixels, 2D longer than the mocap, the SH file in raw MPII order) and JPEG frames at
  the cameras' real resolutions (only the frames the loader reads: every ``stride``-th).
- MPI-INF-3DHP test set: ``TS*/annot_data.mat`` as MATLAB v7.3 (HDF5 with a 512-byte
  user block, h5py's reversed-dimension view ``(T, 1, 17, C)``), and frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from lbi.camera import project, world_to_camera
from lbi.data.h36m_cameras import CAMERA_IDS, PUBLIC_CAMERAS
from lbi.skeleton import H36M32_TO_17, MPI3DHP_TO_H36M, MPII16_SYMMETRY, MPII16_TO_SH16

# A standing person in our 17-joint order: x right, y forward, z up (metres).
TEMPLATE = np.array([
    [0.0, 0.0, 0.95], [-0.13, 0.0, 0.93], [-0.14, 0.02, 0.50], [-0.15, 0.0, 0.08],
    [0.13, 0.0, 0.93], [0.14, 0.02, 0.50], [0.15, 0.0, 0.08], [0.0, 0.0, 1.20],
    [0.0, 0.0, 1.45], [0.0, -0.08, 1.55], [0.0, 0.0, 1.70], [0.18, 0.0, 1.42],
    [0.28, 0.0, 1.15], [0.30, -0.05, 0.90], [-0.18, 0.0, 1.42], [-0.28, 0.0, 1.15],
    [-0.30, -0.05, 0.90],
])  # fmt: skip
H36M_ACTIONS_FIXTURE = {"S1": ("Directions 1", "TakingPhoto"), "S11": ("Directions", "WalkDog")}
GT_META = {"layout_name": "h36m", "num_joints": 17,
           "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}  # fmt: skip
MPII_META = {"layout_name": "mpii", "num_joints": 16,
             "keypoints_symmetry": [list(s) for s in MPII16_SYMMETRY]}  # fmt: skip
DOT_JOINT = 10  # head: a bright dot is drawn there in every fixture frame


def motion(num_frames: int, seed: int) -> np.ndarray:
    """``(T, 17, 3)`` metres, world: the template swaying and drifting."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_frames)[:, None, None] / 50.0
    offset = rng.uniform(-0.5, 0.5, 3) * np.array([1, 1, 0])
    sway = 0.05 * np.sin(2 * np.pi * 0.5 * t) * np.array([1.0, 0.5, 0.0])
    return TEMPLATE[None] + offset + sway + rng.normal(0, 0.005, (num_frames, 17, 3))


def to_32(pose17: np.ndarray) -> np.ndarray:
    """Embed ``(T, 17, 3)`` into the 32-joint mocap skeleton (other joints at the pelvis)."""
    out = np.repeat(pose17[:, :1], 32, axis=1)
    out[:, list(H36M32_TO_17)] = pose17
    return out


def sh16_to_mpii(sh16: np.ndarray) -> np.ndarray:
    """Inverse of :func:`lbi.skeleton.mpii16_to_sh16` except Spine (not in MPII)."""
    mpii = np.zeros_like(sh16)
    for j, m in enumerate(MPII16_TO_SH16):
        if m >= 0:
            mpii[..., m, :] = sh16[..., j, :]
    return mpii


def save_pickled(path: Path, **entries: object) -> None:
    """An npz whose entries are pickled 0-d object arrays, as VideoPose3D writes them."""
    np.savez(path, **{k: np.array(v, dtype=object) for k, v in entries.items()})


def write_frame(path: Path, wh: tuple[int, int], dot: np.ndarray | None, value: int = 40) -> None:
    """A dark ``w x h`` JPEG with a white disc (radius 8 px) at ``dot`` (px)."""
    w, h = wh
    img = np.full((h, w, 3), value, np.uint8)
    if dot is not None:
        x0, y0 = round(float(dot[0])), round(float(dot[1]))
        ys, xs = np.ogrid[max(y0 - 9, 0) : y0 + 10, max(x0 - 9, 0) : x0 + 10]
        disc = (xs - dot[0]) ** 2 + (ys - dot[1]) ** 2 <= 64
        patch = img[max(y0 - 9, 0) : y0 + 10, max(x0 - 9, 0) : x0 + 10]
        patch[disc] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, quality=92)


@dataclass
class H36MFixture:
    root: Path
    num_frames: int
    stride: int
    pose_world_m: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    gt2d: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)


def build_h36m(
    root: Path, *, num_frames: int = 30, extra_2d: int = 5, stride: int = 10, frames: bool = True
) -> H36MFixture:
    """Write a 2-subject (S1 train, S11 test), 2-action Human3.6M copy under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    fx = H36MFixture(root=root, num_frames=num_frames, stride=stride)
    cpn: dict[str, dict[str, list[np.ndarray]]] = {}
    sh: dict[str, dict[str, list[np.ndarray]]] = {}
    rng = np.random.default_rng(0)
    for si, (subject, actions) in enumerate(H36M_ACTIONS_FIXTURE.items()):
        for ai, action in enumerate(actions):
            pose = motion(num_frames + extra_2d, seed=10 * si + ai)  # the 2D covers more frames
            fx.pose_world_m.setdefault(subject, {})[action] = pose[:num_frames].astype(np.float32)
            gts, cpns, shs = [], [], []
            for cam in CAMERA_IDS:
                intr, extr = PUBLIC_CAMERAS.get(subject, cam)
                Xc = world_to_camera(
                    pose * 1000.0, np.array(extr.orientation), np.array(extr.translation)
                )
                uv = project(Xc, intr.vector().astype(np.float64)).astype(np.float32)
                gts.append(uv)
                cpns.append(uv + rng.normal(0, 3.0, uv.shape).astype(np.float32))
                sh16 = np.delete(uv, 9, axis=1) + rng.normal(0, 2.0, (len(uv), 16, 2)).astype(
                    np.float32
                )
                shs.append(sh16_to_mpii(sh16))
                if frames:
                    for f in range(0, num_frames, stride):
                        path = root / "frames" / subject / f"{action}.{cam}" / f"{f:06d}.jpg"
                        write_frame(path, (intr.res_w, intr.res_h), uv[f, DOT_JOINT])
            fx.gt2d.setdefault(subject, {})[action] = gts
            cpn.setdefault(subject, {})[action] = cpns
            sh.setdefault(subject, {})[action] = shs
    save_pickled(
        root / "data_3d_h36m.npz",
        positions_3d={
            s: {a: to_32(p) for a, p in acts.items()} for s, acts in fx.pose_world_m.items()
        },
    )
    save_pickled(root / "data_2d_h36m_gt.npz", positions_2d=fx.gt2d, metadata=GT_META)
    save_pickled(root / "data_2d_h36m_cpn_ft_h36m_dbb.npz", positions_2d=cpn, metadata=GT_META)
    save_pickled(root / "data_2d_h36m_sh_pt_mpii.npz", positions_2d=sh, metadata=MPII_META)
    return fx


# --- MPI-INF-3DHP -----------------------------------------------------------------------------
MPI_K = {
    "TS1": np.array([1500.0, 1500.0, 1017.0, 1043.0]),
    "TS5": np.array([1684.0, 1684.0, 940.0, 560.0]),
}
MPI_WH = {"TS1": (2048, 2048), "TS5": (1920, 1080)}


@dataclass
class MPISequence:
    annot3: np.ndarray  # (T, 17, 3) mm camera frame, OUR order
    univ3: np.ndarray  # (T, 17, 3)
    annot2: np.ndarray  # (T, 17, 2) px
    valid: np.ndarray  # (T,) bool
    activity: np.ndarray | None  # (T,) int 1..7


def mpi_sequence(name: str, num_frames: int = 12, seed: int = 0) -> MPISequence:
    """Fake 3DHP test annotations in our order (camera frame, mm)."""
    rng = np.random.default_rng(seed)
    body = (TEMPLATE - TEMPLATE[:1]) * np.array([1.0, 1.0, -1.0])  # camera y points down
    body = body[:, [0, 2, 1]] * 1000.0  # x right, y down, z forward (mm)
    t = np.arange(num_frames)[:, None, None]
    annot3 = (
        body[None]
        + np.array([150.0, 100.0, 4200.0])
        + 20 * np.sin(t / 3.0)
        + rng.normal(0, 3, (num_frames, 17, 3))
    )
    univ3 = annot3[:, :1] + 0.93 * (annot3 - annot3[:, :1])
    K = MPI_K[name]
    annot2 = K[:2] * annot3[..., :2] / annot3[..., 2:] + K[2:]
    valid = np.ones(num_frames, bool)
    valid[[1, 5, 6]] = False
    activity = (np.arange(num_frames) % 7 + 1) if name == "TS1" else None
    return MPISequence(annot3, univ3, annot2, valid, activity)


def to_mpi_order(x: np.ndarray) -> np.ndarray:
    """Our 17-joint order -> the 3DHP test order (inverse of ``MPI3DHP_TO_H36M``)."""
    out = np.empty_like(x)
    out[..., list(MPI3DHP_TO_H36M), :] = x
    return out


def write_mat73(
    path: Path, seq: MPISequence, *, matlab_order: bool = False, nan_at: int | None = None
) -> None:
    """``annot_data.mat`` as MATLAB v7.3 writes it (h5py view ``(T, 1, 17, C)``).

    ``matlab_order`` stores the un-reversed ``(C, 17, 1, T)`` instead.
    """

    def joints(x: np.ndarray) -> np.ndarray:
        a = to_mpi_order(x)[:, None]  # (T, 1, 17, C)
        return a.transpose(3, 2, 1, 0) if matlab_order else a

    univ = seq.univ3.copy()
    if nan_at is not None:
        univ[nan_at, 3] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w", userblock_size=512) as f:
        arrays = {"annot3": joints(seq.annot3), "univ_annot3": joints(univ), "annot2": joints(seq.annot2),
                  "valid_frame": seq.valid.astype(np.float64)[:, None]}  # fmt: skip
        if seq.activity is not None:
            arrays["activity_annotation"] = seq.activity.astype(np.float64)[:, None]
        if matlab_order:
            arrays["valid_frame"] = arrays["valid_frame"].T
        for k, v in arrays.items():
            f.create_dataset(k, data=v)
            f[k].attrs["MATLAB_class"] = np.bytes_("double")
    with open(path, "r+b") as fh:  # MATLAB's text header in the user block
        fh.write(
            b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: fake fixture HDF5 schema 1.00 ."
        )


def build_3dhp(
    root: Path, *, frames: bool = True, names: tuple[str, ...] = ("TS1", "TS5")
) -> dict[str, MPISequence]:
    """Write ``TS*/annot_data.mat`` (+ frames of the valid frames) under ``root``."""
    seqs = {}
    for i, name in enumerate(names):
        seq = seqs[name] = mpi_sequence(name, seed=i)
        write_mat73(root / name / "annot_data.mat", seq)
        if frames:
            for f in np.nonzero(seq.valid)[0]:
                write_frame(
                    root / name / "imageSequence" / f"img_{f + 1:06d}.jpg",
                    MPI_WH[name],
                    seq.annot2[f, DOT_JOINT],
                )
    return seqs


def write_subset(path: Path, seqs: dict[str, MPISequence], *, root_relative: bool = False) -> int:
    """The cross-dataset subset npz (3DHP joint order, valid frames of ``seqs``); returns N."""
    p3, p2, subj, frame, wh = [], [], [], [], []
    for name, s in seqs.items():
        idx = np.nonzero(s.valid)[0]
        p3.append(s.univ3[idx])
        p2.append(s.annot2[idx])
        subj += [name] * len(idx)
        frame.append(idx)
        wh += [MPI_WH[name]] * len(idx)
    pose3d = np.concatenate(p3)
    if root_relative:
        pose3d = pose3d - pose3d[:, :1]
    np.savez(path, pose3d=to_mpi_order(pose3d).astype(np.float32), pose2d=to_mpi_order(np.concatenate(p2)).astype(np.float32),
             image_wh=np.array(wh, np.int32), subject=np.array(subj), frame=np.concatenate(frame).astype(np.int32),
             joint_order=np.array("mpi3dhp"))  # fmt: skip
    return len(pose3d)

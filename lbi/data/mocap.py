"""Real human motion capture shipped in the ``pybullet`` wheel, posed by forward kinematics.

Source (read from the installed package, never downloaded):

- ``pybullet_data/data/motions/humanoid3d_<clip>.txt`` - 15 DeepMimic clips captured from
  people (:data:`CLIPS`), ~1,620 frames in all;
- ``pybullet_data/humanoid/humanoid.urdf`` - the DeepMimic humanoid: joint origins, joint
  types/limits and the collision shapes that size the rendered body.

Clip format (DeepMimic ``humanoid3d``, JSON ``{"Loop": ..., "Frames": [[44 numbers], ...]}``),
one row per frame::

    0      duration of the frame (s; the last frame has 0)
    1:4    root position (m, y up)
    4:8    root orientation quaternion (w, x, y, z)
    8:44   local joint rotations in DEEPMIMIC_JOINTS order: spherical joints a quaternion
           (w, x, y, z), revolute joints (knees, elbows) one angle (rad) about the local z axis

The order is checked against the URDF (joint types give the 44 columns) and the numbers
(knee angles are <= 0 and elbow angles >= 0 in every clip, as the URDF limits say).
URDF lengths are in model units: x 0.25 gives metres (pybullet's DeepMimic environment loads
the humanoid with ``globalScaling=0.25``; the standing root height of the clips, 0.85 m,
matches the scaled leg length). The humanoid is y up, x forward, z to its right.

Output frame of this module: **world z up, millimetres**, ``(x, y, z)_world = (x, -z, y)_urdf``
(a proper rotation), scaled by the subject's height factor. Body frames keep the URDF's local
axes (bones along local -y).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from lbi.camera import quat_to_rotmat

URDF_TO_M = 0.25
CLIPS: tuple[str, ...] = (
    "walk", "run", "jump", "kick", "punch", "dance_a", "dance_b", "cartwheel", "backflip",
    "spin", "spinkick", "crawl", "roll", "getup_faceup", "getup_facedown",
)  # fmt: skip
DEEPMIMIC_JOINTS: tuple[str, ...] = (
    "chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow",
    "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow",
)  # fmt: skip
HINGES: tuple[str, ...] = ("right_knee", "right_elbow", "left_knee", "left_elbow")
SPHERICAL: tuple[str, ...] = tuple(j for j in DEEPMIMIC_JOINTS if j not in HINGES)
# Bodies posed by FK, parents first (the wrists are fixed to the forearms).
BODIES: tuple[str, ...] = ("root", *DEEPMIMIC_JOINTS, "right_wrist", "left_wrist")
# y-up URDF world -> z-up world: (x, y, z) -> (x, -z, y).
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])

# Our 17 joints (lbi.skeleton.H36M_JOINTS order) as (body, offset in the body frame, metres).
# Derived joints: Spine = chest joint (236 mm above the pelvis); Thorax = neck joint (base of
# the neck, between the shoulders); Neck/Nose = 60 mm forward, 110 mm up in the head frame
# (inside the head sphere, near the face); Head (top) = 10 mm forward, 250 mm up (the URDF
# head sphere, radius 102 mm, is centred 175 mm up). Feet are the ankle joints (as in H36M),
# wrists the end of the forearm (the URDF's fixed wrist joint).
JOINT_SITES: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("root", (0.0, 0.0, 0.0)),
    ("right_hip", (0.0, 0.0, 0.0)),
    ("right_knee", (0.0, 0.0, 0.0)),
    ("right_ankle", (0.0, 0.0, 0.0)),
    ("left_hip", (0.0, 0.0, 0.0)),
    ("left_knee", (0.0, 0.0, 0.0)),
    ("left_ankle", (0.0, 0.0, 0.0)),
    ("chest", (0.0, 0.0, 0.0)),
    ("neck", (0.0, 0.0, 0.0)),
    ("neck", (0.06, 0.11, 0.0)),
    ("neck", (0.01, 0.25, 0.0)),
    ("left_shoulder", (0.0, 0.0, 0.0)),
    ("left_elbow", (0.0, 0.0, 0.0)),
    ("left_wrist", (0.0, 0.0, 0.0)),
    ("right_shoulder", (0.0, 0.0, 0.0)),
    ("right_elbow", (0.0, 0.0, 0.0)),
    ("right_wrist", (0.0, 0.0, 0.0)),
)

# Rendered body: capsules (segment a-b, radius; a sphere when a == b), endpoints given as
# (body, offset m). Limb radii are the URDF collision capsules'; the torso volume replaces
# the URDF's two big spheres by pelvis / belly / chest capsules of a human's proportions.
# Each capsule has a part name that selects its colour (left and right differ).
_C = tuple[
    str, str, tuple[str, tuple[float, float, float]], tuple[str, tuple[float, float, float]], float
]
CAPSULES: tuple[_C, ...] = (
    ("pelvis", "pelvis", ("root", (0.0, 0.01, 0.065)), ("root", (0.0, 0.01, -0.065)), 0.085),
    ("belly", "torso", ("root", (0.0, 0.06, 0.0)), ("chest", (0.0, 0.04, 0.0)), 0.095),
    ("chest", "torso", ("chest", (-0.01, 0.15, 0.085)), ("chest", (-0.01, 0.15, -0.085)), 0.1),
    ("neck", "skin", ("chest", (-0.01, 0.2, 0.0)), ("neck", (0.0, 0.09, 0.0)), 0.045),
    ("head", "head", ("neck", (0.01, 0.175, 0.0)), ("neck", (0.01, 0.175, 0.0)), 0.1025),
    ("nose", "nose", ("neck", (0.1, 0.15, 0.0)), ("neck", (0.1, 0.15, 0.0)), 0.025),
    ("r_thigh", "r_thigh", ("right_hip", (0.0, 0.0, 0.0)), ("right_knee", (0.0, 0.0, 0.0)), 0.058),
    ("r_shin", "r_shin", ("right_knee", (0.0, 0.0, 0.0)), ("right_ankle", (0.0, 0.0, 0.0)), 0.05),
    ("r_foot", "r_foot", ("right_ankle", (-0.01, -0.03, 0.0)), ("right_ankle", (0.125, -0.03, 0.0)), 0.03),
    ("l_thigh", "l_thigh", ("left_hip", (0.0, 0.0, 0.0)), ("left_knee", (0.0, 0.0, 0.0)), 0.058),
    ("l_shin", "l_shin", ("left_knee", (0.0, 0.0, 0.0)), ("left_ankle", (0.0, 0.0, 0.0)), 0.05),
    ("l_foot", "l_foot", ("left_ankle", (-0.01, -0.03, 0.0)), ("left_ankle", (0.125, -0.03, 0.0)), 0.03),
    ("r_upperarm", "r_upperarm", ("right_shoulder", (0.0, 0.0, 0.0)), ("right_elbow", (0.0, 0.0, 0.0)), 0.045),
    ("r_forearm", "r_forearm", ("right_elbow", (0.0, 0.0, 0.0)), ("right_wrist", (0.0, 0.0, 0.0)), 0.038),
    ("r_hand", "r_hand", ("right_wrist", (0.0, -0.03, 0.0)), ("right_wrist", (0.0, -0.03, 0.0)), 0.042),
    ("l_upperarm", "l_upperarm", ("left_shoulder", (0.0, 0.0, 0.0)), ("left_elbow", (0.0, 0.0, 0.0)), 0.045),
    ("l_forearm", "l_forearm", ("left_elbow", (0.0, 0.0, 0.0)), ("left_wrist", (0.0, 0.0, 0.0)), 0.038),
    ("l_hand", "l_hand", ("left_wrist", (0.0, -0.03, 0.0)), ("left_wrist", (0.0, -0.03, 0.0)), 0.042),
)  # fmt: skip
PARTS: tuple[str, ...] = tuple(dict.fromkeys(c[1] for c in CAPSULES))


def pybullet_data_dir() -> Path:
    """Folder of the installed ``pybullet_data`` package (clips and URDF)."""
    try:
        import pybullet_data
    except ImportError as e:  # pragma: no cover - pybullet is a declared dependency
        raise RuntimeError(
            "the embedded benchmark needs the 'pybullet' wheel (pybullet_data): pip install pybullet"
        ) from e
    return Path(pybullet_data.getDataPath())


@dataclass(frozen=True)
class Skeleton:
    """The URDF kinematic tree restricted to :data:`BODIES` (metres, y up)."""

    parent: tuple[int, ...]  # index into BODIES, -1 for the root
    offset: np.ndarray  # (B, 3) m, joint origin in the parent body frame
    hinge_limits: dict[str, tuple[float, float]]  # rad, revolute joints


@lru_cache(maxsize=1)
def load_skeleton() -> Skeleton:
    """Parse ``humanoid/humanoid.urdf`` from the installed pybullet_data."""
    path = pybullet_data_dir() / "humanoid" / "humanoid.urdf"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing from the pybullet wheel; reinstall pybullet")
    # The shipped file ends in a NUL byte, which XML parsers reject: strip it.
    root = ET.fromstring(path.read_bytes().rstrip(b"\x00\r\n\t "))
    joints = {j.get("name"): j for j in root.iter("joint")}
    parent, offset, limits = [], [], {}
    for body in BODIES:
        if body == "root":
            parent.append(-1)
            offset.append((0.0, 0.0, 0.0))
            continue
        j = joints.get(body)
        if j is None:
            raise ValueError(f"{path}: no joint '{body}'")
        expected = (
            "revolute" if body in HINGES else "fixed" if body.endswith("wrist") else "spherical"
        )
        if j.get("type") != expected:
            raise ValueError(f"{path}: joint '{body}' is {j.get('type')}, expected {expected}")
        parent.append(BODIES.index(j.find("parent").get("link")))
        xyz = [float(v) for v in j.find("origin").get("xyz").split()]
        offset.append(tuple(v * URDF_TO_M for v in xyz))
        if body in HINGES:
            lim = j.find("limit")
            limits[body] = (float(lim.get("lower")), float(lim.get("upper")))
            axis = [float(v) for v in j.find("axis").get("xyz").split()]
            if axis != [0.0, 0.0, 1.0]:
                raise ValueError(f"{path}: hinge '{body}' axis {axis}, expected z")
    return Skeleton(tuple(parent), np.array(offset), limits)


@dataclass(frozen=True)
class Clip:
    """One mocap clip at its native frame times."""

    name: str
    times: np.ndarray  # (F,) s, starts at 0
    root_pos: np.ndarray  # (F, 3) m, y up
    root_quat: np.ndarray  # (F, 4) (w, x, y, z)
    joint_quat: np.ndarray  # (F, len(SPHERICAL), 4) (w, x, y, z), local
    hinge: np.ndarray  # (F, len(HINGES)) rad

    @property
    def duration(self) -> float:
        return float(self.times[-1])


@lru_cache(maxsize=len(CLIPS))
def load_clip(name: str) -> Clip:
    """Read ``humanoid3d_<name>.txt`` from the installed pybullet_data."""
    if name not in CLIPS:
        raise ValueError(f"unknown mocap clip {name!r}; available: {list(CLIPS)}")
    path = pybullet_data_dir() / "data" / "motions" / f"humanoid3d_{name}.txt"
    if not path.exists():
        raise FileNotFoundError(f"{path}: missing from the pybullet wheel; reinstall pybullet")
    frames = np.asarray(json.loads(path.read_text())["Frames"], dtype=np.float64)
    if frames.ndim != 2 or frames.shape[1] != 44:
        raise ValueError(f"{path}: expected frames of 44 numbers, got shape {frames.shape}")
    times = np.concatenate([[0.0], np.cumsum(frames[:-1, 0])])
    col, quats, hinge = 8, [], []
    for j in DEEPMIMIC_JOINTS:
        if j in HINGES:
            hinge.append(frames[:, col])
            col += 1
        else:
            quats.append(frames[:, col : col + 4])
            col += 4
    return Clip(
        name=name,
        times=times,
        root_pos=frames[:, 1:4],
        root_quat=_normalize(frames[:, 4:8]),
        joint_quat=_normalize(np.stack(quats, 1)),
        hinge=np.stack(hinge, 1),
    )


def _normalize(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def slerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Spherical interpolation of unit quaternions ``(..., 4)`` with weights ``w`` ``(...)``."""
    dot = (q0 * q1).sum(-1)
    q1 = np.where(dot[..., None] < 0, -q1, q1)  # shortest arc
    dot = np.abs(dot).clip(-1.0, 1.0)
    theta = np.arccos(dot)
    sin = np.sin(theta)
    small = sin < 1e-6
    safe = np.where(small, 1.0, sin)
    a = np.where(small, 1.0 - w, np.sin((1.0 - w) * theta) / safe)
    b = np.where(small, w, np.sin(w * theta) / safe)
    return _normalize(a[..., None] * q0 + b[..., None] * q1)


def sample_clip(clip: Clip, t: np.ndarray) -> Clip:
    """Resample ``clip`` at times ``t`` ``(T,)`` s (slerp for rotations, linear otherwise)."""
    t = np.clip(np.asarray(t, dtype=np.float64), 0.0, clip.duration)
    i = np.clip(np.searchsorted(clip.times, t, side="right") - 1, 0, len(clip.times) - 2)
    span = clip.times[i + 1] - clip.times[i]
    w = np.where(span > 0, (t - clip.times[i]) / np.where(span > 0, span, 1.0), 0.0)

    def lerp(a: np.ndarray) -> np.ndarray:
        ww = w.reshape(-1, *([1] * (a.ndim - 1)))
        return a[i] * (1 - ww) + a[i + 1] * ww

    return Clip(
        name=clip.name,
        times=t,
        root_pos=lerp(clip.root_pos),
        root_quat=slerp(clip.root_quat[i], clip.root_quat[i + 1], w),
        joint_quat=slerp(clip.joint_quat[i], clip.joint_quat[i + 1], w[:, None]),
        hinge=lerp(clip.hinge),
    )


def axis_angle_quat(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Quaternion ``(..., 4)`` (w, x, y, z) of a rotation by ``angle`` (rad) about unit ``axis``."""
    half = 0.5 * np.asarray(angle)[..., None]
    return np.concatenate([np.cos(half), np.sin(half) * axis], -1)


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of quaternions ``(..., 4)`` (w, x, y, z)."""
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bw - ax * bx - ay * by - az * bz,
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
        ],
        -1,
    )


def perturb_angles(clip: Clip, max_deg: float, rng: np.random.Generator) -> Clip:
    """Add a smooth random joint-angle offset, within limits (off when ``max_deg == 0``).

    Each spherical joint gets a rotation about a random axis whose angle varies linearly
    over the sequence between two values drawn from ``U(-max_deg, max_deg)``, composed
    after the captured local rotation; each hinge gets an offset drawn the same way and is
    clipped to the URDF limits (knees ``[-3.14, 0]``, elbows ``[0, 3.14]``). The root is not
    changed, so the body may float or sink by a few cm at most.
    """
    if max_deg <= 0:
        return clip
    T, S = len(clip.times), len(SPHERICAL)
    ramp = np.linspace(0.0, 1.0, T)[:, None]  # (T, 1)
    lim = np.deg2rad(max_deg)
    a0, a1 = rng.uniform(-lim, lim, (2, S))
    axis = _normalize(rng.normal(size=(S, 3)))
    angle = a0 + (a1 - a0) * ramp  # (T, S)
    dq = axis_angle_quat(axis[None], angle)  # (T, S, 4)
    h0, h1 = rng.uniform(-lim, lim, (2, len(HINGES)))
    limits = load_skeleton().hinge_limits
    lo = np.array([limits[h][0] for h in HINGES])
    hi = np.array([limits[h][1] for h in HINGES])
    hinge = np.clip(clip.hinge + h0 + (h1 - h0) * ramp, lo, hi)
    return Clip(
        name=clip.name,
        times=clip.times,
        root_pos=clip.root_pos,
        root_quat=clip.root_quat,
        joint_quat=_normalize(quat_mul(clip.joint_quat, dq)),
        hinge=hinge,
    )


@dataclass(frozen=True)
class Posed:
    """Body frames of a posed sequence: world z up, mm."""

    pos: np.ndarray  # (T, len(BODIES), 3) mm, body-frame origins
    rot: np.ndarray  # (T, len(BODIES), 3, 3) body frame -> world
    scale: float  # subject height factor: body-local offsets (m) x 1000 x scale = mm


def forward_kinematics(clip: Clip, scale: float = 1.0) -> Posed:
    """Pose the URDF humanoid with ``clip``'s rotations; world z up, mm, x ``scale`` in size.

    ``R_child = R_parent @ R_local``, ``p_child = p_parent + R_parent @ offset``; the root
    trajectory is scaled with the body so the feet stay on the floor.
    """
    skel = load_skeleton()
    T = len(clip.times)
    local = {"root": quat_to_rotmat(clip.root_quat)}
    for k, j in enumerate(SPHERICAL):
        local[j] = quat_to_rotmat(clip.joint_quat[:, k])
    z = np.array([0.0, 0.0, 1.0])
    for k, j in enumerate(HINGES):
        local[j] = quat_to_rotmat(axis_angle_quat(z, clip.hinge[:, k]))
    eye = np.broadcast_to(np.eye(3), (T, 3, 3))
    pos = np.zeros((T, len(BODIES), 3))
    rot = np.zeros((T, len(BODIES), 3, 3))
    pos[:, 0] = clip.root_pos
    rot[:, 0] = local["root"]
    for b, body in enumerate(BODIES[1:], start=1):
        p = skel.parent[b]
        pos[:, b] = pos[:, p] + rot[:, p] @ skel.offset[b]
        rot[:, b] = rot[:, p] @ local.get(body, eye)
    C = Y_UP_TO_Z_UP
    return Posed(pos=pos @ C.T * (1000.0 * scale), rot=C @ rot, scale=scale)


def _sites(posed: Posed, sites: list[tuple[str, tuple[float, float, float]]]) -> np.ndarray:
    """World mm positions ``(T, len(sites), 3)`` of body-local points (metres)."""
    idx = np.array([BODIES.index(b) for b, _ in sites])
    off = np.array([o for _, o in sites]) * (1000.0 * posed.scale)  # (S, 3) mm
    return posed.pos[:, idx] + np.einsum("tsij,sj->tsi", posed.rot[:, idx], off)


def h36m_joints(posed: Posed) -> np.ndarray:
    """Our 17 joints (``lbi.skeleton.H36M_JOINTS`` order) ``(T, 17, 3)`` world mm."""
    return _sites(posed, list(JOINT_SITES))


def body_capsules(posed: Posed, girth: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Rendered body: segments ``(T, K, 2, 3)`` world mm and radii ``(K,)`` mm (K = len(CAPSULES)).

    Radii scale with the subject's height factor times ``girth``.
    """
    ends = [e for c in CAPSULES for e in (c[2], c[3])]
    seg = _sites(posed, ends).reshape(len(posed.pos), len(CAPSULES), 2, 3)
    radii = np.array([c[4] for c in CAPSULES]) * (1000.0 * posed.scale * girth)
    return seg, radii


def capsule_parts() -> np.ndarray:
    """Part index (into :data:`PARTS`) of each capsule, ``(K,)`` int."""
    return np.array([PARTS.index(c[1]) for c in CAPSULES])

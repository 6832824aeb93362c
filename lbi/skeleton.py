"""Joint layouts used by the field, all mapped onto one 17-joint Human3.6M order.

Our order (``H36M_JOINTS``) is the one used by Martinez et al., VideoPose3D and most
lifting papers: the 17 joints kept from the 32-joint Human3.6M mocap skeleton.

Layouts handled here:
- raw Human3.6M mocap, 32 joints  -> ``H36M32_TO_17``
- stacked-hourglass (SH) detections, 16 joints = our 17 without Neck/Nose (index 9)
  -> ``SH16_TO_17`` and :func:`expand_16_to_17` (Neck/Nose filled by interpolation,
  flagged in a mask); raw MPII-ordered SH files -> ``MPII16_TO_SH16``
- MPI-INF-3DHP 17-joint test annotations (pelvis is index 14) -> ``MPI3DHP_TO_H36M``
- the 14-joint group of the 3DHP PCK/AUC evaluation -> ``EVAL14_3DHP``
"""

from __future__ import annotations

from typing import Final

import numpy as np
import torch

H36M_JOINTS: Final[tuple[str, ...]] = (
    "Hip",  # 0, root / pelvis
    "RHip",  # 1
    "RKnee",  # 2
    "RFoot",  # 3
    "LHip",  # 4
    "LKnee",  # 5
    "LFoot",  # 6
    "Spine",  # 7
    "Thorax",  # 8
    "Neck/Nose",  # 9
    "Head",  # 10 (head top)
    "LShoulder",  # 11
    "LElbow",  # 12
    "LWrist",  # 13
    "RShoulder",  # 14
    "RElbow",  # 15
    "RWrist",  # 16
)
NUM_JOINTS: Final[int] = 17
ROOT: Final[int] = 0

# Parent of each joint in our order (-1 for the root).
PARENTS: Final[tuple[int, ...]] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
JOINTS_LEFT: Final[tuple[int, ...]] = (4, 5, 6, 11, 12, 13)
JOINTS_RIGHT: Final[tuple[int, ...]] = (1, 2, 3, 14, 15, 16)

# Bones as (child, parent) pairs, root excluded.
BONES: Final[tuple[tuple[int, int], ...]] = tuple((j, p) for j, p in enumerate(PARENTS) if p >= 0)


def flip_permutation(num_joints: int = NUM_JOINTS) -> list[int]:
    """Permutation that swaps left and right joints (an involution).

    Works for the 17-joint order and for the 16-joint SH order (left/right indices
    shifted past the removed Neck/Nose).
    """
    if num_joints == NUM_JOINTS:
        left, right = JOINTS_LEFT, JOINTS_RIGHT
    elif num_joints == 16:
        left, right = SH16_LEFT, SH16_RIGHT
    else:
        raise ValueError(f"no flip permutation for {num_joints} joints (expected 16 or 17)")
    perm = list(range(num_joints))
    for a, b in zip(left, right, strict=True):
        perm[a], perm[b] = b, a
    return perm


FLIP_PERM: Final[tuple[int, ...]] = tuple(flip_permutation())

# --- raw Human3.6M mocap (32 joints) --------------------------------------------
# Indices of the 32-joint mocap skeleton kept, in our order.
H36M32_TO_17: Final[tuple[int, ...]] = (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)

# --- stacked hourglass, 16 joints ---------------------------------------------------
# SH16 (H36M-ordered, as in the de-facto ``data_2d_h36m_sh_pt_mpii.npz`` after
# conversion): our 17 joints without Neck/Nose (index 9).
NECK_NOSE: Final[int] = 9
SH16_TO_17: Final[tuple[int, ...]] = tuple(j for j in range(NUM_JOINTS) if j != NECK_NOSE)
SH16_LEFT: Final[tuple[int, ...]] = (4, 5, 6, 10, 11, 12)
SH16_RIGHT: Final[tuple[int, ...]] = (1, 2, 3, 13, 14, 15)

# Raw MPII order (0 RAnkle, 1 RKnee, 2 RHip, 3 LHip, 4 LKnee, 5 LAnkle, 6 Pelvis,
# 7 Thorax, 8 UpperNeck, 9 HeadTop, 10 RWrist, 11 RElbow, 12 RShoulder, 13 LShoulder,
# 14 LElbow, 15 LWrist): index into MPII for each SH16 (H36M-ordered) joint.
# Spine has no MPII counterpart: it is the midpoint of Pelvis and Thorax, see
# :func:`mpii16_to_sh16` (-1 marks it below).
MPII16_TO_SH16: Final[tuple[int, ...]] = (6, 2, 1, 0, 3, 4, 5, -1, 7, 9, 13, 14, 15, 12, 11, 10)
MPII16_SYMMETRY: Final[tuple[tuple[int, ...], tuple[int, ...]]] = (
    (3, 4, 5, 13, 14, 15),
    (0, 1, 2, 10, 11, 12),
)


def mpii16_to_sh16(kp: np.ndarray) -> np.ndarray:
    """Reorder MPII-ordered 16-joint keypoints ``(..., 16, C)`` to the SH16 order.

    Spine (absent in MPII) is the midpoint of Pelvis and Thorax.
    """
    if kp.shape[-2] != 16:
        raise ValueError(f"expected 16 MPII joints on axis -2, got shape {kp.shape}")
    idx = np.array([i if i >= 0 else 6 for i in MPII16_TO_SH16])
    out = kp[..., idx, :].copy()
    out[..., 7, :] = 0.5 * (kp[..., 6, :] + kp[..., 7, :])
    return out


def expand_16_to_17(
    kp16: np.ndarray | torch.Tensor,
) -> tuple[np.ndarray | torch.Tensor, np.ndarray]:
    """Insert the missing Neck/Nose into SH16 keypoints ``(..., 16, C)`` -> ``(..., 17, C)``.

    Neck/Nose is placed at the midpoint of Thorax and Head (its position in the mean
    Human3.6M pose is within a few pixels of that). Returns the 17-joint array and a
    ``(17,)`` boolean mask that is False at the interpolated joint, so metrics or
    losses can exclude it.
    """
    if kp16.shape[-2] != 16:
        raise ValueError(f"expected 16 joints on axis -2, got shape {tuple(kp16.shape)}")
    idx = list(SH16_TO_17)
    if isinstance(kp16, torch.Tensor):
        out = kp16.new_zeros((*kp16.shape[:-2], NUM_JOINTS, kp16.shape[-1]))
    else:
        out = np.zeros((*kp16.shape[:-2], NUM_JOINTS, kp16.shape[-1]), dtype=kp16.dtype)
    out[..., idx, :] = kp16
    thorax, head = out[..., 8, :], out[..., 10, :]
    out[..., NECK_NOSE, :] = 0.5 * (thorax + head)
    mask = np.ones(NUM_JOINTS, dtype=bool)
    mask[NECK_NOSE] = False
    return out, mask


# --- MPI-INF-3DHP ------------------------------------------------------------------
# 3DHP 17-joint test order: 0 head_top, 1 neck, 2 right_shoulder, 3 right_elbow,
# 4 right_wrist, 5 left_shoulder, 6 left_elbow, 7 left_wrist, 8 right_hip, 9 right_knee,
# 10 right_ankle, 11 left_hip, 12 left_knee, 13 left_ankle, 14 pelvis, 15 spine, 16 head.
MPI3DHP_JOINTS: Final[tuple[str, ...]] = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "pelvis", "spine", "head",
)  # fmt: skip
# Index into the 3DHP order for each of our joints.
MPI3DHP_TO_H36M: Final[tuple[int, ...]] = (14, 8, 9, 10, 11, 12, 13, 15, 1, 16, 0, 5, 6, 7, 2, 3, 4)

# The 14 joints of the 3DHP PCK/AUC evaluation (all but pelvis, spine and head),
# as indices into our order.
EVAL14_3DHP: Final[tuple[int, ...]] = (1, 2, 3, 4, 5, 6, 8, 10, 11, 12, 13, 14, 15, 16)


def flip_pose(pose: np.ndarray | torch.Tensor, *, axis: int = 0) -> np.ndarray | torch.Tensor:
    """Mirror a pose ``(..., J, C)``: negate coordinate ``axis`` and swap left/right joints.

    For 2D pixels mirrored inside an image of width ``W`` use
    ``x -> W - 1 - x`` instead of negation; see :func:`flip_pixels`.
    """
    perm = flip_permutation(pose.shape[-2])
    out = pose[..., perm, :]
    out = out.clone() if isinstance(out, torch.Tensor) else out.copy()
    out[..., axis] = -out[..., axis]
    return out


def flip_pixels(kp: np.ndarray | torch.Tensor, width: float) -> np.ndarray | torch.Tensor:
    """Mirror pixel keypoints ``(..., J, 2)`` inside an image ``width`` px wide."""
    perm = flip_permutation(kp.shape[-2])
    out = kp[..., perm, :]
    out = out.clone() if isinstance(out, torch.Tensor) else out.copy()
    out[..., 0] = (width - 1) - out[..., 0]
    return out

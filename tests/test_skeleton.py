"""Joint layouts: permutations, the kinematic tree and the dataset mappings."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lbi import skeleton as sk


@pytest.mark.parametrize("num_joints", [17, 16])
def test_flip_permutation_is_an_involution(num_joints: int) -> None:
    perm = np.array(sk.flip_permutation(num_joints))
    assert sorted(perm.tolist()) == list(range(num_joints))
    np.testing.assert_array_equal(perm[perm], np.arange(num_joints))
    assert perm[0] == 0  # root stays


def test_flip_permutation_swaps_named_left_right() -> None:
    names = sk.H36M_JOINTS
    for j, k in enumerate(sk.FLIP_PERM):
        mirrored = names[j].replace("L", "#").replace("R", "L").replace("#", "R")
        assert names[k] == (mirrored if j != k else names[j])


def test_flip_permutation_rejects_other_sizes() -> None:
    with pytest.raises(ValueError, match="16 or 17"):
        sk.flip_permutation(15)


def test_parents_form_a_tree_rooted_at_0() -> None:
    assert len(sk.PARENTS) == sk.NUM_JOINTS == len(sk.H36M_JOINTS)
    assert sk.PARENTS[sk.ROOT] == -1
    assert [j for j, p in enumerate(sk.PARENTS) if p < 0] == [0]
    for j in range(sk.NUM_JOINTS):
        seen, k = set(), j
        while k != sk.ROOT:  # every joint reaches the root without a cycle
            assert k not in seen
            seen.add(k)
            k = sk.PARENTS[k]
    assert len(sk.BONES) == sk.NUM_JOINTS - 1


def test_parents_respect_flip_symmetry() -> None:
    perm = sk.FLIP_PERM
    for j, p in enumerate(sk.PARENTS):
        if p >= 0:
            assert sk.PARENTS[perm[j]] == perm[p]


@pytest.mark.parametrize("num_joints", [17, 16])
def test_flip_pose_twice_is_identity(num_joints: int) -> None:
    pose = np.random.default_rng(0).normal(size=(4, num_joints, 3))
    once = sk.flip_pose(pose)
    assert not np.allclose(once, pose)
    np.testing.assert_array_equal(sk.flip_pose(once), pose)
    tpose = torch.from_numpy(pose)
    torch.testing.assert_close(sk.flip_pose(sk.flip_pose(tpose)), tpose)
    np.testing.assert_array_equal(sk.flip_pose(tpose).numpy(), once)


def test_flip_pose_mirrors_and_swaps() -> None:
    pose = np.random.default_rng(1).normal(size=(17, 3))
    flipped = sk.flip_pose(pose)
    np.testing.assert_array_equal(flipped[4, 0], -pose[1, 0])  # LHip <- mirrored RHip
    np.testing.assert_array_equal(flipped[4, 1:], pose[1, 1:])
    kp = np.random.default_rng(2).uniform(0, 100, size=(16, 2))
    np.testing.assert_allclose(sk.flip_pixels(sk.flip_pixels(kp, 640), 640), kp)


def test_expand_16_to_17_keeps_joints_in_place() -> None:
    kp16 = np.random.default_rng(0).normal(size=(5, 16, 2))
    kp17, mask = sk.expand_16_to_17(kp16)
    assert kp17.shape == (5, 17, 2)
    np.testing.assert_array_equal(kp17[:, list(sk.SH16_TO_17)], kp16)
    np.testing.assert_allclose(kp17[:, 9], 0.5 * (kp17[:, 8] + kp17[:, 10]))
    assert mask.tolist() == [j != sk.NECK_NOSE for j in range(17)]
    t17, _ = sk.expand_16_to_17(torch.from_numpy(kp16))
    np.testing.assert_array_equal(t17.numpy(), kp17)
    with pytest.raises(ValueError, match="16 joints"):
        sk.expand_16_to_17(kp17)


def test_flip_of_sh16_matches_flip_of_17() -> None:
    kp17 = np.random.default_rng(3).normal(size=(17, 3))
    kp16 = kp17[list(sk.SH16_TO_17)]
    np.testing.assert_array_equal(sk.flip_pose(kp16), sk.flip_pose(kp17)[list(sk.SH16_TO_17)])


def test_h36m32_to_17_is_the_standard_subset() -> None:
    removed = {4, 5, 9, 10, 11, 16, 20, 21, 22, 23, 24, 28, 29, 30, 31}
    assert list(sk.H36M32_TO_17) == [j for j in range(32) if j not in removed]


def test_mpii16_to_sh16_by_name() -> None:
    mpii = (
        "RAnkle", "RKnee", "RHip", "LHip", "LKnee", "LAnkle", "Pelvis", "Thorax",
        "UpperNeck", "HeadTop", "RWrist", "RElbow", "RShoulder", "LShoulder", "LElbow", "LWrist",
    )  # fmt: skip
    ours = [sk.H36M_JOINTS[j] for j in sk.SH16_TO_17]
    rename = {"RAnkle": "RFoot", "LAnkle": "LFoot", "Pelvis": "Hip", "HeadTop": "Head"}
    for i, m in enumerate(sk.MPII16_TO_SH16):
        if m >= 0:
            assert rename.get(mpii[m], mpii[m]) == ours[i]
    kp = np.random.default_rng(0).normal(size=(3, 16, 2))
    out = sk.mpii16_to_sh16(kp)
    np.testing.assert_allclose(out[:, 7], 0.5 * (kp[:, 6] + kp[:, 7]))  # Spine


def test_mpi3dhp_to_h36m() -> None:
    m = sk.MPI3DHP_TO_H36M
    assert m[0] == 14 and sk.MPI3DHP_JOINTS[14] == "pelvis"
    assert sorted(m) == list(range(17))
    expected = {
        "RHip": "right_hip", "RKnee": "right_knee", "RFoot": "right_ankle",
        "LHip": "left_hip", "LKnee": "left_knee", "LFoot": "left_ankle",
        "Spine": "spine", "Thorax": "neck", "Neck/Nose": "head", "Head": "head_top",
        "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
        "RShoulder": "right_shoulder", "RElbow": "right_elbow", "RWrist": "right_wrist",
        "Hip": "pelvis",
    }  # fmt: skip
    for ours, theirs in zip(sk.H36M_JOINTS, m, strict=True):
        assert sk.MPI3DHP_JOINTS[theirs] == expected[ours]


def test_eval14_3dhp() -> None:
    e = sk.EVAL14_3DHP
    assert len(e) == 14 == len(set(e))
    assert set(e) == set(range(17)) - {0, 7, 9}

"""Pose metrics on constructed cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from lbi import metrics as M
from lbi.actions import H36M_ACTIONS, canonical_action
from lbi.skeleton import EVAL14_3DHP

GT3 = np.array([[[0.0, 0, 0], [100, 0, 0], [0, 100, 0]]])  # (1, 3, 3) mm


def random_poses(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 17, 3)) * 300


def similarity(poses: np.ndarray, seed: int = 1) -> np.ndarray:
    """A random scale, rotation and translation per sample."""
    rng = np.random.default_rng(seed)
    n = len(poses)
    R = Rotation.random(n, random_state=seed).as_matrix()
    s = rng.uniform(0.5, 2.0, size=(n, 1, 1))
    t = rng.normal(size=(n, 1, 3)) * 1000
    return s * poses @ R.swapaxes(-1, -2) + t


@pytest.mark.parametrize("fn", [M.mpjpe, M.p_mpjpe, M.n_mpjpe])
def test_identity_is_zero(fn) -> None:
    gt = torch.from_numpy(random_poses(10))
    err = fn(gt, gt)
    assert err.shape == (10,)
    torch.testing.assert_close(err, torch.zeros(10, dtype=torch.float64), atol=1e-9, rtol=0)


def test_similarity_transform_is_undone_by_procrustes_only() -> None:
    gt = random_poses(200)
    pred = similarity(gt)
    assert M.p_mpjpe(pred, gt).abs().max() < 1e-8
    assert M.mpjpe(pred, gt).min() > 50
    assert M.n_mpjpe(pred, gt).min() > 10  # rotation remains


def test_reflection_is_not_aligned() -> None:
    gt = random_poses(50)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])  # det -1: no rotation maps it back
    assert M.p_mpjpe(mirrored, gt).min() > 10
    assert M.p_mpjpe(similarity(mirrored), gt).min() > 10


def reference_p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Straight per-sample Umeyama from its definition (slow, for comparison)."""
    out = []
    for p, g in zip(pred, gt, strict=True):
        x, y = p - p.mean(0), g - g.mean(0)
        U, S, Vt = np.linalg.svd(x.T @ y)
        D = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
        scale = np.trace(np.diag(S) @ D) / (x**2).sum()
        out.append(np.linalg.norm(scale * x @ U @ D @ Vt + g.mean(0) - g, axis=-1).mean())
    return np.array(out)


def test_p_mpjpe_matches_reference_on_noisy_poses() -> None:
    gt = random_poses(100)
    pred = similarity(gt + np.random.default_rng(5).normal(size=gt.shape) * 40)
    np.testing.assert_allclose(M.p_mpjpe(pred, gt).numpy(), reference_p_mpjpe(pred, gt), rtol=1e-10)


def test_p_mpjpe_mixed_batch_matches_reference() -> None:
    """Samples needing the SVD (mirrored: det H < 0; planar: det H = 0) next to ordinary ones."""
    rng = np.random.default_rng(7)
    gt = random_poses(30)
    noisy = gt + rng.normal(size=gt.shape) * 40
    planar = gt.copy()
    planar[20:, :, 2] = 0.0  # flat gt: rank-2 cross-covariance
    pred = similarity(noisy)
    pred[10:20] = similarity(noisy[10:20] * np.array([-1.0, 1.0, 1.0]))
    np.testing.assert_allclose(
        M.p_mpjpe(pred, planar).numpy(), reference_p_mpjpe(pred, planar), rtol=1e-9
    )


def test_hand_computed_mpjpe() -> None:
    pred = np.array([[[10.0, 0, 0], [110, 0, 30], [10, 140, 0]]])
    # root-aligned errors 0, 30, 40
    np.testing.assert_allclose(M.mpjpe(pred, GT3).numpy(), [70 / 3])
    np.testing.assert_allclose(
        M.pose_error(pred, GT3, alignment="none").numpy(),
        [(10 + math.sqrt(1000) + math.sqrt(1700)) / 3],
    )
    np.testing.assert_allclose(M.per_joint_error(pred, GT3).numpy(), [[0.0, 30.0, 40.0]])


def test_hand_computed_n_mpjpe() -> None:
    doubled = 2 * GT3 + 7.0  # same shape, twice the size, shifted
    np.testing.assert_allclose(M.n_mpjpe(doubled, GT3).numpy(), [0.0], atol=1e-12)
    np.testing.assert_allclose(M.mpjpe(doubled, GT3).numpy(), [200 / 3])
    wrong = np.array([[[0.0, 0, 0], [100, 0, 0], [0, 0, 100]]])
    # s = <p, g> / <p, p> = 1e4 / 2e4 = 0.5; errors 0, 50, |(0, -100, 50)|
    np.testing.assert_allclose(M.n_mpjpe(wrong, GT3).numpy(), [(50 + math.sqrt(12500)) / 3])


def test_mask_excludes_joints() -> None:
    pred = np.array([[[10.0, 0, 0], [110, 0, 30], [10, 140, 0]]])
    mask = np.array([[True, True, False]])
    np.testing.assert_allclose(M.mpjpe(pred, GT3, mask).numpy(), [15.0])
    np.testing.assert_allclose(M.mpjpe(pred, GT3, np.array([True, True, False])).numpy(), [15.0])
    # a corrupted joint left out of the mask changes neither the fit nor the mean
    gt = random_poses(20)
    pred = similarity(gt)
    pred[:, 5] = 1e6
    pred[:, 7] = np.nan
    keep = np.ones(17, bool)
    keep[[5, 7]] = False
    assert M.p_mpjpe(pred, gt, keep).abs().max() < 1e-8
    assert M.p_mpjpe(pred, gt).isnan().all()
    assert torch.isfinite(M.n_mpjpe(pred, gt, keep)).all()


def test_contract_errors_and_types() -> None:
    gt = random_poses(4)
    with pytest.raises(ValueError, match="alignment"):
        M.pose_error(gt, gt, alignment="rigid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(N, J, C\)"):
        M.mpjpe(gt[:, :16], gt)
    with pytest.raises(ValueError, match="boolean"):
        M.mpjpe(gt, gt, np.ones((4, 17)))
    with pytest.raises(ValueError, match="mask must be"):
        M.mpjpe(gt, gt, np.ones((4, 16), bool))
    out = M.p_mpjpe(torch.from_numpy(gt).float(), torch.from_numpy(gt).float())
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (4,)
    assert M.per_joint_error(gt, gt, alignment="procrustes").shape == (4, 17)


def eval14_offset(mm: float, n: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Integer-valued gt and a pred whose non-root joints are exactly ``mm`` off."""
    gt = np.round(random_poses(n))
    pred = gt.copy()
    pred[:, 1:, 0] += mm
    return pred, gt


def test_pck_threshold_is_strict() -> None:
    pred, gt = eval14_offset(149.9)
    np.testing.assert_allclose(M.pck(pred, gt).numpy(), 1.0)
    pred, gt = eval14_offset(150.0)
    np.testing.assert_allclose(M.pck(pred, gt).numpy(), 0.0)
    # all 17 joints: the root (error 0 after root alignment) counts
    np.testing.assert_allclose(M.pck(pred, gt, joints=None).numpy(), 1 / 17)
    assert len(EVAL14_3DHP) == 14


def test_auc_known_values() -> None:
    gt = np.round(random_poses(3))
    # the 0 mm threshold never passes (strict <, as mpii_compute_3d_pck.m): perfect = 30/31
    np.testing.assert_allclose(M.auc(gt, gt).numpy(), 30 / 31)
    pred, gt = eval14_offset(72.5)
    # 72.5 < t for t = 75, 80, ..., 150: 16 of the 31 thresholds
    np.testing.assert_allclose(M.auc(pred, gt).numpy(), 16 / 31)
    assert M.AUC_THRESHOLDS_MM[0] == 0 and M.AUC_THRESHOLDS_MM[-1] == 150
    assert len(M.AUC_THRESHOLDS_MM) == 31


def test_auc_is_mean_of_pck() -> None:
    gt = random_poses(30)
    pred = gt + np.random.default_rng(2).normal(size=gt.shape) * 60
    curve = torch.stack([M.pck(pred, gt, t) for t in M.AUC_THRESHOLDS_MM], -1)
    torch.testing.assert_close(M.auc(pred, gt), curve.mean(-1))


def test_actionwise_vs_framewise() -> None:
    errors = torch.tensor([10.0, 10.0, 10.0, 40.0])
    actions = np.array(["Walking", "Walking", "Walking", "Eating"])
    assert M.framewise_mean(errors) == pytest.approx(17.5)
    avg, per = M.actionwise_mean(errors, actions)
    assert avg == pytest.approx(25.0)
    assert per == {"Eating": 40.0, "Walking": 10.0}
    assert list(per) == ["Eating", "Walking"]  # table order
    with pytest.raises(ValueError, match="NaN"):
        M.framewise_mean([1.0, float("nan")])
    with pytest.raises(ValueError, match="same length"):
        M.actionwise_mean(errors, actions[:3])


def test_actions() -> None:
    assert len(H36M_ACTIONS) == 15 == len(set(H36M_ACTIONS))
    assert H36M_ACTIONS[0] == "Directions" and H36M_ACTIONS[-1] == "WalkTogether"
    assert canonical_action("Directions 1") == "Directions"
    assert canonical_action("TakingPhoto 2") == "Photo"
    assert canonical_action("WalkingDog") == "WalkDog"
    assert canonical_action("SittingDown 2") == "SittingDown"
    assert canonical_action("WalkTogether") == "WalkTogether"
    assert all(canonical_action(a) == a for a in H36M_ACTIONS)
    with pytest.raises(ValueError, match=r"unknown Human3\.6M action"):
        canonical_action("Dancing")
    assert canonical_action("walk 3", strict=False) == "walk"

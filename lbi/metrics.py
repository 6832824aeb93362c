"""3D pose errors with one contract, plus the 3DHP PCK/AUC and the two table averages.

Every error function takes ``pred, gt`` ``(N, J, 3)`` in **mm** (torch tensors; numpy
arrays are converted with ``torch.as_tensor``) and an optional boolean ``mask``
``(N, J)`` or ``(J,)`` of the joints to count, and returns **per-sample** values
``(N,)`` as a torch tensor on ``pred``'s device (dtype: the inputs' float dtype, at least
float32). Reduction is the caller's: :func:`framewise_mean` or :func:`actionwise_mean`.
All alignments are computed in float64. Masked joints are excluded from the mean *and*
from any fit (scale, Procrustes); their values may be NaN. A sample with no counted
joint gives NaN.

Alignments (``alignment=``), the protocols of the Human3.6M literature:

- ``"none"``: raw Euclidean error (absolute positions).
- ``"root"``: Protocol #1 (MPJPE): joint 0 (pelvis) subtracted from both poses.
- ``"scale"``: N-MPJPE: root-relative ``pred`` scaled by the least-squares optimal
  ``s = <p, g> / <p, p>`` to the root-relative ``gt``.
- ``"procrustes"``: Protocol #2 (P-MPJPE): per-sample similarity transform (scale,
  rotation, translation) of ``pred`` onto ``gt`` minimising the squared error
  (Umeyama), with the reflection removed (``det = +1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from lbi.actions import H36M_ACTIONS
from lbi.skeleton import EVAL14_3DHP, ROOT

Alignment = Literal["none", "root", "scale", "procrustes"]
ALIGNMENTS: tuple[str, ...] = ("none", "root", "scale", "procrustes")
# 3DHP AUC thresholds (mm): 0, 5, ..., 150, as in the dataset's mpii_compute_3d_pck.m.
AUC_THRESHOLDS_MM: tuple[float, ...] = tuple(float(t) for t in range(0, 151, 5))

ArrayLike = torch.Tensor | np.ndarray
_CPU_CHUNK = 4096  # samples per chunk on CPU (see _joint_errors)
_POLAR_ITERS = 10  # Newton steps of _polar_rotation (6-8 suffice for real poses)
_POLAR_MIN_DET = 1e-6  # det of H / |H|_F^3 below which the SVD decides (max 3^-1.5)
_POLAR_TOL = 1e-10  # last Newton step (max abs entry) counted as converged


def _prepare(
    pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.dtype]:
    """Validate; return ``pred, gt`` ``(N, J, C)`` tensors, bool mask ``(N, J)`` (None: all
    joints) and the output dtype."""
    pred, gt = torch.as_tensor(pred), torch.as_tensor(gt)
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(
            f"pred and gt must both be (N, J, C); got {tuple(pred.shape)} and {tuple(gt.shape)}"
        )
    out = torch.promote_types(pred.dtype, gt.dtype)
    if out not in (torch.float32, torch.float64):  # ints, half precision
        out = torch.float32
    n, j = pred.shape[:2]
    m = None
    if mask is not None:
        m = torch.as_tensor(mask, device=pred.device)
        if m.dtype != torch.bool:
            raise ValueError(f"mask must be boolean, got {m.dtype}")
        if m.shape not in ((j,), (n, j)):
            raise ValueError(f"mask must be (N, J) = ({n}, {j}) or (J,), got {tuple(m.shape)}")
        m = m.expand(n, j)
    return pred, gt.to(pred.device), m, out


def _chunk_size(x: torch.Tensor) -> int:
    """Samples per chunk for elementwise passes: cache-sized on CPU, everything on GPU."""
    return _CPU_CHUNK if x.device.type == "cpu" else max(len(x), 1)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over the last axis of ``values`` ``(N, J)`` where ``mask``; NaN if none."""
    if mask is None:
        return values.mean(-1)
    return torch.where(mask, values, 0.0).sum(-1) / mask.sum(-1)


def _cofactor3(A: torch.Tensor) -> torch.Tensor:
    """Cofactor matrices of ``(n, 3, 3)`` ``A``: ``A^{-T} = cof(A) / det(A)``."""
    r0, r1, r2 = A[:, 0], A[:, 1], A[:, 2]
    cross = torch.linalg.cross
    return torch.stack([cross(r1, r2), cross(r2, r0), cross(r0, r1)], 1)


def _det3(A: torch.Tensor) -> torch.Tensor:
    """Determinants of ``(n, 3, 3)`` matrices (triple product; faster than LU for tiny ones)."""
    return (torch.linalg.cross(A[:, 0], A[:, 1]) * A[:, 2]).sum(-1)


def _procrustes_stats(
    p: torch.Tensor, g: torch.Tensor, mask: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Centroids ``(n, 1, C)`` of ``p`` and ``g``, cross-covariance ``H = x^T y`` ``(n, C, C)``
    and ``sum |x|^2`` ``(n,)`` of the centred counted joints (masked joints, which may
    hold NaN, are kept out)."""
    if mask is None:
        mu_p, mu_g = p.mean(-2, keepdim=True), g.mean(-2, keepdim=True)
        x = p - mu_p  # (n, J, C)
        y = g - mu_g
    else:
        m = mask[..., None]  # (n, J, 1)
        count = m.sum(-2, keepdim=True).clamp_min(1)
        p0, g0 = torch.where(m, p, 0.0), torch.where(m, g, 0.0)
        mu_p, mu_g = p0.sum(-2, keepdim=True) / count, g0.sum(-2, keepdim=True) / count
        x = torch.where(m, p0 - mu_p, 0.0)
        y = g0 - mu_g
    return mu_p, mu_g, x.mT @ y, (x * x).sum((-2, -1))


def _svd_rotation(H: torch.Tensor) -> torch.Tensor:
    """Best proper rotation for ``H = x^T y = U S V^T`` ``(n, C, C)``: ``R = U D V^T`` with
    ``D = diag(1, .., 1, det(U V^T))`` (Umeyama: never a reflection). NaN where ``H`` is
    not finite."""
    ok = torch.isfinite(H).flatten(1).all(-1)[:, None, None]  # LAPACK rejects NaN/inf
    U, S, Vh = torch.linalg.svd(torch.where(ok, H, 0.0))
    det = _det3 if H.shape[-1] == 3 else torch.linalg.det
    D = torch.ones_like(S)
    D[:, -1] = torch.sign(det(U) * det(Vh))
    return torch.where(ok, (U * D[:, None, :]) @ Vh, torch.nan)


def _polar_rotation(H: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthogonal polar factor of ``H`` ``(n, 3, 3)`` and where it is the answer ``(n,)``.

    Where ``det H > 0`` the polar factor ``U V^T`` is :func:`_svd_rotation`'s ``R``
    (``D = I``). Higham's Newton iteration ``X <- (z X + (z X)^{-T}) / 2``,
    ``z = |det X|^{-1/3}``, reaches it with elementwise 3x3 algebra only, several times
    faster than batched LAPACK SVDs. ``ok`` is False where ``H`` is near-singular, has
    ``det <= 0`` or did not converge: those samples go to the SVD.
    """
    tiny = torch.finfo(H.dtype).tiny
    X = H / H.flatten(1).norm(dim=-1).clamp_min(tiny)[:, None, None]  # |X|_F = 1
    well_posed = _det3(X) > _POLAR_MIN_DET  # also False for NaN
    for _ in range(_POLAR_ITERS):
        C = _cofactor3(X)
        det = (C[:, 0] * X[:, 0]).sum(-1)[:, None, None]
        z = det.abs().clamp_min(tiny).pow(-1 / 3)
        X, X_old = 0.5 * (z * X + C / (z * det)), X
    step = (X - X_old).flatten(1).abs().amax(-1)
    return X, well_posed & (step < _POLAR_TOL)


def _similarity_fit(H: torch.Tensor, var: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotation ``R`` ``(N, C, C)`` (row form: ``x @ R ~ y``) and scale ``s`` ``(N,)`` of the
    similarity Procrustes fit from ``H = x^T y`` and ``var = sum |x|^2`` (Umeyama):
    ``s = tr(R^T H) / var`` (= tr(S D) / var)."""
    n, c = H.shape[0], H.shape[-1]
    if c == 3:
        step = _chunk_size(H)
        parts = [_polar_rotation(H[i : i + step]) for i in range(0, n, step)]
        R = torch.cat([r for r, _ in parts])
        bad = torch.cat([ok for _, ok in parts]).logical_not().nonzero().squeeze(1)
        if len(bad):
            R = R.index_put((bad,), _svd_rotation(H[bad]))
    else:
        R = _svd_rotation(H)
    s = (R * H).sum((-2, -1)) / var.clamp_min(torch.finfo(var.dtype).tiny)
    return R, s


def _align(
    p: torch.Tensor, g: torch.Tensor, mask: torch.Tensor | None, alignment: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Root / scale / no alignment of one chunk (Procrustes: :func:`_joint_errors`)."""
    if alignment == "none":
        return p, g
    p = p - p[:, ROOT : ROOT + 1]
    g = g - g[:, ROOT : ROOT + 1]
    if alignment == "scale":
        pg = _masked_mean((p * g).sum(-1), mask)
        pp = _masked_mean((p * p).sum(-1), mask)
        p = p * (pg / pp.clamp_min(torch.finfo(p.dtype).tiny))[:, None, None]
    return p, g


def _joint_errors(
    pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None, alignment: str
) -> tuple[torch.Tensor, torch.Tensor | None, torch.dtype]:
    """Per-joint errors ``(N, J)`` float64 mm after ``alignment``, the mask, the out dtype.

    Elementwise work runs over chunks of samples: a chunk's float64 intermediates stay
    in the CPU cache, several times faster than whole-array passes. Procrustes makes two
    chunked passes (centroids and cross-covariances, then errors) around the rotation
    fit (:func:`_similarity_fit`: Newton polar iteration, SVD where that cannot decide).
    """
    if alignment not in ALIGNMENTS:
        raise ValueError(f"unknown alignment {alignment!r}; expected one of {ALIGNMENTS}")
    pred, gt, m, out = _prepare(pred, gt, mask)
    n = len(pred)
    if n == 0:
        return pred.new_zeros(pred.shape[:2], dtype=torch.float64), m, out
    step = _chunk_size(pred)
    chunks = [slice(i, i + step) for i in range(0, n, step)]

    def load(sl: slice) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        p, g = pred[sl].to(torch.float64), gt[sl].to(torch.float64)
        return p, g, None if m is None else m[sl]

    errs = []
    if alignment == "procrustes":
        stats = [_procrustes_stats(*load(sl)) for sl in chunks]
        mu_p, mu_g, H, var = (torch.cat(z) for z in zip(*stats, strict=True))
        R, s = _similarity_fit(H, var)
        for sl in chunks:
            p, g, _ = load(sl)
            aligned = s[sl, None, None] * ((p - mu_p[sl]) @ R[sl]) + mu_g[sl]
            errs.append(torch.linalg.vector_norm(aligned - g, dim=-1))
    else:
        for sl in chunks:
            p, g = _align(*load(sl), alignment)
            errs.append(torch.linalg.vector_norm(p - g, dim=-1))
    return torch.cat(errs), m, out


def per_joint_error(
    pred: ArrayLike,
    gt: ArrayLike,
    alignment: Alignment = "root",
    mask: ArrayLike | None = None,
) -> torch.Tensor:
    """Euclidean error per joint ``(N, J)`` in mm after ``alignment`` (fit on ``mask``)."""
    err, _, out = _joint_errors(pred, gt, mask, alignment)
    return err.to(out)


def pose_error(
    pred: ArrayLike,
    gt: ArrayLike,
    mask: ArrayLike | None = None,
    alignment: Alignment = "root",
) -> torch.Tensor:
    """Mean per-joint position error per sample ``(N,)`` in mm after ``alignment``."""
    err, m, out = _joint_errors(pred, gt, mask, alignment)
    return _masked_mean(err, m).to(out)


def mpjpe(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> torch.Tensor:
    """Protocol #1, MPJPE: mean per-joint error after root alignment, ``(N,)`` mm."""
    return pose_error(pred, gt, mask, alignment="root")


def p_mpjpe(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> torch.Tensor:
    """Protocol #2, P-MPJPE: MPJPE after similarity Procrustes alignment, ``(N,)`` mm."""
    return pose_error(pred, gt, mask, alignment="procrustes")


def n_mpjpe(pred: ArrayLike, gt: ArrayLike, mask: ArrayLike | None = None) -> torch.Tensor:
    """N-MPJPE: MPJPE after optimal scaling of the root-relative prediction, ``(N,)`` mm."""
    return pose_error(pred, gt, mask, alignment="scale")


# --- MPI-INF-3DHP ----------------------------------------------------------------------------
def _selected_errors(
    pred: ArrayLike,
    gt: ArrayLike,
    joints: Sequence[int] | None,
    mask: ArrayLike | None,
    alignment: Alignment,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.dtype]:
    """Per-joint errors and counted-joint mask restricted to ``joints`` (``(N, K)``), out dtype."""
    err, m, out = _joint_errors(pred, gt, mask, alignment)
    if joints is not None:
        idx = torch.as_tensor(list(joints), dtype=torch.long, device=err.device)
        err = err[:, idx]
        m = None if m is None else m[:, idx]
    return err, m, out


def pck(
    pred: ArrayLike,
    gt: ArrayLike,
    threshold_mm: float = 150.0,
    joints: Sequence[int] | None = EVAL14_3DHP,
    mask: ArrayLike | None = None,
    alignment: Alignment = "root",
) -> torch.Tensor:
    """3D PCK per sample ``(N,)``: fraction of joints with error strictly ``< threshold_mm``.

    The 3DHP protocol: root-relative poses in mm, the 14 joints of
    :data:`lbi.skeleton.EVAL14_3DHP` (``joints=None``: all J), threshold 150 mm.
    """
    err, m, out = _selected_errors(pred, gt, joints, mask, alignment)
    hit = (err < threshold_mm).to(torch.float64)
    return _masked_mean(hit, m).to(out)


def auc(
    pred: ArrayLike,
    gt: ArrayLike,
    joints: Sequence[int] | None = EVAL14_3DHP,
    mask: ArrayLike | None = None,
    alignment: Alignment = "root",
) -> torch.Tensor:
    """3D PCK AUC per sample ``(N,)``: mean of :func:`pck` over thresholds 0, 5, ..., 150 mm.

    The 31 thresholds (:data:`AUC_THRESHOLDS_MM`) and the strict ``<`` follow the
    dataset's ``mpii_compute_3d_pck.m``; the 0 mm threshold never counts, so a perfect
    prediction scores 30/31 (~0.968), not 1.
    """
    err, m, out = _selected_errors(pred, gt, joints, mask, alignment)
    thr = torch.tensor(AUC_THRESHOLDS_MM, dtype=err.dtype, device=err.device)
    # count of thresholds each joint passes: (N, K), an integer in 0..31
    passed = len(thr) - torch.searchsorted(thr, err, right=True)  # thresholds t > err
    passed = passed.to(torch.float64)
    return (_masked_mean(passed, m) / len(AUC_THRESHOLDS_MM)).to(out)


# --- aggregation -----------------------------------------------------------------------------
def _finite_numpy(errors: ArrayLike) -> np.ndarray:
    if isinstance(errors, torch.Tensor):
        errors = errors.detach().cpu().numpy()
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 1 or e.size == 0:
        raise ValueError(
            f"expected a non-empty (N,) array of per-sample errors, got shape {e.shape}"
        )
    bad = int((~np.isfinite(e)).sum())
    if bad:
        raise ValueError(f"{bad} of {e.size} per-sample errors are NaN/inf; refusing to average")
    return e


def framewise_mean(errors: ArrayLike) -> float:
    """Mean over all samples (frames) of per-sample errors ``(N,)``."""
    return float(_finite_numpy(errors).mean())


def actionwise_mean(
    errors: ArrayLike, actions: Sequence[str] | np.ndarray
) -> tuple[float, dict[str, float]]:
    """Mean over actions of the per-action mean errors (Human3.6M tables' "Avg").

    ``errors`` ``(N,)``, ``actions`` ``(N,)`` names (pass canonical names, see
    :func:`lbi.actions.canonical_action`). Returns ``(average, {action: mean})``, the
    dict in :data:`~lbi.actions.H36M_ACTIONS` order, other names after it, sorted.
    Differs from :func:`framewise_mean` when actions have different frame counts.
    """
    e = _finite_numpy(errors)
    a = np.asarray(actions).astype(str)
    if a.shape != e.shape:
        raise ValueError(f"errors {e.shape} and actions {a.shape} must have the same length")
    names = set(a.tolist())
    order = [x for x in H36M_ACTIONS if x in names] + sorted(names - set(H36M_ACTIONS))
    per_action = {name: float(e[a == name].mean()) for name in order}
    return float(np.mean(list(per_action.values()))), per_action

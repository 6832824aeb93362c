"""Camera geometry: rotations, world <-> camera frames, projection, screen normalisation, crops.

Units and conventions used throughout (implemented from the published definitions):

- 3D points are in **millimetres**; image points in **pixels**.
- Pixel coordinates put integer values at pixel *centres* (pixel ``(0, 0)`` covers
  ``[-0.5, 0.5)^2``), as in Human3.6M keypoints and OpenCV; :func:`warp_crop` converts to
  PIL's corner-based convention internally.
- Point arrays are ``(..., J, 3)`` (3D) or ``(..., J, 2)`` (2D). Per-camera parameters are
  either unbatched (``(4,)``, ``(3,)``, ``(9,)``, ``(2, 3)``) or carry the same leading
  dims ``...`` as the points (one camera / crop per pose).
- Functions take numpy arrays or torch tensors; parameters are converted to the
  namespace, dtype and device of the points, and the result has the points' type.

Human3.6M camera tables (the VideoPose3D-style ``h36m_cameras_extrinsic_params``):
``orientation`` is a unit quaternion ``(w, x, y, z)`` and ``translation`` the camera
centre in world coordinates (mm). A world point maps to the camera frame by
``X_cam = R(q)^T (X - t)``: :func:`world_to_camera`. The raw H36M / Martinez tables give
instead a world-to-camera rotation matrix ``R = R(q)^T`` with the same ``t``:
:func:`world_to_camera_R` uses ``X_cam = R (X - t)``.

Intrinsics are a 9-vector ``[fx, fy, cx, cy, k1, k2, k3, p1, p2]`` (focal lengths and
principal point in px; radial ``k1..k3`` and tangential ``p1, p2`` distortion, unitless,
acting on normalised coordinates), the H36M 9-parameter layout.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

Array = Any  # np.ndarray | torch.Tensor (kept loose: functions are namespace-generic)
Distortion = Literal["opencv", "videopose3d"]


# --- numpy / torch helpers --------------------------------------------------------------
def _xp(x: Array) -> Any:
    return torch if isinstance(x, torch.Tensor) else np


def _like(a: Array, ref: Array) -> Array:
    """``a`` converted to ``ref``'s namespace (and, for torch, dtype/device); floats only."""
    if isinstance(ref, torch.Tensor):
        dtype = ref.dtype if ref.is_floating_point() else torch.float64
        return torch.as_tensor(a, dtype=dtype, device=ref.device)
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _numpy(a: Array) -> np.ndarray:
    """``a`` as a float64 numpy array."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _float(x: Array) -> Array:
    """``x`` as a float array/tensor (ints become float64)."""
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.to(torch.float64)
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _swap_last(x: Array) -> Array:
    """Swap the last two axes."""
    return _xp(x).swapaxes(x, -1, -2)


# --- rotations --------------------------------------------------------------------------
def quat_to_rotmat(q: Array) -> Array:
    """Unit quaternion ``(..., 4)`` as ``(w, x, y, z)`` -> rotation matrix ``(..., 3, 3)``.

    ``R @ v`` equals the quaternion rotation ``q v q*``. ``q`` is normalised first, so a
    slightly non-unit quaternion (e.g. printed with few digits) still gives a rotation.
    """
    q = _float(q)
    xp = _xp(q)
    q = q / xp.sqrt((q * q).sum(-1, keepdims=True))
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return xp.stack([xp.stack(r, -1) for r in rows], -2)


def rotmat_to_quat(R: Array) -> Array:
    """Rotation matrix ``(..., 3, 3)`` -> unit quaternion ``(..., 4)`` ``(w, x, y, z)``, ``w >= 0``.

    Shepperd's method: of the four algebraically equivalent formulas, each sample uses
    the one with the largest (best-conditioned) square root.
    """
    R = _float(R)
    xp = _xp(R)
    r = [[R[..., i, j] for j in range(3)] for i in range(3)]
    tr = r[0][0] + r[1][1] + r[2][2]
    # 4 q_i^2 for i = w, x, y, z
    sq = xp.stack(
        [1 + tr, 1 + r[0][0] - r[1][1] - r[2][2], 1 - r[0][0] + r[1][1] - r[2][2],
         1 - r[0][0] - r[1][1] + r[2][2]],
        -1,
    )  # fmt: skip
    root = xp.sqrt(xp.clip(sq, 1e-12, None))  # (..., 4) = 2 |q_i|
    w_, x_, y_, z_ = (root[..., i] for i in range(4))
    a, b, c = r[2][1] - r[1][2], r[0][2] - r[2][0], r[1][0] - r[0][1]  # 4 w (x, y, z)
    d, e, f = r[0][1] + r[1][0], r[0][2] + r[2][0], r[1][2] + r[2][1]  # 4 (xy, xz, yz)
    cands = xp.stack(
        [
            xp.stack([w_ * w_, a, b, c], -1) / (2 * w_[..., None]),
            xp.stack([a, x_ * x_, d, e], -1) / (2 * x_[..., None]),
            xp.stack([b, d, y_ * y_, f], -1) / (2 * y_[..., None]),
            xp.stack([c, e, f, z_ * z_], -1) / (2 * z_[..., None]),
        ],
        -2,
    )  # (..., 4 candidates, 4)
    best = sq.argmax(-1)  # (...)
    onehot = best[..., None] == xp.arange(4, **({} if xp is np else {"device": R.device}))
    q = (cands * onehot[..., None]).sum(-2)  # (..., 4)
    q = xp.where(q[..., :1] < 0, -q, q)
    return q / xp.sqrt((q * q).sum(-1, keepdims=True))


# --- world <-> camera -------------------------------------------------------------------
def world_to_camera(X: Array, orientation: Array, translation: Array) -> Array:
    """World points ``(..., J, 3)`` mm -> camera frame ``(..., J, 3)`` mm (H36M quaternion tables).

    ``X_cam = R(q)^T (X - t)``: rotate by the inverse of ``orientation`` ``(..., 4)``
    ``(w, x, y, z)``; ``translation`` ``(..., 3)`` is the camera centre in world mm.
    """
    R = quat_to_rotmat(_like(orientation, X))
    t = _like(translation, X)
    return (X - t[..., None, :]) @ R  # row-vector form of R^T (X - t)


def camera_to_world(X_cam: Array, orientation: Array, translation: Array) -> Array:
    """Inverse of :func:`world_to_camera`: ``X = R(q) X_cam + t`` (mm)."""
    R = quat_to_rotmat(_like(orientation, X_cam))
    t = _like(translation, X_cam)
    return X_cam @ _swap_last(R) + t[..., None, :]


def world_to_camera_R(X: Array, R: Array, t: Array) -> Array:
    """World points ``(..., J, 3)`` mm -> camera frame with a world-to-camera matrix.

    ``X_cam = R (X - t)`` with ``R`` ``(..., 3, 3)`` (raw H36M / Martinez convention,
    ``R = quat_to_rotmat(orientation)^T``) and ``t`` ``(..., 3)`` the camera centre (mm).
    """
    R, t = _like(R, X), _like(t, X)
    return (X - t[..., None, :]) @ _swap_last(R)


def camera_to_world_R(X_cam: Array, R: Array, t: Array) -> Array:
    """Inverse of :func:`world_to_camera_R`: ``X = R^T X_cam + t`` (mm)."""
    R, t = _like(R, X_cam), _like(t, X_cam)
    return X_cam @ R + t[..., None, :]


# --- projection ---------------------------------------------------------------------------
def _split_intrinsics(intrinsics: Array, ref: Array) -> tuple[Array, Array, Array, Array]:
    """``(..., 9)`` (or ``(..., 4)``) -> f, c ``(..., 1, 2)``, k ``(..., 1, 3)``, p ``(..., 1, 2)``."""
    K = _like(intrinsics, ref)[..., None, :]
    if K.shape[-1] not in (4, 9):
        raise ValueError(
            f"intrinsics must have 9 (or 4) entries on the last axis, got {K.shape[-1]}"
        )
    f, c = K[..., 0:2], K[..., 2:4]
    return f, c, K[..., 4:7], K[..., 7:9]


def _distortion_terms(xy: Array, k: Array, p: Array, model: Distortion) -> tuple[Array, Array]:
    """Distortion of normalised ``xy`` ``(..., J, 2)`` as ``xy_d = xy * factor + add``."""
    x, y = xy[..., 0:1], xy[..., 1:2]
    r2 = x * x + y * y
    radial = 1 + k[..., 0:1] * r2 + k[..., 1:2] * r2**2 + k[..., 2:3] * r2**3
    p1, p2 = p[..., 0:1], p[..., 1:2]
    xp = _xp(xy)
    if model == "opencv":
        add = xp.concatenate(
            [2 * p1 * x * y + p2 * (r2 + 2 * x * x), p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], -1
        )
        return radial, add
    if model == "videopose3d":
        return radial + p1 * x + p2 * y, p * r2
    raise ValueError(f"unknown distortion model {model!r}; expected 'opencv' or 'videopose3d'")


def project(X_cam: Array, intrinsics: Array, *, distortion: Distortion = "opencv") -> Array:
    """Camera-frame points ``(..., J, 3)`` mm -> pixels ``(..., J, 2)`` with lens distortion.

    With normalised coordinates ``x = X/Z, y = Y/Z``, ``r^2 = x^2 + y^2`` and
    ``radial = 1 + k1 r^2 + k2 r^4 + k3 r^6``, ``distortion="opencv"`` (default) is the
    standard Brown–Conrady model (OpenCV's, with ``p1, p2`` in OpenCV order)::

        x' = x radial + 2 p1 x y + p2 (r^2 + 2 x^2)
        y' = y radial + p1 (r^2 + 2 y^2) + 2 p2 x y
        u = fx x' + cx,   v = fy y' + cy

    ``distortion="videopose3d"`` reproduces VideoPose3D's ``project_to_2d`` (which is what
    made its ``data_2d_h36m_gt.npz``): ``x, y`` clamped to ``[-1, 1]``, then
    ``x' = x (radial + p1 x + p2 y) + p1 r^2`` and ``y' = y (radial + p1 x + p2 y) + p2 r^2``.
    The two differ only in the tangential terms (H36M's ``p`` are ~1e-3: under 1 px even at
    the frame corners).
    Points must lie in front of the camera (``Z > 0``).
    """
    f, c, k, p = _split_intrinsics(intrinsics, X_cam)
    xy = X_cam[..., :2] / X_cam[..., 2:3]
    if distortion == "videopose3d":
        xy = _xp(xy).clip(xy, -1, 1)
    if k.shape[-1] == 0:  # 4-vector intrinsics: pinhole
        return f * xy + c
    factor, add = _distortion_terms(xy, k, p, distortion)
    return f * (xy * factor + add) + c


def project_pinhole(X_cam: Array, intrinsics: Array) -> Array:
    """Camera-frame points ``(..., J, 3)`` mm -> pixels ``(..., J, 2)``, no distortion.

    ``u = fx X/Z + cx``, ``v = fy Y/Z + cy``; ``intrinsics`` is ``(..., 9)`` or ``(..., 4)``.
    """
    f, c, _, _ = _split_intrinsics(intrinsics, X_cam)
    return f * X_cam[..., :2] / X_cam[..., 2:3] + c


def unproject(
    uv: Array,
    depth_mm: Array,
    intrinsics: Array,
    *,
    distortion: Distortion = "opencv",
    max_iter: int = 100,
    tol: float = 1e-12,
) -> Array:
    """Pixels ``(..., J, 2)`` + depth ``Z`` ``(..., J)`` mm -> camera-frame points ``(..., J, 3)`` mm.

    Inverse of :func:`project` (same ``distortion`` model). Distortion is removed by the
    fixed-point iteration ``xy <- (xy_d - add(xy)) / factor(xy)`` until the update is below
    ``tol`` (normalised units) or ``max_iter`` steps; it converges for the mild
    distortion of real lenses (H36M: ~10 steps). ``depth_mm`` is the camera-frame ``Z``,
    not the distance along the ray.
    """
    f, c, k, p = _split_intrinsics(intrinsics, uv)
    xy_d = (uv - c) / f
    xy = xy_d
    if k.shape[-1] and bool((k != 0).any() or (p != 0).any()):
        finfo = torch.finfo if isinstance(xy, torch.Tensor) else np.finfo
        tol = max(tol, 8 * float(finfo(xy.dtype).eps))  # float32 cannot reach 1e-12
        for _ in range(max_iter):
            factor, add = _distortion_terms(xy, k, p, distortion)
            new = (xy_d - add) / factor
            step = float(abs(new - xy).max()) if math.prod(new.shape) else 0.0
            xy = new
            if step < tol:
                break
    z = _like(depth_mm, uv)[..., None]
    return _xp(uv).concatenate([xy * z, z], -1)


# --- screen normalisation (VideoPose3D) ---------------------------------------------------
def normalize_screen(X: Array, w: Array, h: Array) -> Array:
    """Pixels ``(..., 2)`` -> ``X / w * 2 - [1, h / w]``: x in ``[-1, 1]``, aspect kept.

    ``w, h`` (px) are scalars or arrays broadcastable against ``X[..., 0]`` (for
    ``X`` ``(N, J, 2)`` with per-sample sizes pass ``w[:, None]``).
    """
    xp = _xp(X)
    x = X[..., 0] / w * 2 - 1
    y = X[..., 1] / w * 2 - h / w
    return xp.stack([x, y], -1)


def denormalize_screen(Xn: Array, w: Array, h: Array) -> Array:
    """Inverse of :func:`normalize_screen`: ``(Xn + [1, h / w]) * w / 2`` (px)."""
    xp = _xp(Xn)
    x = (Xn[..., 0] + 1) * w / 2
    y = (Xn[..., 1] + h / w) * w / 2
    return xp.stack([x, y], -1)


# --- crop affine ----------------------------------------------------------------------------
def crop_affine(center: Array, size: Array, out_hw: tuple[int, int] = (256, 192)) -> Array:
    """Affine ``(..., 2, 3)`` mapping full-image px to crop px: ``[u, v] = A @ [x, y, 1]``.

    ``center`` ``(..., 2)`` and ``size`` ``(..., 2)`` (box width, height) are in image px.
    The box is first grown, about its centre, to the output aspect ratio ``ow / oh``
    (the larger of the two needed scalings wins, so nothing in the box is cut): the
    crop scale is ``s = min(ow / bw, oh / bh)`` crop px per image px, without rotation.
    The box centre maps to the crop centre ``((ow - 1) / 2, (oh - 1) / 2)`` and the box
    edges to the crop's outer pixel edges (``-0.5`` and ``ow - 0.5``).
    """
    center, size = _float(center), _like(size, _float(center))
    if bool((size <= 0).any()):
        raise ValueError("crop box size must be positive")
    xp = _xp(center)
    oh, ow = out_hw
    s = xp.minimum(ow / size[..., 0], oh / size[..., 1])
    zero = s * 0
    row0 = xp.stack([s, zero, (ow - 1) / 2 - s * center[..., 0]], -1)
    row1 = xp.stack([zero, s, (oh - 1) / 2 - s * center[..., 1]], -1)
    return xp.stack([row0, row1], -2)


def invert_affine(A: Array) -> Array:
    """Inverse of a 2D affine ``(..., 2, 3)`` (e.g. crop px -> full-image px)."""
    A = _float(A)
    xp = _xp(A)
    a, b, tx = A[..., 0, 0], A[..., 0, 1], A[..., 0, 2]
    c, d, ty = A[..., 1, 0], A[..., 1, 1], A[..., 1, 2]
    det = a * d - b * c
    ia, ib, ic, id_ = d / det, -b / det, -c / det, a / det
    row0 = xp.stack([ia, ib, -(ia * tx + ib * ty)], -1)
    row1 = xp.stack([ic, id_, -(ic * tx + id_ * ty)], -1)
    return xp.stack([row0, row1], -2)


def apply_affine(points: Array, A: Array) -> Array:
    """Apply ``A`` ``(..., 2, 3)`` (or ``(2, 3)``) to points ``(..., J, 2)`` -> ``(..., J, 2)``."""
    A = _like(A, points)
    return points @ _swap_last(A[..., :2]) + A[..., None, :, 2]


def box_from_points(points: Array, margin: float = 1.2) -> tuple[Array, Array]:
    """Box around 2D points ``(..., J, 2)`` px -> ``(center (..., 2), size (..., 2))`` px.

    ``center`` is the middle of the points' extent, ``size`` the extent times ``margin``.
    """
    points = _float(points)
    if isinstance(points, torch.Tensor):
        lo, hi = points.amin(-2), points.amax(-2)
    else:
        lo, hi = points.min(-2), points.max(-2)
    return (lo + hi) / 2, (hi - lo) * margin


def box_from_3d(
    pose3d_cam: Array, intrinsics: Array, extent_mm: float = 2000.0
) -> tuple[Array, Array]:
    """Box from a camera-frame pose ``(..., J, 3)`` mm -> ``(center (..., 2), size (..., 2))`` px.

    The usual image-lifting recipe: a square of side ``extent_mm`` centred on the root
    (joint 0), parallel to the image plane at the root's depth ``Z0``. ``center`` is
    the root projected with the full (distorted) model, ``size = (fx, fy) * extent / Z0``.
    """
    root = pose3d_cam[..., :1, :]  # (..., 1, 3)
    center = project(root, intrinsics)[..., 0, :]
    f, _, _, _ = _split_intrinsics(intrinsics, pose3d_cam)
    size = f[..., 0, :] * extent_mm / root[..., 0, 2:3]
    return center, size


def warp_crop(image: np.ndarray, A: Array, out_hw: tuple[int, int] = (256, 192)) -> np.ndarray:
    """Warp an RGB image ``(H, W, 3)`` uint8 into the crop ``(oh, ow, 3)`` uint8 given by ``A``.

    ``A`` ``(2, 3)`` maps image px to crop px (:func:`crop_affine`). Uses PIL's affine
    transform (bilinear, no antialiasing; outside the image is black) with the inverse
    map, corrected for PIL's pixel-corner convention, so that a point at ``x`` in the
    image lands at ``apply_affine(x, A)`` in the crop.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.dtype} {image.shape}")
    B = invert_affine(_numpy(A))
    if B.shape != (2, 3):
        raise ValueError(f"expected one (2, 3) affine, got shape {B.shape}")
    # PIL samples output pixel (i, j) at its corner-based centre (i + .5, j + .5) and reads
    # the input in corner-based coordinates: x_c = B (u_c - .5) + b + .5.
    coeffs = B.copy()
    coeffs[:, 2] += 0.5 - 0.5 * (B[:, 0] + B[:, 1])
    oh, ow = out_hw
    out = Image.fromarray(image).transform(
        (ow, oh),
        Image.Transform.AFFINE,
        data=tuple(coeffs.reshape(-1)),
        resample=Image.Resampling.BILINEAR,
        fillcolor=(0, 0, 0),
    )
    return np.asarray(out)

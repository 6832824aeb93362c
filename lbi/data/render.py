"""Vectorised CPU ray casting of capsule bodies straight into crop space, and backgrounds.

A full-image pinhole camera composed with a crop affine (scale + shift) is again a
perspective map, so only the crop is rasterised: crop pixel ``(u, v)`` (integer values at
pixel centres, as in :mod:`lbi.camera`) -> full-image px ``(x, y) = A^-1 [u, v, 1]`` -> ray
``d = ((x - cx) / fx, (y - cy) / fy, 1)`` in the camera frame (mm, x right, y down, z
forward). With ``d_z = 1`` the ray parameter ``t`` of a hit *is* its camera depth ``Z``.

Depth cues the images carry and a 2D pose does not, as a real camera sees them:

- exact perspective: limbs get thinner with distance, spheres stay round (ray-capsule
  intersection, no 2D approximation);
- occlusion order: a z-buffer over all capsules;
- shading (:class:`Light`): Lambert on the capsule normals under directional lights fixed
  in the world (a key light and an optional second one) plus an ambient term, brighter on
  surfaces facing up with ``sky > 0`` (sky or ceiling light). Nothing depends on the
  distance to the camera.

The ``cues`` look of :mod:`lbi.data.embedded` adds two cues no camera sees: a fill light
*at the camera* (``Light.fill_dir = None``) and an inverse-power fall-off of the distance
to the camera normalised to 1 at the pelvis (``Light.falloff > 0``: ``(|root| / |P|) **
falloff``; 2 = a point light at the camera), which makes brightness a depth code.

Anti-aliasing: ``ss x ss`` supersampling of the body; the foreground mask is coverage >= 1/2.
Culling: each capsule's screen bounding box (the projection of its 3D bounding box) picks
the 8x8 tiles of the supersampled canvas that are intersected, so work scales with the
body's area, not the crop's times the number of capsules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from lbi.camera import invert_affine

TILE = 8
_NEAR_MM = 50.0


def ray_matrix(crop_affine: np.ndarray, intrinsics: np.ndarray, ss: int = 1) -> np.ndarray:
    """``M (B, 3, 3)``: ray ``d = M @ [j, i, 1]`` for canvas pixel (column j, row i).

    The canvas is the crop supersampled ``ss`` times: canvas pixel ``j`` has crop coordinate
    ``u = (j + 0.5) / ss - 0.5``. ``crop_affine (B, 2, 3)`` maps full px to crop px,
    ``intrinsics (B, 9)`` are pinhole (distortion is ignored: the generator uses none).
    """
    Ainv = invert_affine(np.asarray(crop_affine, np.float64))  # (B, 2, 3) crop -> full px
    K = np.asarray(intrinsics, np.float64)
    B = len(K)
    S = np.array([[1 / ss, 0, 0.5 / ss - 0.5], [0, 1 / ss, 0.5 / ss - 0.5], [0, 0, 1]])
    M = np.zeros((B, 3, 3))
    M[:, 0] = Ainv[:, 0] / K[:, 0:1]
    M[:, 0, 2] -= K[:, 2] / K[:, 0]
    M[:, 1] = Ainv[:, 1] / K[:, 1:2]
    M[:, 1, 2] -= K[:, 3] / K[:, 1]
    M[:, 2, 2] = 1.0
    return M @ S


@dataclass(frozen=True)
class Light:
    """Lights of one render call (the key light's direction is per sample, world-fixed).

    The defaults are the ``cues`` look's lab light (fill at the camera, fall-off 2);
    :func:`lbi.data.embedded.lab_light` and ``wild_light`` build the natural ones.
    """

    ambient: float = 0.3
    key: float = 0.45
    fill: float = 0.4  # second light: Lambert on n . fill_dir (None: n . -view, at the camera)
    falloff: float = 2.0  # exponent of the camera-distance fall-off (0: none), 1 at the pelvis
    fill_dir: tuple[float, float, float] | None = None  # world direction towards the fill light
    sky: float = 0.0  # ambient x (1 + sky * n . up): sky / ceiling light from above, in [0, 1]


def render_bodies(
    seg: np.ndarray,
    radii: np.ndarray,
    colors: np.ndarray,
    M: np.ndarray,
    root: np.ndarray,
    key_dir: np.ndarray,
    light: Light,
    hw: tuple[int, int],
    ss: int,
    fill_dir: np.ndarray | None = None,
    up_dir: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast capsule bodies into crops.

    Args:
        seg: ``(B, K, 2, 3)`` capsule segment end points, camera frame, mm.
        radii: ``(B, K)`` mm (a sphere is a capsule with equal end points).
        colors: ``(B, K, 3)`` albedo in [0, 1].
        M: ``(B, 3, 3)`` ray matrices from :func:`ray_matrix` (same ``ss``).
        root: ``(B, 3)`` pelvis position, camera frame, mm (shading normalisation).
        key_dir: ``(B, 3)`` unit vector towards the key light, camera frame.
        hw: crop ``(H, W)``; ss: supersampling factor.
        fill_dir: ``(B, 3)`` unit vector towards the fill light, camera frame (needed when
            ``light.fill_dir`` is set; None: the fill light is at the camera).
        up_dir: ``(B, 3)`` world up in the camera frame (needed when ``light.sky > 0``).

    Returns:
        ``fg (B, H, W, 3)`` float32 shaded colour premultiplied by coverage, and
        ``cov (B, H, W)`` float32 coverage in [0, 1].
    """
    B, K = seg.shape[:2]
    H, W = hw
    Hs, Ws = H * ss, W * ss
    nty, ntx = -(-Hs // TILE), -(-Ws // TILE)
    Hp, Wp = nty * TILE, ntx * TILE
    zbuf = np.full(B * Hp * Wp, np.inf, np.float32)
    ibuf = np.full(B * Hp * Wp, -1, np.int16)
    a, b = seg[:, :, 0].astype(np.float64), seg[:, :, 1].astype(np.float64)
    axis = b - a
    L = np.linalg.norm(axis, axis=-1)  # (B, K)
    u = np.where(L[..., None] > 1e-9, axis / np.maximum(L, 1e-9)[..., None], [0.0, 0.0, 1.0])
    au = (a * u).sum(-1)
    a_perp = a - au[..., None] * u
    c_cyl = (a_perp**2).sum(-1) - radii**2
    c_a = (a**2).sum(-1) - radii**2
    c_b = (b**2).sum(-1) - radii**2
    lo, hi = _screen_boxes(a, b, radii, np.linalg.inv(M), (Hs, Ws))  # (B, K, 2) canvas px
    ty, tx = np.arange(nty) * TILE, np.arange(ntx) * TILE
    oy, ox = np.divmod(np.arange(TILE * TILE), TILE)
    f32 = np.float32
    for k in range(K):
        hit_tiles = (
            (ty[None, :, None] + TILE > lo[:, k, None, None, 1])
            & (ty[None, :, None] <= hi[:, k, None, None, 1])
            & (tx[None, None, :] + TILE > lo[:, k, None, None, 0])
            & (tx[None, None, :] <= hi[:, k, None, None, 0])
        )  # (B, nty, ntx)
        bi, tyi, txi = np.nonzero(hit_tiles)
        if len(bi) == 0:
            continue
        pi = (tyi * TILE)[:, None] + oy  # (P, 64) canvas rows
        pj = (txi * TILE)[:, None] + ox
        Mb = M[bi].astype(f32)  # (P, 3, 3)
        dx = Mb[:, 0, 0, None] * pj + Mb[:, 0, 1, None] * pi + Mb[:, 0, 2, None]
        dy = Mb[:, 1, 0, None] * pj + Mb[:, 1, 1, None] * pi + Mb[:, 1, 2, None]
        dd = dx * dx + dy * dy + 1.0
        uk, ak, bk = u[bi, k].astype(f32), a[bi, k].astype(f32), b[bi, k].astype(f32)
        apk = a_perp[bi, k].astype(f32)
        du = dx * uk[:, 0, None] + dy * uk[:, 1, None] + uk[:, 2, None]
        # infinite cylinder about the axis, valid where the axial coordinate is in [0, L]
        qa = dd - du * du
        qb = dx * apk[:, 0, None] + dy * apk[:, 1, None] + apk[:, 2, None]
        disc = qb * qb - qa * c_cyl[bi, k, None].astype(f32)
        with np.errstate(invalid="ignore", divide="ignore"):
            t_c = (qb - np.sqrt(disc)) / qa
            s = t_c * du - au[bi, k, None].astype(f32)
            ok = (
                (disc >= 0) & (qa > 1e-9) & (t_c > 0) & (s >= 0) & (s <= L[bi, k, None].astype(f32))
            )
            t = np.where(ok, t_c, np.inf)
            for cen, cc in ((ak, c_a), (bk, c_b)):  # end spheres
                dc = dx * cen[:, 0, None] + dy * cen[:, 1, None] + cen[:, 2, None]
                disc = dc * dc - dd * cc[bi, k, None].astype(f32)
                t_s = (dc - np.sqrt(disc)) / dd
                t = np.where((disc >= 0) & (t_s > 0) & (t_s < t), t_s, t)
        flat = (bi[:, None] * Hp + pi) * Wp + pj
        better = t < zbuf[flat]
        zbuf[flat[better]] = t[better]
        ibuf[flat[better]] = k
    zbuf = zbuf.reshape(B, Hp, Wp)
    ibuf = ibuf.reshape(B, Hp, Wp)
    bi, pi, pj = np.nonzero(ibuf >= 0)  # hit canvas pixels (never in the padding)
    rgb = _shade(
        zbuf[bi, pi, pj], ibuf[bi, pi, pj], bi, pi, pj, a, u, L, colors, M, root, key_dir, light,
        fill_dir, up_dir,
    )  # fmt: skip
    # box-filter the ss x ss samples of each crop pixel: scatter-add, then divide
    cell = (bi * H + pi // ss) * W + pj // ss
    n = B * H * W
    fg = np.stack([np.bincount(cell, rgb[:, c], n) for c in range(3)], -1) / ss**2
    cov = np.bincount(cell, None, n) / ss**2
    return fg.reshape(B, H, W, 3).astype(np.float32), cov.reshape(B, H, W).astype(np.float32)


def _screen_boxes(
    a: np.ndarray, b: np.ndarray, r: np.ndarray, Minv: np.ndarray, hw: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Canvas bounding boxes ``lo, hi (B, K, 2)`` (x, y) of capsules.

    The projection of the capsule lies in the convex hull of the projected corners of its
    3D bounding box (perspective maps segments to segments in front of the camera); a box
    reaching behind the near plane gets the whole canvas.
    """
    mn = np.minimum(a, b) - r[..., None]
    mx = np.maximum(a, b) + r[..., None]
    sel = np.array([[(i >> k) & 1 for k in range(3)] for i in range(8)], bool)  # (8, 3)
    corners = np.where(sel, mx[:, :, None, :], mn[:, :, None, :])  # (B, K, 8, 3)
    z = corners[..., 2:3]
    front = (z > _NEAR_MM).all(-2)[..., 0]  # (B, K)
    ndc = corners / np.maximum(z, _NEAR_MM)
    pix = np.einsum("bij,bkcj->bkci", Minv, ndc)[..., :2]  # (B, K, 8, 2)
    lo = np.floor(pix.min(-2)) - 1
    hi = np.ceil(pix.max(-2)) + 1
    lo = np.where(front[..., None], lo, 0)
    hi = np.where(front[..., None], hi, [hw[1], hw[0]])
    return lo, hi


def _shade(
    t: np.ndarray,
    k: np.ndarray,
    bi: np.ndarray,
    pi: np.ndarray,
    pj: np.ndarray,
    a: np.ndarray,
    u: np.ndarray,
    L: np.ndarray,
    colors: np.ndarray,
    M: np.ndarray,
    root: np.ndarray,
    key_dir: np.ndarray,
    light: Light,
    fill_dir: np.ndarray | None = None,
    up_dir: np.ndarray | None = None,
) -> np.ndarray:
    """Shaded colour ``(n, 3)`` of hit canvas pixels (sample ``bi``, row ``pi``, column ``pj``)
    at depth ``t`` on capsule ``k``."""
    if (light.fill_dir is not None and fill_dir is None) or (light.sky > 0 and up_dir is None):
        raise ValueError("render_bodies: this Light needs fill_dir / up_dir (camera frame)")
    k = k.astype(np.int64)
    Mb = M[bi]  # (n, 3, 3)
    d = Mb[:, :, 0] * pj[:, None] + Mb[:, :, 1] * pi[:, None] + Mb[:, :, 2]  # (n, 3)
    P = t[:, None].astype(np.float64) * d  # (n, 3) mm, camera frame
    ak, uk = a[bi, k], u[bi, k]
    s = np.clip(((P - ak) * uk).sum(-1), 0.0, L[bi, k])
    n = P - ak - s[:, None] * uk  # outward normal (from the nearest axis point)
    n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
    lam_key = np.clip((n * key_dir[bi]).sum(-1), 0.0, None)
    if light.fill_dir is None:  # cues look: a fill light at the camera
        dist = np.linalg.norm(P, axis=-1)
        lam_fill = np.clip(-(n * P).sum(-1) / dist, 0.0, None)
    else:
        lam_fill = np.clip((n * fill_dir[bi]).sum(-1), 0.0, None)  # type: ignore[index]
    ambient = light.ambient
    if light.sky > 0:  # hemisphere: more light on surfaces facing the sky / ceiling
        ambient = light.ambient * (1.0 + light.sky * (n * up_dir[bi]).sum(-1))  # type: ignore[index]
    lum = ambient + light.key * lam_key + light.fill * lam_fill
    if light.falloff > 0:  # cues look: brightness codes the distance to the camera
        lum *= (np.linalg.norm(root[bi], axis=-1) / np.linalg.norm(P, axis=-1)) ** light.falloff
    return np.clip(colors[bi, k] * lum[:, None], 0.0, 1.0)


# --- backgrounds --------------------------------------------------------------------------
def crop_pixel_coords(crop_affine: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """Full-image px ``(B, H, W, 2)`` float32 (x, y) of every crop pixel centre."""
    Ai = invert_affine(np.asarray(crop_affine, np.float64)).astype(np.float32)[:, :, :, None, None]
    v, u = np.mgrid[0 : hw[0], 0 : hw[1]].astype(np.float32)
    return np.stack([Ai[:, r, 0] * u + Ai[:, r, 1] * v + Ai[:, r, 2] for r in (0, 1)], -1)


def sample_bilinear(img: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear lookup ``(..., C)`` float32 of ``img (H, W, C)`` at px ``xy (..., 2)`` (clamped)."""
    H, W, C = img.shape
    planes = np.ascontiguousarray(np.moveaxis(np.asarray(img, np.float32), -1, 0).reshape(C, -1))
    x = np.clip(xy[..., 0], 0, W - 1.001).astype(np.float32)
    y = np.clip(xy[..., 1], 0, H - 1.001).astype(np.float32)
    x0, y0 = x.astype(np.int32), y.astype(np.int32)
    fx, fy = x - x0, y - y0
    i = y0 * W + x0
    out = np.empty((*x.shape, C), np.float32)
    for c, p in enumerate(planes):
        a, b, cc, d = p.take(i), p.take(i + 1), p.take(i + W), p.take(i + W + 1)
        top = a + (b - a) * fx
        out[..., c] = top + (cc + (d - cc) * fx - top) * fy
    return out


@dataclass(frozen=True)
class Room:
    """A lab: a box room (mm, z up, centred on the capture area) with painted walls."""

    half_size: float = 6000.0
    height: float = 3500.0
    walls: tuple[tuple[float, float, float], ...] = (
        (0.62, 0.64, 0.66), (0.55, 0.60, 0.52), (0.66, 0.60, 0.52), (0.50, 0.55, 0.63),
    )  # fmt: skip  # +x, +y, -x, -y walls, RGB in [0, 1]
    floor: tuple[float, float, float] = (0.42, 0.40, 0.38)
    tile_mm: float = 1000.0


def room_background(
    room: Room,
    R: np.ndarray,
    C: np.ndarray,
    intrinsics: np.ndarray,
    image_wh: tuple[int, int],
    scale: float,
    ss: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """The empty lab seen by one camera, at ``scale`` x the camera's resolution.

    ``R (3, 3)`` world -> camera rotation, ``C (3,)`` camera centre (mm). Pixel ``(i, j)``
    of the result is centred on full-image px ``x = (j + 0.5) / scale - 0.5`` (same for
    ``y``); it averages ``ss x ss`` rays (a prefilter for the down-scaling to crops). Returns
    ``rgb (h, w, 3)`` float32 in [0, 1] and ``floor_xy (h, w, 2)`` mm (NaN off the floor).
    """
    w, h = round(image_wh[0] * scale), round(image_wh[1] * scale)
    fx, fy, cx, cy = intrinsics[:4]
    y, x = np.mgrid[0 : h * ss, 0 : w * ss].astype(np.float64)
    x, y = (x + 0.5) / (ss * scale) - 0.5, (y + 0.5) / (ss * scale) - 0.5
    d = np.stack([(x - cx) / fx, (y - cy) / fy, np.ones_like(x)], -1) @ R  # world dirs
    lim = np.array([room.half_size, room.half_size, room.height])
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(d > 0, lim, np.array([-room.half_size, -room.half_size, 0.0]))
        tp = (bound - C) / d
    tp = np.where(np.isfinite(tp) & (tp > 0), tp, np.inf)
    face = tp.argmin(-1)  # 0: x wall, 1: y wall, 2: floor / ceiling
    P = C + tp.min(-1, keepdims=True) * d
    rgb = np.zeros((h * ss, w * ss, 3))
    for i, col in enumerate(room.walls):  # +x, +y, -x, -y
        ax, sign = i % 2, 1 - 2 * (i // 2)
        m = (face == ax) & (np.sign(d[..., ax]) == sign)
        shade = 0.9 + 0.12 * P[..., 2] / room.height  # brighter towards the ceiling lights
        panel = 1.0 - 0.04 * (np.floor(P[..., 1 - ax] / 1500.0) % 2)  # faint wall panels
        base = np.where(P[..., 2] < 120, 0.45, 1.0)  # skirting board
        rail = np.where(np.abs(P[..., 2] - 1100) < 30, 0.8, 1.0)
        rgb[m] = (np.array(col) * (shade * panel * base * rail)[..., None])[m]
    floor = (face == 2) & (d[..., 2] < 0)
    tx, ty = P[..., 0] / room.tile_mm, P[..., 1] / room.tile_mm
    grout = np.where(np.maximum(np.abs(tx % 1 - 0.5), np.abs(ty % 1 - 0.5)) > 0.485, 0.7, 1.0)
    checker = 1.0 - 0.05 * ((np.floor(tx) + np.floor(ty)) % 2)
    rgb[floor] = (np.array(room.floor) * (grout * checker)[..., None])[floor]
    rgb[(face == 2) & (d[..., 2] > 0)] = 0.8  # ceiling
    rgb = rgb.reshape(h, ss, w, ss, 3).mean((1, 3))
    floor_xy = np.where(floor[..., None], P[..., :2], np.nan)[ss // 2 :: ss, ss // 2 :: ss]
    return rgb.astype(np.float32), floor_xy.astype(np.float32)


def blob_shadow(floor_xy: np.ndarray, root_xy: np.ndarray, sigma_mm: float = 350.0) -> np.ndarray:
    """Soft contact shadow factor ``(B, H, W)`` in (0, 1] on floor points ``(B, H, W, 2)`` mm."""
    r2 = ((floor_xy - root_xy[:, None, None, :]) ** 2).sum(-1)
    f = 1.0 - 0.45 * np.exp(-r2 / (2 * sigma_mm**2))
    return np.where(np.isnan(r2), 1.0, f).astype(np.float32)


def texture_background(
    rng: np.random.Generator, xy: np.ndarray, image_wh: tuple[int, int]
) -> np.ndarray:
    """A random procedural scene ``(B, H, W, 3)`` in [0, 1] at full-image px ``xy (B, H, W, 2)``.

    One draw of ``rng`` fixes the scene (a static camera sees a static background): a
    two-colour gradient, multi-scale value noise, optional stripes and random soft blobs,
    all defined in full-image px so crops of one camera agree.
    """

    def U(lo: float, hi: float, size: Any = None) -> Any:
        return (
            np.float32(rng.uniform(lo, hi))
            if size is None
            else rng.uniform(lo, hi, size).astype(np.float32)
        )

    w, h = image_wh
    x, y = (xy[..., 0] / max(w, h)).astype(np.float32), (xy[..., 1] / max(w, h)).astype(np.float32)
    c0, c1 = U(0.05, 0.95, 3), U(0.05, 0.95, 3)
    ang = U(0, 2 * np.pi)
    g = np.clip(0.5 + (np.cos(ang) * (x - 0.5) + np.sin(ang) * (y - 0.5)), 0, 1)[..., None]
    img = c0 + (c1 - c0) * g
    for cells in rng.choice([4, 9, 17, 33, 65], size=rng.integers(1, 4), replace=False):
        lattice = U(-1, 1, (cells + 1, cells + 1, 3))
        img += U(0.1, 0.35) * sample_bilinear(lattice, np.stack([x * cells, y * cells], -1))
    if rng.random() < 0.6:  # stripes
        period, a, sharp = U(0.01, 0.12), U(0, np.pi), U(1, 6)
        phase = (np.cos(a) * x + np.sin(a) * y) / period
        s = np.clip(sharp * np.sin(np.float32(2 * np.pi) * phase), -1, 1)[..., None]
        img += U(0.1, 0.3) * s * U(-1, 1, 3)
    aspect = np.array([w, h], np.float32) / max(w, h)
    for _ in range(rng.integers(2, 12)):  # blobs
        cx, cy = U(0, 1, 2) * aspect
        rx, ry, rot, edge = U(0.03, 0.3), U(0.03, 0.3), U(0, np.pi), U(2, 20)
        dx, dy = x - cx, y - cy
        ex = (np.cos(rot) * dx + np.sin(rot) * dy) / rx
        ey = (np.cos(rot) * dy - np.sin(rot) * dx) / ry
        m = np.clip((1 - (ex * ex + ey * ey)) * edge, 0, 1)[..., None]
        img += (U(0, 1, 3) - img) * m
    return np.clip(img, 0, 1)

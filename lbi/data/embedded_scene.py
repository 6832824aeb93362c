"""Scene of the embedded benchmark: cameras (the fixed lab rig, random wild cameras) and
subject colours. Used by :mod:`lbi.data.embedded` (the stores) and
:mod:`lbi.data.pose2d_set` (the 2D pretraining set).

Appearance by ``embedded.look`` (:data:`LOOKS`): colours (albedo per body part,
:data:`lbi.data.mocap.PARTS`, :func:`subject_colors`) and lights (:func:`lab_light`,
:func:`wild_light`; the shading is :mod:`lbi.data.render`'s):

- ``natural`` (:func:`clothing_palette`): people in clothes, left/right symmetric. Per
  subject a shirt (torso, upper arms; forearms too with long sleeves), trousers (pelvis,
  thighs, shins), shoes (feet) and a skin tone (neck, head, hands; forearms with short
  sleeves), drawn from plausible ranges. Lab: fixed studio lights (the rig's overhead key,
  a second light from the other side, ceiling-brightened ambient); wild: a sun (each wild
  camera's random key direction) and sky ambient. No light depends on the camera.
- ``cues`` (:func:`palette`): every limb and side its own colour (right warm, left cool, a
  red nose): a left/right and part code no real person wears; a fill light at the camera
  with a distance fall-off normalised at the pelvis (brightness codes depth).

Units: world millimetres, z up; camera rotations map world -> camera (x right, y down,
z forward).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lbi.data import mocap
from lbi.data.render import Light


# --- cameras --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Camera:
    """A pinhole camera: world (mm, z up) -> camera frame ``X_cam = R (X - C)``."""

    id: str
    R: np.ndarray  # (3, 3) world -> camera rotation (rows: camera x right, y down, z forward)
    C: np.ndarray  # (3,) centre, world mm
    intrinsics: np.ndarray  # (9,) fx, fy, cx, cy, k1, k2, k3, p1, p2 (no distortion)
    image_wh: tuple[int, int]
    key_light: np.ndarray = field(default_factory=lambda: np.array([0.3, 0.2, 1.0]))  # world


def look_at(C: np.ndarray, target: np.ndarray, roll_rad: float = 0.0) -> np.ndarray:
    """World -> camera rotation ``(3, 3)`` of a camera at ``C`` looking at ``target`` (z up)."""
    f = target - C
    f = f / np.linalg.norm(f)
    r = np.cross(f, [0.0, 0.0, 1.0])
    r /= np.linalg.norm(r)
    d = np.cross(f, r)
    c, s = np.cos(roll_rad), np.sin(roll_rad)
    r, d = c * r + s * d, -s * r + c * d
    return np.stack([r, d, f])


# Fixed lab rig, H36M-like: (azimuth deg, distance mm, height mm, fx, fy, cx, cy).
LAB_RIG: tuple[tuple[float, ...], ...] = (
    (47.0, 4600.0, 1550.0, 1145.0, 1144.0, 512.0, 515.0),
    (131.0, 4300.0, 1750.0, 1149.0, 1147.0, 508.0, 498.0),
    (227.0, 4900.0, 1620.0, 1150.0, 1152.0, 519.0, 501.0),
    (314.0, 4500.0, 1800.0, 1146.0, 1148.0, 505.0, 508.0),
)
LAB_TARGET_MM = np.array([0.0, 0.0, 950.0])


def lab_cameras() -> list[Camera]:
    """The fixed lab rig, 1000x1000 px cameras aimed at the capture centre."""
    cams = []
    for i, (az, dist, hgt, fx, fy, cx, cy) in enumerate(LAB_RIG):
        a = np.deg2rad(az)
        C = np.array([dist * np.cos(a), dist * np.sin(a), hgt])
        K = np.array([fx, fy, cx, cy, 0, 0, 0, 0, 0], np.float64)
        cams.append(Camera(f"lab_c{i}", look_at(C, LAB_TARGET_MM), C, K, (1000, 1000)))
    return cams


def wild_camera(rng: np.random.Generator, centre: np.ndarray, cam_id: str) -> Camera:
    """A random outdoor-like camera aimed near ``centre`` (world mm)."""
    wh = (2048, 2048) if rng.random() < 0.5 else (1920, 1080)
    a = rng.uniform(0, 2 * np.pi)
    dist, hgt = rng.uniform(3500, 6500), rng.uniform(300, 2800)
    C = centre + np.array([dist * np.cos(a), dist * np.sin(a), 0.0])
    C[2] = hgt
    target = centre + np.array([*rng.normal(0, 150, 2), rng.uniform(700, 1200)])
    R = look_at(C, target, np.deg2rad(rng.uniform(-4, 4)))
    f = rng.uniform(1350, 1750)
    K = np.array(
        [
            f,
            f * rng.uniform(0.995, 1.005),
            wh[0] / 2 + rng.uniform(-20, 20),
            wh[1] / 2 + rng.uniform(-20, 20),
            0,
            0,
            0,
            0,
            0,
        ]
    )
    el, az = rng.uniform(np.deg2rad(20), np.deg2rad(80)), rng.uniform(0, 2 * np.pi)
    key = np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)])
    return Camera(cam_id, R, C, K, wh, key)


# --- appearance -----------------------------------------------------------------------------
_LIMB_COLORS = {
    "r_thigh": (0.80, 0.22, 0.18), "r_shin": (0.93, 0.50, 0.15), "r_foot": (0.45, 0.12, 0.08),
    "r_upperarm": (0.90, 0.78, 0.15), "r_forearm": (0.95, 0.55, 0.50), "r_hand": (0.75, 0.35, 0.05),
    "l_thigh": (0.15, 0.35, 0.80), "l_shin": (0.20, 0.70, 0.80), "l_foot": (0.08, 0.15, 0.45),
    "l_upperarm": (0.20, 0.70, 0.30), "l_forearm": (0.55, 0.85, 0.55), "l_hand": (0.10, 0.45, 0.35),
    "nose": (0.80, 0.15, 0.15),
}  # fmt: skip
_SKIN = ((0.94, 0.78, 0.65), (0.85, 0.65, 0.50), (0.65, 0.45, 0.33), (0.45, 0.30, 0.22))


def palette(rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Albedo per body part ``(len(mocap.PARTS), 3)`` in [0, 1] for one subject."""
    skin = np.array(_SKIN[rng.integers(len(_SKIN))])
    shirt = rng.uniform(0.25, 0.85, 3)
    cols = {"torso": shirt, "pelvis": rng.uniform(0.1, 0.4, 3), "skin": skin, "head": skin * 0.97}
    out = np.array([cols.get(p, _LIMB_COLORS.get(p)) for p in mocap.PARTS], np.float64)
    return np.clip(out + rng.uniform(-jitter, jitter, out.shape), 0.02, 0.98)


# Clothing: (hue, saturation, value) ranges of plausible fabrics; hue in turns.
_SHIRT_SV = ((0.05, 0.75), (0.25, 0.95))
_TROUSERS_SV = ((0.0, 0.5), (0.1, 0.65))
_SHOES_SV = ((0.0, 0.35), (0.05, 0.6))


def _hsv(rng: np.random.Generator, sv: tuple[tuple[float, float], ...]) -> np.ndarray:
    """One colour: uniform hue, saturation and value in ``sv``'s ranges -> RGB (3,)."""
    import colorsys

    h = rng.uniform(0.0, 1.0)
    sat, val = rng.uniform(*sv[0]), rng.uniform(*sv[1])
    return np.array(colorsys.hsv_to_rgb(h, sat, val))


def clothing_palette(rng: np.random.Generator) -> np.ndarray:
    """Albedo per body part ``(len(mocap.PARTS), 3)`` in [0, 1] for one subject in clothes.

    Left and right parts of a kind share one colour (people dress symmetrically): shirt on
    torso and upper arms (and forearms with long sleeves, p = 0.6), trousers on pelvis,
    thighs and shins, shoes on feet, skin on neck, head, nose and hands (and forearms with
    short sleeves). Skin: one of four tones, +-0.03 per channel.
    """
    skin = np.clip(np.array(_SKIN[rng.integers(len(_SKIN))]) + rng.uniform(-0.03, 0.03, 3), 0, 1)
    shirt, trousers, shoes = _hsv(rng, _SHIRT_SV), _hsv(rng, _TROUSERS_SV), _hsv(rng, _SHOES_SV)
    forearm = shirt if rng.random() < 0.6 else skin
    kind = {
        "pelvis": trousers, "torso": shirt, "skin": skin, "head": skin, "nose": skin,
        "thigh": trousers, "shin": trousers, "foot": shoes,
        "upperarm": shirt, "forearm": forearm, "hand": skin,
    }  # fmt: skip
    out = np.array([kind[p.removeprefix("r_").removeprefix("l_")] for p in mocap.PARTS])
    return np.clip(out, 0.02, 0.98)


# --- looks: colours and lights together ---------------------------------------------------
LOOKS = ("natural", "cues")  # embedded.look
APPEARANCE = {
    "natural": "per-subject clothes and skin, left/right symmetric; lab: fixed studio lights, "
    "wild: sun + sky; no camera-locked light or fall-off",
    "cues": "per-limb and per-side colours; a fill light at the camera with a distance "
    "fall-off (light_falloff) normalised at the pelvis",
}
_STUDIO_FILL_DIR = (-0.6, -0.5, 0.45)  # world, towards the lab's second studio light


def _check_look(look: str) -> None:
    if look not in LOOKS:
        raise ValueError(f"embedded.look = {look!r} must be one of {list(LOOKS)}")


def subject_colors(look: str, rng: np.random.Generator, jitter: float) -> np.ndarray:
    """Albedo per body part ``(len(mocap.PARTS), 3)`` of one subject in ``look``
    (``jitter``: the cues palette's per-channel jitter)."""
    _check_look(look)
    return clothing_palette(rng) if look == "natural" else palette(rng, jitter)


def lab_light(look: str, falloff: float) -> Light:
    """The lab's fixed studio light in ``look`` (``falloff``: the cues look's exponent).

    The key light's direction is each lab camera's ``key_light`` (one overhead direction
    for the whole rig); natural adds a second light fixed in the world and sky-like ambient.
    """
    _check_look(look)
    if look == "cues":
        return Light(falloff=falloff)
    return Light(ambient=0.3, key=0.5, fill=0.3, falloff=0.0, fill_dir=_STUDIO_FILL_DIR, sky=0.3)


def wild_light(look: str, falloff: float, rng: np.random.Generator) -> Light:
    """A random outdoor light in ``look``: natural: sky ambient, sun (its direction is the
    wild camera's key light), sky/ground contrast; cues: ambient, key and a fill at the
    camera with the distance fall-off ``falloff``. Three draws from ``rng`` either way, so
    cameras and scenes drawn after it are the same in both looks."""
    _check_look(look)
    if look == "cues":
        return Light(rng.uniform(0.2, 0.4), rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.5), falloff)
    ambient, sun, sky = rng.uniform(0.25, 0.45), rng.uniform(0.45, 0.75), rng.uniform(0.2, 0.6)
    return Light(ambient=ambient, key=sun, fill=0.0, falloff=0.0, sky=sky)  # no second light

"""The embedded benchmark's appearance (``embedded.look``): natural by default, cues on demand.

The natural look must carry no cue a real camera does not see (per-side colours, a light
that follows the camera); the cues look must stay byte-identical to the renders it had
before the switch existed (hashes computed on that code, commit 2002256).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from lbi.data import embedded as E
from lbi.data import mocap
from lbi.data.embedded_scene import LAB_TARGET_MM, lab_cameras
from lbi.data.pose2d_set import Pose2DSetConfig, generate_pose2d_set
from lbi.data.store import open_store

SIDES = ("thigh", "shin", "foot", "upperarm", "forearm", "hand")


def _colors(look: str, si: int) -> np.ndarray:
    cfg = E.tiny_config(look=look)
    return E.subject_colors(cfg.look, E._rng(cfg, 7, E._DOMAIN_CODE["lab_train"], si), jitter=0.05)


@pytest.mark.parametrize("look", ["natural", "cues"])
def test_natural_clothes_are_left_right_symmetric(look: str) -> None:
    P = mocap.PARTS
    for si in range(8):
        c = _colors(look, si)
        same = all(np.array_equal(c[P.index(f"l_{k}")], c[P.index(f"r_{k}")]) for k in SIDES)
        assert same == (look == "natural"), (look, si)  # the cues look paints sides apart


def test_natural_colours_vary_across_subjects() -> None:
    shirts = np.array([_colors("natural", si)[mocap.PARTS.index("torso")] for si in range(6)])
    trousers = np.array([_colors("natural", si)[mocap.PARTS.index("l_thigh")] for si in range(6)])
    for cols in (shirts, trousers):
        d = np.abs(cols[:, None] - cols[None]).max(-1)
        assert (d + np.eye(len(cols)) > 0.03).all()  # every pair of subjects differs


def _sphere_brightness(look: str, towards_mm: float) -> float:
    """Mean intensity of a grey sphere ``towards_mm`` nearer the lab camera than the pelvis."""
    cfg = E.tiny_config(look=look)
    cam = lab_cameras()[0]
    root = LAB_TARGET_MM.copy()
    towards = (cam.C - root) / np.linalg.norm(cam.C - root)
    side = np.cross(towards, [0.0, 0.0, 1.0])
    centre = root + towards_mm * towards + 0.2 * towards_mm * side / np.linalg.norm(side)
    joints = np.repeat(root[None, None], 17, 1)  # (1, 17, 3): the pelvis stays put
    seg = np.repeat(centre[None, None, None], 2, 2)  # (1, 1, 2, 3): one sphere
    take = E.Take("walk", "s", np.arange(1), joints, seg, np.array([120.0]),
                  np.full((1, 3), 0.5), root)  # fmt: skip
    _, img, mask = E.render_view(
        cfg,
        take,
        cam,
        E.lab_light(cfg.look, cfg.light_falloff),
        lambda xy, r: np.zeros((*xy.shape[:-1], 3), np.float32),
    )
    return float(img[mask.astype(bool)].mean())


@pytest.mark.parametrize("look", ["natural", "cues"])
def test_natural_brightness_does_not_follow_camera_distance(look: str) -> None:
    at_pelvis = _sphere_brightness(look, 0.0)
    near, far = (
        _sphere_brightness(look, 1500.0) / at_pelvis,
        _sphere_brightness(look, -1500.0) / at_pelvis,
    )
    if look == "natural":  # only the slightly other view of the sphere changes its shading
        assert 0.85 < near < 1.15 and 0.85 < far < 1.15
    else:  # the camera-locked fall-off: nearer is brighter, farther darker
        assert near > 1.5 and far < 0.7


def test_natural_shading_has_no_camera_term() -> None:
    light = E.lab_light("natural", 2.0)
    assert light.falloff == 0 and light.fill_dir is not None  # lights fixed in the world
    rng = np.random.default_rng(0)
    w = E.wild_light("natural", 2.0, rng)
    assert w.falloff == 0 and w.fill == 0 and w.sky > 0  # sun + sky only


# Crop hashes of tiny stores rendered by the code before `look` existed (commit 2002256).
CUES_HASHES = {
    ("lab", "train", 0.0): "9346f566e1152090",
    ("lab", "test", 0.0): "2d4ef42b63130849",
    ("wild", "test", 0.0): "af3496466d30edab",
    ("p2d", "train", 0.0): "6c75c8c576bcea19",
    ("lab", "train", 0.2): "2163eda4d7384f1b",
}


@pytest.mark.parametrize("jitter", [0.0, 0.2])
def test_cues_look_reproduces_the_old_renders(tmp_path: Path, jitter: float) -> None:
    cfg = E.tiny_config(look="cues", max_frames_per_take=2, crop_hw=(32, 24),
                        lab_light_jitter=jitter)  # fmt: skip
    E.generate_embedded(cfg, tmp_path / "lab", tmp_path / "wild", progress=False)
    generate_pose2d_set(cfg, Pose2DSetConfig(takes_per_clip=1, views=1), tmp_path / "p2d",
                        progress=False)  # fmt: skip
    for (store, split, j), want in CUES_HASHES.items():
        if j != jitter:
            continue
        crops = np.asarray(open_store(tmp_path / store).crops(split))
        assert hashlib.sha256(crops.tobytes()).hexdigest()[:16] == want, (store, split)
    natural = E.tiny_config(max_frames_per_take=2, crop_hw=(32, 24), lab_light_jitter=jitter)
    E.generate_embedded(natural, tmp_path / "nlab", tmp_path / "nwild", progress=False)
    a, b = open_store(tmp_path / "lab"), open_store(tmp_path / "nlab")
    assert not np.array_equal(np.asarray(a.crops("train")), np.asarray(b.crops("train")))
    np.testing.assert_array_equal(a.arrays("train")["pose3d"], b.arrays("train")["pose3d"])
    assert b.meta["provenance"]["look"] == "natural" and a.meta["provenance"]["look"] == "cues"
    generate_pose2d_set(natural, Pose2DSetConfig(takes_per_clip=1, views=1), tmp_path / "np2d",
                        progress=False)  # fmt: skip
    p2d = [np.asarray(open_store(tmp_path / d).crops("train")) for d in ("p2d", "np2d")]
    assert not np.array_equal(*p2d)  # the 2D set follows the switch too


def test_look_is_validated() -> None:
    with pytest.raises(
        ValueError, match=r"EmbeddedConfig\.look must be one of \['natural', 'cues'\]"
    ):
        E.tiny_config(look="flat")
    with pytest.raises(ValueError, match=r"embedded\.look"):  # a config passed for a look
        E.subject_colors(E.tiny_config(), np.random.default_rng(0), 0.1)  # type: ignore[arg-type]

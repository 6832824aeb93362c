"""The embedded mini benchmark: real mocap, rendered locally into two canonical stores.

``dvc repro`` runs out of the box on this (Human3.6M and MPI-INF-3DHP are licensed). It is
**synthetic**: every store says so (``meta.json``: ``synthetic: true``) and numbers measured
on it are never Human3.6M/3DHP numbers.

Motion: the 15 DeepMimic clips of the pybullet wheel (:mod:`lbi.data.mocap`), resampled at
``fps`` by slerp with a random phase per take, posed by forward kinematics with the
subject's size, re-centred on the capture area, turned by a random yaw and shifted by up
to ``capture_radius_mm``. Training takes get a smooth random joint-angle offset of at most
``angle_jitter_deg`` (clipped to the URDF limits; 0 disables); test takes are the mocap as
captured. Whole clips are held out: ``test_clips``, ``wild_clips`` and ``wild_val_clips``
never appear in training.

Two domains, like Human3.6M -> MPI-INF-3DHP:

- ``embedded_lab`` (splits ``train``, ``test``): a fixed 4-camera rig (:data:`LAB_RIG`:
  1000x1000 px, f ~1150 px, heights 1.5-1.8 m, 4.3-4.9 m from the centre) in a room with
  plain painted walls and a tiled floor (each camera sees its own wall), a soft contact
  shadow; ``train`` = train clips x ``train_subjects``, ``test`` = test clips x
  ``test_subjects`` (held-out body sizes).
- ``embedded_wild`` (splits ``test``, ``val``): ``wild_views`` random cameras per take
  (1920x1080 or 2048x2048 px, f 1350-1750 px, heights 0.3-2.8 m, 3.5-6.5 m away, small
  roll), a random procedural background per camera (gradients, value noise, stripes,
  blobs), random key light, colour tint and sensor noise; ``test`` = wild clips x
  ``wild_subjects`` (read only by the evaluate stage: the report), ``val`` =
  ``wild_val_clips`` x ``wild_val_subjects`` (per-epoch validation and every choice; other
  clips and subjects than ``test``). The 15 mocap clips are all used by train/test/wild,
  so the val clips are by default the lab test clips: unseen in training, other than the
  wild test's; empty lists: no ``val`` split.

Subjects are (height factor, girth factor) pairs scaling the DeepMimic humanoid (factor 1:
~1.59 m head top); ids ``lab_s1..`` (train then test) and ``wild_s1..``. Cameras
``lab_c0..lab_c3`` and ``wild_c00..``. ``frame`` counts samples of the take at ``fps``.
Crops: the root-centred ``extent_mm`` square box (:func:`lbi.camera.box_from_3d`) ->
:func:`lbi.camera.crop_affine` to ``crop_hw``, rendered directly in crop space
(:mod:`lbi.data.render`).

Appearance (``look``, :mod:`lbi.data.embedded_scene`): ``natural`` (default) shows people
as a camera would: per-subject clothes and skin, left/right symmetric
(``clothing_palette``), lit in the lab by fixed studio lights (``lab_light``: an overhead
key, a second light from the other side, ceiling-brightened ambient) and in the wild by a
sun (each wild camera's random key direction, ``wild_light``) and sky ambient. Nothing
depends on the distance to the camera: perspective, occlusion and Lambert shading are the
depth cues. ``cues`` is the earlier look, kept byte-identical for comparison: every limb
and side its own colour (``palette``: right warm, left cool, a red nose) and a fill light
at the camera with a ``light_falloff`` distance fall-off normalised at the pelvis
(brightness codes depth). ``light_falloff`` applies to ``cues`` only.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lbi.camera import box_from_3d, crop_affine, project
from lbi.config import to_dict
from lbi.data import mocap
from lbi.data.embedded_scene import (
    APPEARANCE,
    LAB_RIG,
    LAB_TARGET_MM,
    LOOKS,
    Camera,
    lab_cameras,
    lab_light,
    subject_colors,
    wild_camera,
    wild_light,
)
from lbi.data.render import (
    Light,
    Room,
    blob_shadow,
    crop_pixel_coords,
    ray_matrix,
    render_bodies,
    room_background,
    sample_bilinear,
    texture_background,
)
from lbi.data.store import write_meta, write_split

LAB_DATASET, WILD_DATASET = "embedded_lab", "embedded_wild"
_DOMAIN_CODE = {"lab_train": 1, "lab_test": 2, "wild_test": 3, "pose2d_train": 4, "wild_val": 5}


@dataclass(frozen=True)
class EmbeddedConfig:
    """Settings of the embedded benchmark (``params.yaml`` section ``embedded``)."""

    seed: int = 0
    crop_hw: tuple[int, int] = (64, 48)  # CPU default; the paper uses (256, 192)
    supersample: int = 2  # body anti-aliasing: ss x ss rays per pixel
    fps: float = 15.0  # resampling rate of the mocap (samples per second of motion)
    train_clips: tuple[str, ...] = (
        "walk", "run", "jump", "punch", "dance_a", "cartwheel", "backflip", "crawl",
        "getup_faceup",
    )  # fmt: skip
    test_clips: tuple[str, ...] = ("kick", "dance_b", "getup_facedown")
    wild_clips: tuple[str, ...] = ("spinkick", "spin", "roll")
    # (height factor, girth factor) per subject
    train_subjects: tuple[tuple[float, float], ...] = (
        (1.0, 1.0), (1.06, 0.95), (0.94, 1.1), (1.1, 1.05), (0.97, 0.9),
    )  # fmt: skip
    test_subjects: tuple[tuple[float, float], ...] = ((1.03, 1.0), (0.92, 1.05))
    wild_subjects: tuple[tuple[float, float], ...] = ((1.08, 0.92), (0.96, 1.12))
    # Wild validation split (per-epoch curves and every choice; the wild test set is only for
    # the report). All 15 clips are taken, so it reuses the lab *test* clips (held out from
    # training, other than the wild test clips) with its own subjects, cameras and light.
    wild_val_clips: tuple[str, ...] = ("kick", "dance_b", "getup_facedown")
    wild_val_subjects: tuple[tuple[float, float], ...] = ((1.04, 1.08), (0.9, 0.96))
    takes_per_clip: int = 1  # training takes per (clip, subject), each its own yaw/phase/jitter
    max_frames_per_take: int = 0  # cap on samples per take (0: the whole clip)
    lab_cameras: int = 4  # cameras of the lab rig used (1-4)
    wild_views: int = 4  # random cameras per wild take
    angle_jitter_deg: float = 8.0  # training joint-angle perturbation (0: off)
    capture_radius_mm: float = 500.0  # random horizontal offset of a take's centre
    extent_mm: float = 2000.0  # side of the root-centred crop box
    look: str = "natural"  # natural | cues (per-limb colours, camera-locked light; module doc)
    light_falloff: float = 2.0  # cues look only: exponent of the camera-distance fall-off
    lab_light_jitter: float = 0.0  # relative per-take jitter of the lab training light (0: fixed)
    wild_noise: float = 3.0  # sensor noise std of wild crops (uint8 levels)

    def __post_init__(self) -> None:
        h, w = self.crop_hw
        if not (16 <= h <= 1024 and 16 <= w <= 1024):
            raise ValueError(f"crop_hw must be in [16, 1024] x [16, 1024], got {self.crop_hw}")
        _check(1 <= self.supersample <= 4, "supersample", "in [1, 4]", self.supersample)
        _check(0.5 <= self.fps <= 120, "fps", "in [0.5, 120]", self.fps)
        for name in ("train_clips", "test_clips", "wild_clips"):
            clips = getattr(self, name)
            _check(len(clips) > 0, name, "non-empty", clips)
            bad = [c for c in clips if c not in mocap.CLIPS]
            _check(not bad, name, f"clip names from {list(mocap.CLIPS)}", bad)
        bad = [c for c in self.wild_val_clips if c not in mocap.CLIPS]
        _check(not bad, "wild_val_clips", f"clip names from {list(mocap.CLIPS)}", bad)
        for name in ("test_clips", "wild_clips", "wild_val_clips"):
            both = sorted(set(self.train_clips) & set(getattr(self, name)))
            _check(not both, name, "disjoint from train_clips (whole clips are held out)", both)
        both = sorted(set(self.wild_clips) & set(self.wild_val_clips))
        _check(not both, "wild_val_clips", "disjoint from wild_clips (the wild test set)", both)
        for name in ("train_subjects", "test_subjects", "wild_subjects", "wild_val_subjects"):
            subj = getattr(self, name)
            _check(len(subj) > 0 or name == "wild_val_subjects", name, "non-empty", subj)
            ok = all(0.7 <= a <= 1.4 and 0.6 <= b <= 1.6 for a, b in subj)
            _check(ok, name, "(height in [0.7, 1.4], girth in [0.6, 1.6]) pairs", subj)
        both = sorted(set(map(tuple, self.wild_subjects)) & set(map(tuple, self.wild_val_subjects)))
        _check(not both, "wild_val_subjects", "disjoint from wild_subjects", both)
        _check(
            bool(self.wild_val_clips) == bool(self.wild_val_subjects),
            "wild_val_clips",
            "empty exactly when wild_val_subjects is (both empty: no wild val split)",
            (self.wild_val_clips, self.wild_val_subjects),
        )
        _check(1 <= self.takes_per_clip <= 50, "takes_per_clip", "in [1, 50]", self.takes_per_clip)
        _check(
            self.max_frames_per_take >= 0, "max_frames_per_take", ">= 0", self.max_frames_per_take
        )
        _check(
            1 <= self.lab_cameras <= len(LAB_RIG),
            "lab_cameras",
            f"in [1, {len(LAB_RIG)}]",
            self.lab_cameras,
        )
        _check(1 <= self.wild_views <= 32, "wild_views", "in [1, 32]", self.wild_views)
        _check(
            0 <= self.angle_jitter_deg <= 30,
            "angle_jitter_deg",
            "in [0, 30]",
            self.angle_jitter_deg,
        )
        _check(
            0 <= self.capture_radius_mm <= 1500,
            "capture_radius_mm",
            "in [0, 1500]",
            self.capture_radius_mm,
        )
        _check(1000 <= self.extent_mm <= 4000, "extent_mm", "in [1000, 4000]", self.extent_mm)
        _check(self.look in LOOKS, "look", f"one of {list(LOOKS)}", self.look)
        _check(0 <= self.light_falloff <= 4, "light_falloff", "in [0, 4]", self.light_falloff)
        _check(
            0 <= self.lab_light_jitter <= 0.5,
            "lab_light_jitter",
            "in [0, 0.5]",
            self.lab_light_jitter,
        )
        _check(0 <= self.wild_noise <= 30, "wild_noise", "in [0, 30]", self.wild_noise)


def _check(ok: bool, name: str, what: str, value: Any) -> None:
    if not ok:
        raise ValueError(f"EmbeddedConfig.{name} must be {what}, got {value!r}")


def tiny_config(**overrides: Any) -> EmbeddedConfig:
    """A seconds-long configuration for tests: few clips, low fps, small crops."""
    base: dict[str, Any] = dict(
        crop_hw=(64, 48), fps=2.0, train_clips=("walk", "jump", "punch"),
        test_clips=("kick",), wild_clips=("spinkick",), train_subjects=((1.0, 1.0), (1.06, 0.95)),
        test_subjects=((0.92, 1.05),), wild_subjects=((1.08, 0.92),), wild_val_clips=("kick",),
        wild_val_subjects=((0.9, 0.96),), lab_cameras=2, wild_views=2,
    )  # fmt: skip
    base.update(overrides)
    return EmbeddedConfig(**base)


# --- takes ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Take:
    """One posed sequence (clip x subject x take), world z up, mm."""

    clip: str
    subject: str
    frame: np.ndarray  # (T,) int, sample index at cfg.fps
    joints: np.ndarray  # (T, 17, 3) mm
    seg: np.ndarray  # (T, K, 2, 3) mm, capsules
    radii: np.ndarray  # (K,) mm
    colors: np.ndarray  # (K, 3) albedo
    centre: np.ndarray  # (3,) mm, the take's centre on the floor


def make_take(
    cfg: EmbeddedConfig,
    clip_name: str,
    subject: str,
    size: tuple[float, float],
    colors: np.ndarray,
    jitter_deg: float,
    rng: np.random.Generator,
) -> Take:
    """Resample, perturb, pose and place one take of ``clip_name`` (see the module doc)."""
    clip = mocap.load_clip(clip_name)
    phase = rng.uniform(0, 1 / cfg.fps)
    n = int(np.floor((clip.duration - phase) * cfg.fps)) + 1
    if cfg.max_frames_per_take:
        n = min(n, cfg.max_frames_per_take)
    frame = np.arange(n)
    sampled = mocap.perturb_angles(
        mocap.sample_clip(clip, phase + frame / cfg.fps), jitter_deg, rng
    )
    posed = mocap.forward_kinematics(sampled, scale=size[0])
    yaw = rng.uniform(0, 2 * np.pi)
    Rz = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    r, a = cfg.capture_radius_mm * np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
    centre = np.array([r * np.cos(a), r * np.sin(a), 0.0])
    mid = posed.pos[:, 0, :2].mean(0)
    shift = np.array([*mid, 0.0])

    def place(x: np.ndarray) -> np.ndarray:
        return (x - shift) @ Rz.T + centre

    joints = place(mocap.h36m_joints(posed))
    seg, radii = mocap.body_capsules(posed, girth=size[1])
    return Take(
        clip_name, subject, frame, joints, place(seg), radii, colors[mocap.capsule_parts()], centre
    )


def render_view(
    cfg: EmbeddedConfig,
    take: Take,
    cam: Camera,
    light: Light,
    background: Background,
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Store arrays, crops ``(T, H, W, 3)`` uint8 and masks ``(T, H, W)`` of one take/camera.

    ``background(xy (T, H, W, 2) full px, root_world (T, 3)) -> (T, H, W, 3)`` in [0, 1].
    """
    T = len(take.frame)
    J = (take.joints - cam.C) @ cam.R.T  # (T, 17, 3) camera frame mm
    seg = (take.seg - cam.C) @ cam.R.T
    K = np.broadcast_to(cam.intrinsics, (T, 9))
    centre, size = box_from_3d(J, K, cfg.extent_mm)
    A = crop_affine(centre, size, cfg.crop_hw)
    M = ray_matrix(A, K, cfg.supersample)
    key_dir = np.broadcast_to(cam.R @ (cam.key_light / np.linalg.norm(cam.key_light)), (T, 3))
    fill_dir = up_dir = None  # world-fixed directions in the camera frame (natural look)
    if light.fill_dir is not None:
        f = np.asarray(light.fill_dir, np.float64)
        fill_dir = np.broadcast_to(cam.R @ (f / np.linalg.norm(f)), (T, 3))
    if light.sky > 0:
        up_dir = np.broadcast_to(cam.R @ np.array([0.0, 0.0, 1.0]), (T, 3))
    radii = np.broadcast_to(take.radii, seg.shape[:2])
    colors = np.broadcast_to(take.colors, (*seg.shape[:2], 3))
    fg, cov = render_bodies(
        seg, radii, colors, M, J[:, 0], key_dir, light, cfg.crop_hw, cfg.supersample,
        fill_dir=fill_dir, up_dir=up_dir,
    )  # fmt: skip
    bg = background(crop_pixel_coords(A, cfg.crop_hw), take.joints[:, 0])
    img = fg + (1 - cov[..., None]) * bg
    arrays = {
        "pose3d": (J - J[:, :1]).astype(np.float32),
        "root3d": J[:, 0].astype(np.float32),
        "pose2d": project(J, K).astype(np.float32),
        "crop_affine": A.astype(np.float32),
        "intrinsics": K.astype(np.float32),
        "image_wh": np.tile(np.array(cam.image_wh, np.int32), (T, 1)),
        "subject": np.full(T, take.subject),
        "action": np.full(T, take.clip),
        "camera": np.full(T, cam.id),
        "frame": take.frame.astype(np.int32),
    }
    return arrays, img, (cov >= 0.5).astype(np.uint8)


def _to_uint8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def _rng(cfg: EmbeddedConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, *key])


class _Split:
    """Accumulates one split's samples."""

    def __init__(self) -> None:
        self.parts: list[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]] = []

    def add(self, arrays: dict[str, np.ndarray], img: np.ndarray, mask: np.ndarray) -> None:
        self.parts.append((arrays, _to_uint8(img), mask))

    def write(self, store_dir: Path, split: str) -> int:
        arrays = {k: np.concatenate([p[0][k] for p in self.parts]) for k in self.parts[0][0]}
        crops = np.concatenate([p[1] for p in self.parts])
        masks = np.concatenate([p[2] for p in self.parts])
        return write_split(store_dir, split, arrays, crops, masks)


Background = Callable[[np.ndarray, np.ndarray], np.ndarray]


def lab_backgrounds(cfg: EmbeddedConfig) -> list[Background]:
    """Per lab camera, ``bg(xy (T, H, W, 2) full px, root_world (T, 3) mm) -> (T, H, W, 3)``:
    the empty room (pre-rendered at ~2x the typical crop resolution, see
    :func:`lbi.data.render.room_background`) with a soft contact shadow under the pelvis."""
    return [lab_background(cfg, cam) for cam in lab_cameras()[: cfg.lab_cameras]]


def lab_background(cfg: EmbeddedConfig, cam: Camera) -> Background:
    """The lab room seen by any camera ``cam`` (see :func:`lab_backgrounds`)."""
    dist = np.linalg.norm(cam.C - LAB_TARGET_MM)
    scale = min(1.0, 2.0 * cfg.crop_hw[1] * dist / (cam.intrinsics[0] * cfg.extent_mm))
    rgb, fxy = room_background(Room(), cam.R, cam.C, cam.intrinsics, cam.image_wh, scale)

    def bg(xy: np.ndarray, root_w: np.ndarray) -> np.ndarray:
        xy = (xy + 0.5) * scale - 0.5  # full px -> room image px
        x = np.clip(np.rint(xy[..., 0]).astype(np.int32), 0, fxy.shape[1] - 1)
        y = np.clip(np.rint(xy[..., 1]).astype(np.int32), 0, fxy.shape[0] - 1)
        shadow = blob_shadow(fxy[y, x], root_w[:, :2].astype(np.float32))
        return sample_bilinear(rgb, xy) * shadow[..., None]

    return bg


def _lab_split(
    cfg: EmbeddedConfig,
    split: str,
    backgrounds: list[Background],
    progress: Any,
) -> _Split:
    out = _Split()
    train = split == "train"
    clips = cfg.train_clips if train else cfg.test_clips
    subjects = cfg.train_subjects if train else cfg.test_subjects
    first = 1 if train else len(cfg.train_subjects) + 1
    cams = lab_cameras()[: cfg.lab_cameras]
    light = lab_light(cfg.look, cfg.light_falloff)
    code = _DOMAIN_CODE[f"lab_{split}"]
    for si, size in enumerate(subjects):
        colors = subject_colors(cfg.look, _rng(cfg, 7, code, si), jitter=0.05)
        for clip in clips:
            for take_i in range(cfg.takes_per_clip if train else 1):
                rng = _rng(cfg, code, si, mocap.CLIPS.index(clip), take_i)
                jitter = cfg.angle_jitter_deg if train else 0.0
                take = make_take(cfg, clip, f"lab_s{first + si}", size, colors, jitter, rng)
                take_light = light
                if train and cfg.lab_light_jitter > 0:
                    # Studio light varies between training takes; test takes keep the fixed one.
                    u = _rng(cfg, 11, code, si, mocap.CLIPS.index(clip), take_i).uniform(
                        1 - cfg.lab_light_jitter, 1 + cfg.lab_light_jitter, 3
                    )
                    take_light = dataclasses.replace(
                        light, ambient=light.ambient * u[0], key=light.key * u[1],
                        fill=light.fill * u[2],
                    )  # fmt: skip
                for cam, bg in zip(cams, backgrounds, strict=True):
                    out.add(*render_view(cfg, take, cam, take_light, bg))
                progress.update(1)
    return out


def render_wild_view(
    cfg: EmbeddedConfig, take: Take, cam_id: str, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """One take seen by a random wild camera (:func:`wild_camera`) in wild appearance
    (:func:`render_wild_appearance`); returns like :func:`render_view`."""
    return render_wild_appearance(cfg, take, wild_camera(rng, take.centre, cam_id), rng)


def render_wild_appearance(
    cfg: EmbeddedConfig, take: Take, cam: Camera, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """``take`` through ``cam`` with a random light (:func:`wild_light`), procedural
    background, colour tint and sensor noise (the wild domain's appearance); returns like
    :func:`render_view`."""
    light = wild_light(cfg.look, cfg.light_falloff, rng)
    scene_seed = int(rng.integers(2**31))
    tint = rng.uniform(0.9, 1.1, 3)
    noise_seed = int(rng.integers(2**31))

    def bg(xy: np.ndarray, root_w: np.ndarray) -> np.ndarray:
        return texture_background(np.random.default_rng(scene_seed), xy, cam.image_wh)

    arrays, img, mask = render_view(cfg, take, cam, light, bg)
    noise = np.random.default_rng(noise_seed).normal(0, cfg.wild_noise / 255, img.shape)
    return arrays, img * tint + noise, mask


def wild_views(
    cfg: EmbeddedConfig, split: str = "test"
) -> Iterator[tuple[Take, str, int, np.random.Generator]]:
    """``(take, camera id, view index, rng)`` per view of the wild store's ``split`` ("test":
    ``wild_clips`` x ``wild_subjects``, ids ``wild_s1..``, ``wild_c00..``; "val":
    ``wild_val_clips`` x ``wild_val_subjects``, ids continuing the subjects, ``wild_val_c00..``;
    own random streams, so the test split does not depend on the val settings), in order.

    Rendering each with :func:`render_wild_view` (which draws the camera and appearance from
    ``rng``) gives the ``embedded_wild`` split; ``benchmarks/bench_domain_shift.py`` renders
    the test takes with other cameras or appearance.
    """
    code = _DOMAIN_CODE[f"wild_{split}"]
    test = split == "test"
    subjects, clips = (
        (cfg.wild_subjects, cfg.wild_clips) if test else (cfg.wild_val_subjects, cfg.wild_val_clips)
    )
    first, cam = (1, "wild_c") if test else (len(cfg.wild_subjects) + 1, "wild_val_c")
    n_cam = 0
    for si, size in enumerate(subjects):
        colors = subject_colors(cfg.look, _rng(cfg, 7, code, si), jitter=0.1)
        for clip in clips:
            rng = _rng(cfg, code, si, mocap.CLIPS.index(clip), 0)
            take = make_take(cfg, clip, f"wild_s{first + si}", size, colors, 0.0, rng)
            for view in range(cfg.wild_views):
                yield take, f"{cam}{n_cam:02d}", view, rng
                n_cam += 1


def _wild_split(cfg: EmbeddedConfig, split: str, progress: Any) -> _Split:
    out = _Split()
    for take, cam_id, view, rng in wild_views(cfg, split):
        out.add(*render_wild_view(cfg, take, cam_id, rng))
        if view == cfg.wild_views - 1:
            progress.update(1)
    return out


class _NoProgress:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def generate_embedded(
    cfg: EmbeddedConfig, lab_dir: Path, wild_dir: Path, progress: bool = True
) -> dict[str, Any]:
    """Render both stores (lab: ``train``, ``test``; wild: ``test`` and, with
    ``wild_val_clips``, ``val``); return a summary.

    Summary: ``{"lab_train": N, "lab_test": N, "wild_test": N, ["wild_val": N,] "seconds": s,
    "crops_per_s": r}``. Output is a deterministic function of ``cfg`` (``seed`` included).
    """
    t0 = time.perf_counter()
    lab_dir, wild_dir = Path(lab_dir), Path(wild_dir)
    n_takes = (
        len(cfg.train_clips) * len(cfg.train_subjects) * cfg.takes_per_clip
        + len(cfg.test_clips) * len(cfg.test_subjects)
        + len(cfg.wild_clips) * len(cfg.wild_subjects)
        + len(cfg.wild_val_clips) * len(cfg.wild_val_subjects)
    )
    if progress:
        from tqdm import tqdm

        bar: Any = tqdm(total=n_takes, desc="embedded takes", unit="take")
    else:
        bar = _NoProgress()
    rooms = lab_backgrounds(cfg)
    counts = {
        "lab_train": _lab_split(cfg, "train", rooms, bar).write(lab_dir, "train"),
        "lab_test": _lab_split(cfg, "test", rooms, bar).write(lab_dir, "test"),
        "wild_test": _wild_split(cfg, "test", bar).write(wild_dir, "test"),
    }
    if cfg.wild_val_clips:
        counts["wild_val"] = _wild_split(cfg, "val", bar).write(wild_dir, "val")
    bar.close()
    prov = provenance(cfg)
    write_meta(
        lab_dir,
        dataset=LAB_DATASET,
        synthetic=True,
        crop_hw=cfg.crop_hw,
        fps=cfg.fps,
        splits={"train": counts["lab_train"], "test": counts["lab_test"]},
        provenance={**prov, "domain": "lab"},
    )
    write_meta(
        wild_dir,
        dataset=WILD_DATASET,
        synthetic=True,
        crop_hw=cfg.crop_hw,
        fps=cfg.fps,
        splits={s: counts[f"wild_{s}"] for s in ("test", "val") if f"wild_{s}" in counts},
        provenance={**prov, "domain": "wild"},
    )
    seconds = time.perf_counter() - t0
    return {**counts, "seconds": seconds, "crops_per_s": sum(counts.values()) / seconds}


def provenance(cfg: EmbeddedConfig) -> dict[str, Any]:
    """How the stores were made: generator, settings, seed, mocap source and clip names."""
    from importlib.metadata import version

    import pybullet_data  # noqa: F401  (version of the wheel the clips came from)

    return {
        "generator": "lbi.data.embedded.generate_embedded",
        "synthetic": True,
        "note": "SYNTHETIC: rendered from DeepMimic mocap; not Human3.6M / MPI-INF-3DHP",
        "seed": cfg.seed,
        "look": cfg.look,
        "appearance": APPEARANCE[cfg.look],
        "settings": to_dict(cfg),
        "mocap_source": f"pybullet {version('pybullet')} pybullet_data/data/motions/humanoid3d_*.txt",
        "skeleton": "pybullet_data/humanoid/humanoid.urdf (x0.25 m)",
        "clips": {
            "train": list(cfg.train_clips),
            "test": list(cfg.test_clips),
            "wild": list(cfg.wild_clips),
            "wild_val": list(cfg.wild_val_clips),
        },
        "world": "z up, mm; camera frame x right, y down, z forward",
        "lab_rig": [list(r) for r in LAB_RIG],
    }


def main(argv: list[str] | None = None) -> None:
    """CLI: ``python -m lbi.data.embedded --lab DIR --wild DIR [--tiny] [--seed N]``."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lab", type=Path, required=True, help="output folder of the lab store")
    p.add_argument("--wild", type=Path, required=True, help="output folder of the wild store")
    p.add_argument("--tiny", action="store_true", help="the seconds-long test configuration")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    cfg = tiny_config(seed=args.seed) if args.tiny else EmbeddedConfig(seed=args.seed)
    summary = generate_embedded(cfg, args.lab, args.wild)
    print({k: round(v, 2) if isinstance(v, float) else v for k, v in summary.items()})


if __name__ == "__main__":
    main()

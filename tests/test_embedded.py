"""The embedded benchmark: mocap FK, renderer, stores, synthetic detections, contact sheet."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lbi.camera import apply_affine
from lbi.data import mocap
from lbi.data.contact_sheet import main as contact_sheet_main
from lbi.data.embedded import (
    LAB_DATASET,
    WILD_DATASET,
    EmbeddedConfig,
    generate_embedded,
    tiny_config,
)
from lbi.data.render import Light, ray_matrix, render_bodies
from lbi.data.store import SAMPLE_FIELDS, load_detections, open_store
from lbi.data.synth_detections import NOISE_MODELS, corrupt, synthesize_detections, write_detections
from lbi.skeleton import BONES, SH16_TO_17


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("embedded")
    summary = generate_embedded(tiny_config(), root / "lab", root / "wild", progress=False)
    return root / "lab", root / "wild", summary


# --- mocap ------------------------------------------------------------------------------------
def test_clip_columns_follow_the_deepmimic_order() -> None:
    """Knee slots hold angles <= 0 and elbow slots >= 0 (URDF limits) in every clip."""
    skel = mocap.load_skeleton()
    assert skel.hinge_limits["right_knee"] == (-3.14, 0.0)
    assert skel.hinge_limits["left_elbow"] == (0.0, 3.14)
    for name in mocap.CLIPS:
        clip = mocap.load_clip(name)
        knees = clip.hinge[:, [mocap.HINGES.index("right_knee"), mocap.HINGES.index("left_knee")]]
        elbows = clip.hinge[
            :, [mocap.HINGES.index("right_elbow"), mocap.HINGES.index("left_elbow")]
        ]
        assert (knees <= 0.25).all() and (knees <= 0.0).mean() > 0.9, name
        assert (elbows >= -0.05).all(), name
        assert np.allclose(np.linalg.norm(clip.joint_quat, axis=-1), 1.0)
        assert clip.duration > 0.5 and np.all(np.diff(clip.times) >= 0)


def test_fk_bone_lengths_are_constant_and_scale_with_the_subject() -> None:
    rng = np.random.default_rng(0)
    lengths = {}
    for scale in (1.0, 1.1):
        clip = mocap.load_clip("cartwheel")
        sampled = mocap.sample_clip(clip, np.linspace(0, clip.duration, 97))
        posed = mocap.forward_kinematics(mocap.perturb_angles(sampled, 10.0, rng), scale=scale)
        J = mocap.h36m_joints(posed)
        L = np.stack([np.linalg.norm(J[:, a] - J[:, b], axis=-1) for a, b in BONES], 1)  # (T, 16)
        assert np.abs(L / L[:1] - 1).max() < 1e-6
        seg, _ = mocap.body_capsules(posed)
        limb = np.linalg.norm(seg[:, :, 0] - seg[:, :, 1], axis=-1)
        rigid = [k for k, c in enumerate(mocap.CAPSULES) if c[0] not in ("belly", "neck")]
        assert np.abs(limb[:, rigid] - limb[:1, rigid]).max() < 1e-6 * limb.max()
        lengths[scale] = L[0]
    assert np.allclose(lengths[1.1], 1.1 * lengths[1.0])


def test_standing_pose_is_human_sized_and_z_up() -> None:
    clip = mocap.load_clip("walk")
    J = mocap.h36m_joints(mocap.forward_kinematics(mocap.sample_clip(clip, clip.times)))
    assert 1450 < J[:, 10, 2].mean() < 1700  # head top, mm above the floor
    assert 0 < J[:, [3, 6], 2].min() < 150  # ankles near the floor
    assert np.all(J[:, 8, 2] > J[:, 0, 2]) and np.all(
        J[:, 0, 2] > J[:, 2, 2]
    )  # thorax > hip > knee


def test_slerp_hits_the_key_frames_and_stays_unit() -> None:
    clip = mocap.load_clip("dance_a")
    same = mocap.sample_clip(clip, clip.times[:10])
    assert np.allclose(np.abs((same.joint_quat * clip.joint_quat[:10]).sum(-1)), 1.0)
    mid = mocap.sample_clip(clip, 0.5 * (clip.times[1:11] + clip.times[:10]))
    assert np.allclose(np.linalg.norm(mid.joint_quat, axis=-1), 1.0)


# --- renderer -----------------------------------------------------------------------------------
def _render_spheres(centres: list, radius: float, colors: list, hw=(64, 64)) -> tuple:
    """Spheres seen by a camera with f = 500 px, crop = full image of size hw."""
    K = len(centres)
    seg = np.repeat(np.array(centres, float)[None, :, None, :], 2, axis=2)  # (1, K, 2, 3)
    f, (h, w) = 500.0, hw
    intr = np.array([[f, f, (w - 1) / 2, (h - 1) / 2, 0, 0, 0, 0, 0]])
    M = ray_matrix(np.array([[[1.0, 0, 0], [0, 1, 0]]]), intr, ss=2)  # crop = full image
    light = Light(ambient=0.3, key=0.0, fill=0.7, falloff=2.0)
    root = np.array([[0.0, 0.0, 3000.0]])
    cols = np.array(colors, float)[None]
    key_dir = np.array([[0.0, 0.0, -1.0]])
    return render_bodies(seg, np.full((1, K), radius), cols, M, root, key_dir, light, hw, 2)


def test_renderer_perspective_occlusion_and_depth_shading() -> None:
    _, near = _render_spheres([[0, 0, 2000]], 100.0, [[1, 0, 0]])  # radius ~25 px
    _, far = _render_spheres([[0, 0, 4000]], 100.0, [[1, 0, 0]])
    ratio = near.sum() / far.sum()  # projected area ~ (4000 / 2000)^2
    assert 3.8 < ratio < 4.2
    assert abs(np.average(np.arange(64), weights=near[0].sum(0)) - 31.5) < 0.05  # centred
    # occlusion: the nearer sphere (green) covers the centre even though it is listed last
    fg, _ = _render_spheres([[0, 0, 4000], [0, 0, 2500]], 300.0, [[1, 0, 0], [0, 1, 0]])
    centre = fg[0, 31:33, 31:33].mean((0, 1))
    assert centre[1] > 0.5 and centre[0] < 0.01
    # depth shading: the same albedo is darker farther away (root normalised at 3 m)
    fg_n, cov_n = _render_spheres([[0, 0, 2000]], 100.0, [[0.5, 0.5, 0.5]])
    fg_f, cov_f = _render_spheres([[0, 0, 4000]], 100.0, [[0.5, 0.5, 0.5]])
    bright_n = fg_n[0, 31:33, 31:33].mean() / cov_n[0, 31:33, 31:33].mean()
    bright_f = fg_f[0, 31:33, 31:33].mean() / cov_f[0, 31:33, 31:33].mean()
    assert bright_n > 2 * bright_f


# --- stores -------------------------------------------------------------------------------------
def test_stores_validate_and_are_labelled_synthetic(stores) -> None:
    lab, wild, summary = stores
    for path, dataset, splits in (
        (lab, LAB_DATASET, ["test", "train"]),
        (wild, WILD_DATASET, ["test", "val"]),
    ):
        store = open_store(path)
        assert store.dataset == dataset and store.synthetic
        assert sorted(store.splits) == splits
        assert store.meta["provenance"]["seed"] == 0 and "clips" in store.meta["provenance"]
        for split in splits:
            a = store.arrays(split)
            assert set(SAMPLE_FIELDS) <= set(a)
            n = len(a["pose3d"])
            assert n == summary[f"{'lab' if path == lab else 'wild'}_{split}"] > 0
            assert store.crops(split).shape == (n, *store.crop_hw, 3)
            assert store.fgmask(split).shape == (n, *store.crop_hw)
            assert np.abs(a["pose3d"][:, 0]).max() == 0  # root-relative
            assert (a["root3d"][:, 2] > 1000).all()  # in front of the camera


def test_projected_joints_land_on_the_rendered_body(stores) -> None:
    for path in stores[:2]:
        store = open_store(path)
        for split in store.splits:
            a = store.arrays(split)
            mask = np.asarray(store.fgmask(split))
            uv = np.rint(apply_affine(a["pose2d"].astype(np.float64), a["crop_affine"])).astype(int)
            h, w = store.crop_hw
            inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
            n_idx = np.broadcast_to(np.arange(len(uv))[:, None], inside.shape)
            on = mask[n_idx[inside], uv[..., 1][inside], uv[..., 0][inside]] == 1
            assert inside.mean() > 0.95 and on.mean() > 0.9, (path, split, on.mean())
    # and the mask is not trivially all ones
    assert np.asarray(open_store(stores[0]).fgmask("train")).mean() < 0.3


def test_generation_is_deterministic_in_the_seed(stores, tmp_path: Path) -> None:
    lab, wild, _ = stores
    cfg = tiny_config(train_clips=("walk", "jump", "punch"))
    generate_embedded(cfg, tmp_path / "a_lab", tmp_path / "a_wild", progress=False)
    generate_embedded(
        dataclasses.replace(cfg, seed=1), tmp_path / "b_lab", tmp_path / "b_wild", progress=False
    )
    for ref, same, other, split in (
        (lab, tmp_path / "a_lab", tmp_path / "b_lab", "train"),
        (wild, tmp_path / "a_wild", tmp_path / "b_wild", "test"),
    ):
        r, s, o = (open_store(p) for p in (ref, same, other))
        for k in ("pose3d", "pose2d", "crop_affine", "frame"):
            assert np.array_equal(r.arrays(split)[k], s.arrays(split)[k]), k
        assert np.array_equal(r.crops(split), s.crops(split))
        assert not np.array_equal(r.arrays(split)["pose3d"], o.arrays(split)["pose3d"])
        assert not np.array_equal(r.crops(split), o.crops(split))


def test_held_out_clips_and_subjects(stores) -> None:
    lab, wild, _ = stores
    tr, te = open_store(lab).arrays("train"), open_store(lab).arrays("test")
    wi = open_store(wild).arrays("test")
    assert not set(tr["action"]) & set(te["action"])
    assert not set(tr["action"]) & set(wi["action"])
    assert not set(tr["subject"]) & set(te["subject"])
    assert set(te["action"]) == set(tiny_config().test_clips)
    assert {c[:4] for c in wi["camera"]} == {"wild"} and {c[:4] for c in tr["camera"]} == {"lab_"}


def test_domains_have_different_backgrounds(stores) -> None:
    sat = {}
    for path in stores[:2]:
        store = open_store(path)
        crops = np.asarray(store.crops("test"), np.float32) / 255
        bg = crops[np.asarray(store.fgmask("test")) == 0]  # (P, 3)
        sat[path.name] = float((bg.max(-1) - bg.min(-1)).mean())
    assert sat["wild"] > 3 * sat["lab"], sat


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="test_clips"):
        EmbeddedConfig(test_clips=("walk",))
    with pytest.raises(ValueError, match="fps"):
        EmbeddedConfig(fps=0.0)
    with pytest.raises(ValueError, match="wild_clips"):
        EmbeddedConfig(wild_clips=("moonwalk",))
    with pytest.raises(ValueError, match="train_subjects"):
        EmbeddedConfig(train_subjects=((3.0, 1.0),))


# --- detections ---------------------------------------------------------------------------------
def test_synthetic_detections(stores, tmp_path: Path) -> None:
    store = open_store(stores[0])
    gt, meta_gt = synthesize_detections(store, "gt", 0)
    cpn, meta_cpn = synthesize_detections(store, "cpn", 0)
    sh, meta_sh = synthesize_detections(store, "sh", 0)
    for split in store.splits:
        pose2d = store.arrays(split)["pose2d"]
        assert np.array_equal(gt[split], pose2d)
        assert cpn[split].shape == pose2d.shape and sh[split].shape == (len(pose2d), 16, 2)
        e_cpn = np.linalg.norm(cpn[split] - pose2d, axis=-1).mean()
        e_sh = np.linalg.norm(sh[split] - pose2d[:, list(SH16_TO_17)], axis=-1).mean()
        assert 2.0 < e_cpn < e_sh < 20.0, (e_cpn, e_sh)
    assert meta_cpn["method"] == "synthetic noise model" and meta_cpn["synthetic"]
    assert meta_sh["layout"] == "sh16" and meta_gt["layout"] == "h36m17"
    again, _ = synthesize_detections(store, "cpn", 0)
    other, _ = synthesize_detections(store, "cpn", 1)
    assert np.array_equal(again["train"], cpn["train"]) and not np.array_equal(
        other["train"], cpn["train"]
    )
    path = write_detections(store, "sh", 0, tmp_path)
    kp, meta = load_detections(path, "test", store.meta["splits"]["test"])
    assert kp.shape[1] == 16 and meta["detector"] == "sh"


def test_detection_error_scales_with_person_size(stores) -> None:
    a = open_store(stores[0]).arrays("train")
    model = dataclasses.replace(NOISE_MODELS["cpn"], swap_prob=0.0, jump_prob=0.0)
    far = dict(a, root3d=a["root3d"] * np.array([1, 1, 2], np.float32))  # half the size in px
    gt = a["pose2d"].astype(np.float64)
    e_near = np.abs(corrupt(gt, a, model, np.random.default_rng(3)) - gt)
    e_far = np.abs(corrupt(gt, far, model, np.random.default_rng(3)) - gt)
    assert np.allclose(e_far, 0.5 * e_near, atol=1e-6)


def test_contact_sheet(stores, tmp_path: Path) -> None:
    out = tmp_path / "sheet.png"
    contact_sheet_main([str(stores[0]), str(stores[1]), "-o", str(out), "--n", "4"])
    with Image.open(out) as im:
        assert im.size[0] > 300 and im.size[1] > 200


def test_lab_light_jitter_changes_training_renders_only(tmp_path):
    from lbi.data.embedded import generate_embedded
    from lbi.data.store import open_store

    runs = {}
    for j in (0.0, 0.35):
        lab, wild = tmp_path / f"lab{j}", tmp_path / f"wild{j}"
        generate_embedded(tiny_config(lab_light_jitter=j), lab, wild, progress=False)
        runs[j] = open_store(lab)
    a, b = runs[0.0], runs[0.35]
    assert not np.array_equal(np.asarray(a.crops("train")), np.asarray(b.crops("train")))
    assert np.array_equal(np.asarray(a.crops("test")), np.asarray(b.crops("test")))
    assert np.array_equal(
        a.arrays("train")["pose3d"], b.arrays("train")["pose3d"]
    )  # geometry unchanged
    with pytest.raises(ValueError, match="lab_light_jitter"):
        tiny_config(lab_light_jitter=0.9)


def test_domain_shift_variants_isolate_one_factor(stores, tmp_path):
    """bench_domain_shift: wild/wild reproduces the wild store; lab cameras keep the poses."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_domain_shift.py"
    spec = importlib.util.spec_from_file_location("bench_domain_shift", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    _, wild, _ = stores
    cfg = tiny_config()
    ww = open_store(bench.render_variant(cfg, "wild", "wild", tmp_path / "ww"))
    ref = open_store(wild)
    assert np.array_equal(ww.crops("test"), ref.crops("test"))
    lab = open_store(bench.render_variant(cfg, "lab", "lab", tmp_path / "ll"))
    a, b = lab.arrays("test"), ref.arrays("test")
    assert set(a["camera"]) <= {f"lab_c{i}" for i in range(4)}
    # same bodies, other cameras: bone lengths agree, camera-frame poses differ
    bl = lambda p: np.linalg.norm(p[:, 1] - p[:, 0], axis=-1)  # noqa: E731
    np.testing.assert_allclose(bl(a["pose3d"]), bl(b["pose3d"]), rtol=1e-4)
    assert not np.allclose(a["pose3d"], b["pose3d"])
    # lab appearance keeps the wild store's cameras (every view's draws stay in step)
    wl = open_store(bench.render_variant(cfg, "wild", "lab", tmp_path / "wl"))
    np.testing.assert_array_equal(wl.arrays("test")["pose3d"], b["pose3d"])
    # one wild factor at a time on lab/lab: same poses, other pixels
    for f in bench.FACTORS:
        one = open_store(bench.render_variant(cfg, "lab", f, tmp_path / f))
        np.testing.assert_array_equal(one.arrays("test")["pose3d"], a["pose3d"])
        assert not np.array_equal(one.crops("test"), lab.crops("test")), f

"""Human3.6M preprocessing on a tiny fake copy in the real (VideoPose3D) file formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial.transform import Rotation

from lbi.camera import apply_affine
from lbi.config import ConfigError, from_dict
from lbi.data.frames import (
    CropJob,
    DatasetError,
    check_pattern,
    cut_crop,
    fill_crops,
    scratch_crops,
)
from lbi.data.h36m import H36MConfig, action_spellings, preprocess_h36m, required_files
from lbi.data.h36m_cameras import (
    CAMERA_IDS,
    PUBLIC_CAMERAS,
    SUBJECTS,
    cameras_to_json,
    load_cameras,
)
from lbi.data.store import detections_path, load_detections, open_store
from lbi.skeleton import SH16_TO_17
from tests.fixtures_real import DOT_JOINT, H36MFixture, build_h36m, save_pickled

CFG = {"train_subjects": ("S1",), "test_subjects": ("S11",)}


def _run(root: Path, **overrides: object) -> tuple[dict, Path, Path]:
    cfg = H36MConfig(root=str(root), **{**CFG, **overrides})  # type: ignore[arg-type]
    store, det = root / "store", root / "det"
    return preprocess_h36m(cfg, store, det, progress=False), store, det


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> tuple[H36MFixture, dict, Path, Path]:
    fx = build_h36m(tmp_path_factory.mktemp("h36m"))
    summary, store, det = _run(fx.root)
    return fx, summary, store, det


def _gt_sub(fx: H36MFixture, subject: str, action: str, cam: str) -> np.ndarray:
    """Fixture GT 2D of one camera, trimmed to the mocap and subsampled."""
    return fx.gt2d[subject][action][CAMERA_IDS.index(cam)][: fx.num_frames : fx.stride]


# --- the store ------------------------------------------------------------------------------
def test_store_validates_with_expected_sizes_and_frames(done) -> None:
    _fx, summary, store_dir, _ = done
    store = open_store(store_dir)
    train, test = store.arrays("train"), store.arrays("test")
    # 2 actions x 4 cameras x frames {0, 10, 20}; S11 Directions loses one camera
    assert len(train["pose3d"]) == 2 * 4 * 3
    assert len(test["pose3d"]) == 2 * 4 * 3 - 3
    assert summary["splits"] == {"train": 24, "test": 21}
    assert sorted(set(train["frame"].tolist())) == [0, 10, 20]
    assert store.meta["fps"] == 5.0 and store.crop_hw == (256, 192)
    assert store.crops("train").shape == (24, 256, 192, 3)
    assert store.meta["provenance"]["has_images"] is True
    assert not list(store_dir.glob(".*scratch*")), "scratch crops were left behind"


def test_actions_are_canonical(done) -> None:
    _, _, store_dir, _ = done
    store = open_store(store_dir)
    assert set(store.arrays("train")["action"]) == {"Directions", "Photo"}
    assert set(store.arrays("test")["action"]) == {"Directions", "WalkDog"}


def test_s11_directions_camera_54138969_skipped(done) -> None:
    _, summary, store_dir, _ = done
    a = open_store(store_dir).arrays("test")
    key = set(zip(a["action"], a["camera"], strict=True))
    assert ("Directions", "54138969") not in key
    assert ("Directions", "55011271") in key and ("WalkDog", "54138969") in key
    assert summary["skipped"] == ["S11/Directions/54138969"]


def test_3d_is_world_to_camera_in_mm_and_root_relative(done) -> None:
    fx, _, store_dir, _ = done
    a = open_store(store_dir).arrays("train")
    assert np.abs(a["pose3d"][:, 0]).max() == 0.0
    for cam in CAMERA_IDS:
        m = (a["action"] == "Photo") & (a["camera"] == cam)
        _, extr = PUBLIC_CAMERAS.get("S1", cam)
        w, x, y, z = extr.orientation
        R = Rotation.from_quat([x, y, z, w]).as_matrix()  # camera -> world axes
        world_mm = fx.pose_world_m["S1"]["TakingPhoto"][:: fx.stride].astype(np.float64) * 1000
        expect = (world_mm - np.array(extr.translation)) @ R  # R^T (X - t), row vectors
        got = a["pose3d"][m] + a["root3d"][m][:, None]
        np.testing.assert_allclose(got, expect, atol=0.05)
        assert (expect[..., 2] > 1000).all()


def test_pose2d_matches_the_trimmed_subsampled_gt_file(done) -> None:
    fx, _, store_dir, _ = done
    a = open_store(store_dir).arrays("train")
    for cam in CAMERA_IDS:
        m = (a["action"] == "Directions") & (a["camera"] == cam)
        np.testing.assert_allclose(
            a["pose2d"][m], _gt_sub(fx, "S1", "Directions 1", cam), atol=1e-2
        )
        i = PUBLIC_CAMERAS.intrinsics[cam]
        assert (a["image_wh"][m] == [i.res_w, i.res_h]).all()
        np.testing.assert_allclose(a["intrinsics"][m][0], i.vector())
    assert len(fx.gt2d["S1"]["Directions 1"][0]) > fx.num_frames  # the 2D really was longer


def test_detections_align_with_samples(done) -> None:
    _fx, _, store_dir, det_dir = done
    store = open_store(store_dir)
    for split in ("train", "test"):
        a = store.arrays(split)
        n = len(a["pose3d"])
        gt, meta = load_detections(detections_path(det_dir, "h36m", "gt"), split, n)
        np.testing.assert_allclose(gt, a["pose2d"], atol=1e-2)
        assert meta["layout"] == "h36m17" and meta["synthetic"] is False
        cpn, _ = load_detections(detections_path(det_dir, "h36m", "cpn"), split, n)
        assert cpn.shape == (n, 17, 2)
        assert 0 < np.linalg.norm(cpn - a["pose2d"], axis=-1).max() < 20
        sh, meta = load_detections(detections_path(det_dir, "h36m", "sh"), split, n)
        assert sh.shape == (n, 16, 2) and meta["layout"] == "sh16"
        assert meta["settings"]["converted_from_mpii_order"] is True
        ref = a["pose2d"][:, list(SH16_TO_17)]
        no_spine = [j for j in range(16) if j != 7]  # Spine is rebuilt from pelvis/thorax
        assert np.linalg.norm(sh[:, no_spine] - ref[:, no_spine], axis=-1).max() < 12
        np.testing.assert_allclose(sh[:, 7], 0.5 * (sh[:, 0] + sh[:, 8]), atol=1e-3)


def test_crops_show_the_projected_joint(done) -> None:
    _, _, store_dir, _ = done
    store = open_store(store_dir)
    for split in ("train", "test"):
        a, crops = store.arrays(split), store.crops(split)
        uv = apply_affine(a["pose2d"][:, DOT_JOINT : DOT_JOINT + 1], a["crop_affine"])[:, 0]
        for i in range(len(crops)):
            ys, xs = np.nonzero(crops[i].mean(-1) > 150)
            assert len(xs) > 3, f"no dot in crop {i}"
            assert np.hypot(xs.mean() - uv[i, 0], ys.mean() - uv[i, 1]) < 1.5


def test_box_2d_without_frames(tmp_path: Path) -> None:
    fx = build_h36m(tmp_path, frames=False)
    summary, store_dir, _ = _run(
        tmp_path, frames_root=None, box="2d", box_margin=1.2, crop_hw=(64, 48)
    )
    store = open_store(store_dir)
    assert summary["has_images"] is False and store.meta["provenance"]["has_images"] is False
    assert store.crops("train").max() == 0
    a = store.arrays("train")
    uv = apply_affine(a["pose2d"], a["crop_affine"])
    lo, hi = uv.min(1), uv.max(1)
    assert (lo >= -0.5).all() and (hi[:, 0] <= 47.5).all() and (hi[:, 1] <= 63.5).all()
    # the joint extent fills the crop (up to the margin) along its limiting axis
    fill = np.maximum((hi - lo)[:, 0] / 48, (hi - lo)[:, 1] / 64)
    np.testing.assert_allclose(fill, 1 / 1.2, atol=0.01)
    assert fx.num_frames == 30


def test_stride_and_split_are_configurable(tmp_path: Path) -> None:
    build_h36m(tmp_path, frames=False)
    summary, store_dir, _ = _run(
        tmp_path,
        frames_root=None,
        stride=7,
        train_subjects=("S11",),
        test_subjects=(),
        detectors={"gt": "data_2d_h36m_gt.npz"},
    )
    a = open_store(store_dir).arrays("train")
    assert summary["splits"] == {"train": 2 * 4 * 5 - 5}
    assert sorted(set(a["frame"].tolist())) == [0, 7, 14, 21, 28]


# --- cameras ----------------------------------------------------------------------------------
def test_public_camera_table() -> None:
    assert set(PUBLIC_CAMERAS.intrinsics) == set(CAMERA_IDS)
    assert set(PUBLIC_CAMERAS.extrinsics) == set(SUBJECTS)
    res = {c: (i.res_w, i.res_h) for c, i in PUBLIC_CAMERAS.intrinsics.items()}
    assert res == {
        "54138969": (1000, 1002),
        "55011271": (1000, 1000),
        "58860488": (1000, 1000),
        "60457274": (1000, 1002),
    }
    for cams in PUBLIC_CAMERAS.extrinsics.values():
        for e in cams.values():
            assert abs(np.linalg.norm(e.orientation) - 1) < 1e-5
            assert 3000 < np.linalg.norm(e.translation) < 7000  # cameras ring the capture space


def test_cameras_json_roundtrip_and_mismatch_detected(tmp_path: Path) -> None:
    path = tmp_path / "cams.json"
    path.write_text(json.dumps(cameras_to_json(PUBLIC_CAMERAS)))
    table = load_cameras(path)
    assert (
        table.intrinsics == PUBLIC_CAMERAS.intrinsics
        and table.extrinsics == PUBLIC_CAMERAS.extrinsics
    )
    build_h36m(tmp_path, frames=False)
    _run(tmp_path, frames_root=None, cameras_file=str(path))
    bad = cameras_to_json(PUBLIC_CAMERAS)
    bad["intrinsics"][1]["center"] = [450.0, 508.0]  # camera 55011271 off by ~60 px
    path.write_text(json.dumps(bad))
    with pytest.raises(DatasetError) as e:
        _run(tmp_path, frames_root=None, cameras_file=str(path))
    assert all(s in str(e.value) for s in ("data_2d_h36m_gt.npz", "S1", "55011271", "cams.json"))


# --- config -----------------------------------------------------------------------------------
def test_config_is_strict() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(H36MConfig, {"strid": 5}, where="params.yaml", prefix="h36m.")
    with pytest.raises(ConfigError, match="box"):
        from_dict(H36MConfig, {"box": "3D"}, where="params.yaml", prefix="h36m.")
    cfg = from_dict(H36MConfig, {"crop_hw": [128, 96], "skip": [["S9", "Sitting 1", "55011271"]]})
    assert cfg.crop_hw == (128, 96) and cfg.skip == (("S9", "Sitting 1", "55011271"),)
    with pytest.raises(ValueError, match="both train and test"):
        H36MConfig(train_subjects=("S1", "S9"))
    with pytest.raises(ValueError, match="unknown placeholders"):
        check_pattern("{subject}/{sequence}/{frame:06d}.jpg")
    with pytest.raises(ValueError, match="frame"):
        check_pattern("{subject}/{action}.jpg")


# --- bad input --------------------------------------------------------------------------------
def _load(path: Path) -> dict:
    with np.load(path, allow_pickle=True) as z:
        return {k: z[k].item() for k in z.files}


def _edit_2d(root: Path, name: str, fn) -> None:
    d = _load(root / name)
    fn(d["positions_2d"], d["metadata"])
    save_pickled(root / name, **d)


CPN = "data_2d_h36m_cpn_ft_h36m_dbb.npz"


def _shorten(p2d: dict, _meta: dict) -> None:
    p2d["S1"]["TakingPhoto"][2] = p2d["S1"]["TakingPhoto"][2][:20]


def _nan(p2d: dict, _meta: dict) -> None:
    p2d["S11"]["WalkDog"][3][4, 2] = np.nan


def _joints(p2d: dict, _meta: dict) -> None:
    p2d["S11"]["WalkDog"][1] = p2d["S11"]["WalkDog"][1][:, :15]


def _cams(p2d: dict, _meta: dict) -> None:
    p2d["S1"]["Directions 1"] = p2d["S1"]["Directions 1"][:3]


def _coco(_p2d: dict, meta: dict) -> None:
    meta["keypoints_symmetry"] = [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (_shorten, ("S1", "TakingPhoto", "58860488", "20 frames")),
        (_nan, ("S11", "WalkDog", "60457274", "NaN")),
        (_joints, ("S11", "WalkDog", "55011271", "(T, 17, 2)")),
        (_cams, ("S1", "Directions 1", "list of 4")),
        (_coco, ("keypoints_symmetry", "COCO")),
    ],
)
def test_bad_2d_file_is_named(tmp_path: Path, edit, expect) -> None:
    build_h36m(tmp_path, frames=False)
    _edit_2d(tmp_path, CPN, edit)
    with pytest.raises(DatasetError) as e:
        _run(tmp_path, frames_root=None)
    for s in (CPN, *expect):
        assert s in str(e.value)
    assert not (tmp_path / "store" / "meta.json").exists()


def test_bad_3d_file_is_named(tmp_path: Path) -> None:
    build_h36m(tmp_path, frames=False)
    path = tmp_path / "data_3d_h36m.npz"
    good = _load(path)["positions_3d"]

    def expect_error(*parts: str) -> None:
        with pytest.raises(DatasetError) as e:
            _run(tmp_path, frames_root=None)
        for s in ("data_3d_h36m.npz", *parts):
            assert s in str(e.value), (s, str(e.value))

    path.unlink()
    expect_error("not found", "vision.imar.ro")
    save_pickled(path, positions=good)
    expect_error("positions_3d")
    bad = {s: dict(a) for s, a in good.items()}
    bad["S1"]["Directions 1"] = good["S1"]["Directions 1"].copy()
    bad["S1"]["Directions 1"][3, 0, 1] = np.nan
    save_pickled(path, positions_3d=bad)
    expect_error("S1", "Directions 1", "NaN")
    bad["S1"]["Directions 1"] = good["S1"]["Directions 1"] * 1000
    save_pickled(path, positions_3d=bad)
    expect_error("S1", "Directions 1", "millimetres")
    bad["S1"]["Directions 1"] = good["S1"]["Directions 1"][:, :20]
    save_pickled(path, positions_3d=bad)
    expect_error("S1", "Directions 1", "(T, 32, 3)")
    save_pickled(path, positions_3d=good)
    (tmp_path / "data_2d_h36m_sh_pt_mpii.npz").unlink()
    with pytest.raises(DatasetError, match=r"data_2d_h36m_sh_pt_mpii\.npz: not found"):
        required_files(H36MConfig(root=str(tmp_path)))


def test_corrupt_archives_are_named(tmp_path: Path) -> None:
    build_h36m(tmp_path, frames=False)
    path = tmp_path / CPN
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncated zip
    with pytest.raises(DatasetError, match=rf"{CPN}: corrupt"):
        _run(tmp_path, frames_root=None)
    path.write_bytes(b"this is not an npz file at all" * 10)
    with pytest.raises(DatasetError, match=rf"{CPN}: corrupt"):
        _run(tmp_path, frames_root=None)


def test_bad_frames_are_named(tmp_path: Path) -> None:
    build_h36m(tmp_path)
    frame = tmp_path / "frames" / "S1" / "TakingPhoto.55011271" / "000010.jpg"
    frame.write_bytes(b"\xff\xd8\xff\xe0 corrupt jpeg")
    with pytest.raises(DatasetError) as e:
        _run(tmp_path)
    assert all(
        s in str(e.value)
        for s in (str(frame), "corrupt", "S1", "TakingPhoto", "55011271", "frame 10")
    )
    frame.unlink()
    with pytest.raises(DatasetError) as e:
        _run(tmp_path)
    assert all(s in str(e.value) for s in (str(frame), "not found", "frame 10", "frames_root"))
    shutil.copy(tmp_path / "frames" / "S1" / "TakingPhoto.55011271" / "000000.jpg", frame)
    small = tmp_path / "frames" / "S11" / "WalkDog.60457274" / "000020.jpg"
    Image.new("RGB", (500, 501)).save(small)
    with pytest.raises(DatasetError) as e:
        _run(tmp_path)
    assert all(s in str(e.value) for s in (str(small), "500x501", "1000x1002", "S11", "WalkDog"))


# --- frames -------------------------------------------------------------------------------------
def test_reduced_jpeg_decode_matches_full_decode(done) -> None:
    fx, _, store_dir, _ = done
    a = open_store(store_dir).arrays("train")
    path = fx.root / "frames" / "S1" / "TakingPhoto.58860488" / "000010.jpg"
    i = int(
        np.nonzero((a["action"] == "Photo") & (a["camera"] == "58860488") & (a["frame"] == 10))[0][
            0
        ]
    )
    job = CropJob(path, a["crop_affine"][i], (1000, 1000), "test")
    fast, full = cut_crop(job, (256, 192), True), cut_crop(job, (256, 192), False)
    assert np.abs(fast.astype(int) - full.astype(int)).mean() < 2.0
    assert np.array_equal(fast, open_store(store_dir).crops("train")[i])


def test_worker_processes_write_the_same_crops(done, tmp_path: Path) -> None:
    fx, _, store_dir, _ = done
    a = open_store(store_dir).arrays("train")
    pattern = fx.root / "frames" / "S1"
    names = {"Directions": "Directions 1", "Photo": "TakingPhoto"}
    jobs = [
        CropJob(
            pattern / f"{names[act]}.{cam}" / f"{f:06d}.jpg",
            A,
            (1000, 1002 if cam in ("54138969", "60457274") else 1000),
            f"job {i}",
        )
        for i, (act, cam, f, A) in enumerate(
            zip(a["action"], a["camera"], a["frame"], a["crop_affine"], strict=True)
        )
    ]
    with scratch_crops(tmp_path, "x", len(jobs), (256, 192)) as out:
        fill_crops(jobs, out, workers=2, progress=False, chunk=5)
        np.testing.assert_array_equal(out, open_store(store_dir).crops("train"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    jobs[7] = CropJob(bad, jobs[7].affine, (1000, 1000), "job 7")
    with (
        scratch_crops(tmp_path, "y", len(jobs), (256, 192)) as out,
        pytest.raises(DatasetError, match=r"bad\.jpg: unreadable or corrupt image \(job 7"),
    ):
        fill_crops(jobs, out, workers=2, progress=False, chunk=5)
    assert not list(tmp_path.glob(".*scratch*"))


def test_frames_found_under_the_other_video_spelling(tmp_path: Path) -> None:
    build_h36m(tmp_path)
    for folder in (tmp_path / "frames" / "S1").glob("TakingPhoto.*"):
        folder.rename(folder.with_name(folder.name.replace("TakingPhoto", "Photo")))
    summary, _, _ = _run(tmp_path, detectors={})
    assert summary["splits"]["train"] == 24 and summary["detections"] == {}
    assert action_spellings("Photo 1") == ["Photo 1", "TakingPhoto 1"]
    assert action_spellings("WalkingDog") == ["WalkingDog", "WalkDog"]
    assert action_spellings("WalkTogether 2") == ["WalkTogether 2"]


def test_bad_cameras_file_and_subjects_are_named(tmp_path: Path) -> None:
    path = tmp_path / "cams.json"
    good = cameras_to_json(PUBLIC_CAMERAS)
    bad = json.loads(json.dumps(good))
    bad["extrinsics"]["S9"][2]["orientation"] = [1.0, 1.0, 0.0, 0.0]
    path.write_text(json.dumps(bad))
    with pytest.raises(
        DatasetError,
        match=r"cams\.json: extrinsics of subject S9 camera 58860488: .*unit quaternion",
    ):
        load_cameras(path)
    bad = json.loads(json.dumps(good))
    del bad["intrinsics"][0]["res_h"]
    path.write_text(json.dumps(bad))
    with pytest.raises(DatasetError, match=r"cams\.json: intrinsics\[0\] \(camera 54138969\)"):
        load_cameras(path)
    bad = json.loads(json.dumps(good))
    bad["extrinsics"] = {"S1": good["extrinsics"]["S1"]}
    path.write_text(json.dumps(bad))
    build_h36m(tmp_path, frames=False)
    with pytest.raises(
        DatasetError, match=r"cams\.json: no extrinsics for subject S11 camera 55011271"
    ):
        _run(tmp_path, frames_root=None, cameras_file=str(path))
    with pytest.raises(DatasetError, match=r"data_3d_h36m\.npz: no subject S5 .*train_subjects"):
        _run(tmp_path, frames_root=None, train_subjects=("S1", "S5"))

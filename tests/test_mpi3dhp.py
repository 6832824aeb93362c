"""MPI-INF-3DHP test-set preprocessing on fake MATLAB v7.3 files and a subset npz."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from lbi.camera import apply_affine
from lbi.data.frames import DatasetError
from lbi.data.mpi3dhp import MPI3DHPConfig, joints_array, preprocess_3dhp, required_files
from lbi.data.store import detections_path, load_detections, open_store
from tests.fixtures_real import (
    DOT_JOINT,
    MPI_K,
    MPI_WH,
    MPISequence,
    build_3dhp,
    mpi_sequence,
    write_mat73,
    write_subset,
)

SEQS = ("TS1", "TS5")


def _run(root: Path, out: str = "store", **overrides: object) -> tuple[dict, Path, Path]:
    cfg = MPI3DHPConfig(root=str(root), sequences=SEQS, **overrides)  # type: ignore[arg-type]
    return (
        preprocess_3dhp(cfg, root / out, root / f"{out}_det", progress=False),
        root / out,
        root / f"{out}_det",
    )


@pytest.fixture(scope="module")
def done(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, MPISequence], Path, dict, Path, Path]:
    root = tmp_path_factory.mktemp("3dhp")
    seqs = build_3dhp(root)
    summary, store, det = _run(root)
    return seqs, root, summary, store, det


def _valid(seqs: dict[str, MPISequence], field: str) -> np.ndarray:
    return np.concatenate([getattr(s, field)[s.valid] for s in seqs.values()])


def test_testset_store(done) -> None:
    seqs, _, summary, store_dir, det_dir = done
    store = open_store(store_dir)
    assert store.dataset == "mpi_inf_3dhp" and store.splits == ["test"]
    a = store.arrays("test")
    n = sum(int(s.valid.sum()) for s in seqs.values())
    assert summary["splits"] == {"test": n} and len(a["pose3d"]) == n
    assert a["frame"].tolist() == [int(f) for s in seqs.values() for f in np.nonzero(s.valid)[0]]
    assert 1 not in a["frame"] and 5 not in a["frame"]  # invalid frames dropped
    assert a["subject"].tolist() == [k for k, s in seqs.items() for _ in range(int(s.valid.sum()))]
    assert (a["camera"] == a["subject"]).all()
    univ = _valid(seqs, "univ3")
    np.testing.assert_allclose(a["pose3d"], univ - univ[:, :1], atol=1e-3)
    np.testing.assert_allclose(a["root3d"], univ[:, 0], atol=1e-3)
    np.testing.assert_allclose(a["pose2d"], _valid(seqs, "annot2"), atol=1e-3)
    for name in SEQS:
        m = a["subject"] == name
        assert (a["image_wh"][m] == MPI_WH[name]).all()
        np.testing.assert_allclose(
            a["intrinsics"][m][:, :4], np.broadcast_to(MPI_K[name], (m.sum(), 4)), rtol=1e-5
        )
        assert (a["intrinsics"][m][:, 4:] == 0).all()
    ts1 = a["action"][a["subject"] == "TS1"]
    assert ts1.tolist()[:3] == [
        "StandWalk",
        "Sit",
        "ReachCrouch",
    ]  # activity 1, 3, 4 (frames 0, 2, 3)
    assert set(a["action"][a["subject"] == "TS5"]) == {"all"}
    gt, meta = load_detections(detections_path(det_dir, "mpi_inf_3dhp", "gt"), "test", n)
    np.testing.assert_allclose(gt, a["pose2d"])
    assert meta["layout"] == "h36m17"
    assert store.meta["provenance"]["has_images"] is True
    assert max(store.meta["provenance"]["intrinsics_rms_px"].values()) < 1e-3


def test_crops_show_the_annotated_joint(done) -> None:
    _, _, _, store_dir, _ = done
    store = open_store(store_dir)
    a, crops = store.arrays("test"), store.crops("test")
    uv = apply_affine(a["pose2d"][:, DOT_JOINT : DOT_JOINT + 1], a["crop_affine"])[:, 0]
    for i in range(len(crops)):
        ys, xs = np.nonzero(crops[i].mean(-1) > 150)
        assert len(xs) > 3 and np.hypot(xs.mean() - uv[i, 0], ys.mean() - uv[i, 1]) < 1.5


def test_matlab_axis_order_gives_the_same_store(done, tmp_path: Path) -> None:
    seqs, _, _, store_dir, _ = done
    for name in SEQS:
        write_mat73(tmp_path / name / "annot_data.mat", seqs[name], matlab_order=True)
    _run(tmp_path, frames_root=None)
    a, b = open_store(store_dir).arrays("test"), open_store(tmp_path / "store").arrays("test")
    for k in ("pose3d", "root3d", "pose2d", "intrinsics", "frame", "action"):
        np.testing.assert_array_equal(a[k], b[k])


def test_joints_array_orders() -> None:
    x = np.random.default_rng(0).normal(size=(5, 17, 3))
    h5 = x[:, None]  # (T, 1, 17, 3)
    ml = h5.transpose(3, 2, 1, 0)  # (3, 17, 1, T)
    for a, order in ((h5, "hdf5"), (ml, "matlab"), (x, "hdf5"), (x.transpose(2, 1, 0), "matlab")):
        np.testing.assert_array_equal(joints_array(a, 3, order, "f"), x)
    sq = np.random.default_rng(1).normal(size=(3, 17, 3))  # T == C: the order decides
    np.testing.assert_array_equal(joints_array(sq, 3, "hdf5", "f"), sq)
    np.testing.assert_array_equal(joints_array(sq, 3, "matlab", "f"), sq.transpose(2, 1, 0))
    with pytest.raises(DatasetError, match=r"annot_data\.mat: 'annot2': shape \(5, 16, 2\)"):
        joints_array(np.zeros((5, 16, 2)), 2, "hdf5", "annot_data.mat: 'annot2'")


def test_actual_skeleton_and_camera_file(done, tmp_path: Path) -> None:
    seqs, root, _, _, _ = done
    cams = tmp_path / "cams.json"
    cams.write_text(
        json.dumps({"TS1": [1000.0, 1001.0, 1000.0, 1020.0], "TS5": list(range(1, 10))})
    )
    _run(root, out="store_actual", universal=False, frames_root=None, cameras_file=str(cams))
    a = open_store(root / "store_actual").arrays("test")
    annot3 = _valid(seqs, "annot3")
    np.testing.assert_allclose(a["pose3d"], annot3 - annot3[:, :1], atol=1e-3)
    assert a["intrinsics"][0].tolist() == [1000.0, 1001.0, 1000.0, 1020.0, 0, 0, 0, 0, 0]
    assert a["intrinsics"][-1].tolist() == list(range(1, 10))


def test_subset_npz_without_frames(done, tmp_path: Path) -> None:
    seqs, _, _, store_dir, _ = done
    n = write_subset(tmp_path / "subset.npz", seqs)
    cfg = MPI3DHPConfig(root=str(tmp_path), subset_file="subset.npz", frames_root=None)
    summary = preprocess_3dhp(cfg, tmp_path / "s", tmp_path / "d", progress=False)
    store = open_store(tmp_path / "s")
    a, ref = store.arrays("test"), open_store(store_dir).arrays("test")
    assert summary["splits"] == {"test": n} and summary["has_images"] is False
    assert store.meta["provenance"]["has_images"] is False and store.crops("test").max() == 0
    for k in ("pose3d", "root3d", "pose2d", "frame", "subject", "image_wh"):
        np.testing.assert_allclose(a[k], ref[k], atol=1e-3) if a[
            k
        ].dtype.kind == "f" else np.testing.assert_array_equal(a[k], ref[k])
    assert set(a["action"]) == {"all"}
    # the universal skeleton does not project exactly: the fitted focal absorbs its scale
    assert (np.abs(a["intrinsics"][:, :2] / ref["intrinsics"][:, :2] - 1) < 0.15).all()
    write_subset(tmp_path / "rel.npz", seqs, root_relative=True)
    with pytest.raises(DatasetError, match=r"rel\.npz: 'pose3d' is root-relative"):
        preprocess_3dhp(
            MPI3DHPConfig(root=str(tmp_path), subset_file="rel.npz", frames_root=None),
            tmp_path / "s2",
            tmp_path / "d2",
        )
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DatasetError, match=r"bad\.npz: corrupt"):
        preprocess_3dhp(
            MPI3DHPConfig(root=str(tmp_path), subset_file="bad.npz", frames_root=None),
            tmp_path / "s3",
            tmp_path / "d3",
        )


def test_bad_input_is_named(tmp_path: Path) -> None:
    def expect(*parts: str, **overrides: object) -> None:
        with pytest.raises(DatasetError) as e:
            _run(tmp_path, frames_root=None, **overrides)
        for s in parts:
            assert s in str(e.value), (s, str(e.value))
        assert not (tmp_path / "store" / "meta.json").exists()

    expect("TS1/annot_data.mat", "not found", "vcai.mpi-inf.mpg.de")
    with pytest.raises(DatasetError, match=r"vcai\.mpi-inf\.mpg\.de"):
        required_files(MPI3DHPConfig(root=str(tmp_path)))
    seq = mpi_sequence("TS1")
    write_mat73(tmp_path / "TS1" / "annot_data.mat", seq, nan_at=4)
    write_mat73(tmp_path / "TS5" / "annot_data.mat", mpi_sequence("TS5"))
    expect("TS1/annot_data.mat", "sequence TS1", "univ_annot3", "NaN", "[4]")
    write_mat73(tmp_path / "TS1" / "annot_data.mat", seq, nan_at=5)  # an invalid frame: ignored
    _run(tmp_path, frames_root=None)
    (tmp_path / "TS5" / "annot_data.mat").write_bytes(b"\x00garbage" * 64)
    expect("TS5/annot_data.mat", "not a readable .mat")
    write_mat73(tmp_path / "TS5" / "annot_data.mat", mpi_sequence("TS5"))
    with h5py.File(tmp_path / "TS5" / "annot_data.mat", "a") as f:
        del f["annot2"]
    expect("TS5/annot_data.mat", "sequence TS5", "'annot2'")
    shifted = mpi_sequence("TS5")
    shifted.annot2[:] = shifted.annot2[..., ::-1]  # (v, u): an axis-order mix-up
    write_mat73(tmp_path / "TS5" / "annot_data.mat", shifted)
    expect("TS5/annot_data.mat", "sequence TS5", "px RMS")


def test_corrupt_frame_is_named(tmp_path: Path) -> None:
    build_3dhp(tmp_path, names=("TS5",))
    frame = tmp_path / "TS5" / "imageSequence" / "img_000005.jpg"  # frame index 4
    frame.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(DatasetError) as e:
        preprocess_3dhp(
            MPI3DHPConfig(root=str(tmp_path), sequences=("TS5",)),
            tmp_path / "s",
            tmp_path / "d",
            progress=False,
        )
    assert all(s in str(e.value) for s in (str(frame), "sequence TS5", "frame 4", "corrupt"))

"""Issue 17, "nothing silently wrong": each bad input is refused with one line naming the
file and what to do, or degrades visibly, never a traceback and never a silent result.

Extend the table and add the test next to its neighbours.

=================================  =====================================  =========================================
case                               input                                  outcome
=================================  =====================================  =========================================
pickle payload (h36m)              data_3d npz whose pickle calls         DatasetError naming file and the global
                                   ``os.system``                          (``posix.system``); payload never runs
real-format pickles (h36m)         tests/fixtures_real.py files           load (restricted unpickler allows them)
2D much longer than mocap (h36m)   cpn 2D 200 frames longer               DatasetError: file, subject, action,
                                                                          camera, both frame counts
2D a few frames longer (h36m)      the fixtures' +5 video frames          trimmed, counted in provenance
misaligned 2D (h36m)               cpn cameras swapped / one sequence     DatasetError: file, subject, action,
                                   at half resolution                     camera, measured crop px error
string joint count (h36m)          metadata ``num_joints: "17"``          DatasetError naming file and value
params not UTF-8                   latin-1 params.yaml                    ConfigError, one line naming the file
params key missing / duplicated    see tests/test_config.py               ConfigError: file, dotted key (, line)
truncated store .npz               ``train.npz`` cut in half              StoreError: file, "truncated", rerun
truncated store .npy               ``train_crops.npy`` cut / fgmask cut   StoreError: file, "truncated", rerun
truncated detections .npz          keypoints2d_*.npz cut in half          StoreError: file, rerun detect2d
HTML as annot_data.mat (3dhp)      a login page saved as the .mat         DatasetError: file, "HTML page", fetch
junk .mat (3dhp)                   random bytes                           DatasetError: file, "not a readable"
crop size vs model.input_hw        embedded.crop_hw != model.input_hw;    ConfigError naming both keys
                                   h36m.crop_hw != mpi3dhp.crop_hw;
                                   a store built at another crop size     ConfigError naming the store meta.json
locked mlflow.db mid-stage         an exclusive SQLite lock held while    the call retries, then one warning; the
                                   the stage logs                         stage finishes, its run FINISHED
stage killed mid-run (mlflow)      a RUNNING run of the stage whose       marked KILLED on rerun; tags link the
                                   process is gone                        two runs both ways; live runs left alone
copied repository (mlflow)         mlflow.db + mlartifacts/ copied        artifacts found at the new place
code change, finished checkpoint   a finished last.pt, then the training  moved to last.stale.pt; the phase
                                   code's fingerprint changes             trains afresh (was: "resumed", 0 s)
truncated last.pt / two trainings  see tests/test_train.py                moved aside / CheckpointError
smoke sweep runs                   ``--smoke``                            records tagged smoke, never in tables
model file of another phase        ``stage2.pt`` / ``lifter.pt`` copied   CheckpointError: file, the phase it
                                   over ``stage1.pt`` (prune, stage 2),   holds, the one expected, ``dvc repro
                                   over ``stage2.pt`` (evaluate), ...     train_stage1@gt``; nothing written
random bytes as a model file       ``stage1.pt`` of ``os.urandom``        CheckpointError: file, rerun its stage
bad encoder init (stage 1)         ``pretrain2d/backbone.pt``: random     WeightFileError, one CLI line: file,
                                   bytes, empty, another model's file     ``dvc repro pretrain2d`` or
                                                                          model.pretrained; nothing written
output paths outside the project   ``paths.reports: .``, ``../..``,       ConfigError from every stage CLI:
                                   ``data/../../x``, absolute, empty      key, value, default; nothing written
report over a user's README        ``paths.reports: docs`` holding a      ConfigError naming the README; the
                                   hand-written ``README.md``             folder untouched (own one: rebuilt)
pretrain2d over a foreign folder   see tests/test_pipeline_cli.py         ConfigError; nothing deleted
kill -9 of ``dvc repro``           the stage under ``bash -c`` (exec'd)   the stage stops within seconds
                                   and ``sh -c`` (dash: sh in between)    (PR_SET_PDEATHSIG + shell watcher)
SIGTERM mid-checkpoint-write       a stage inside ``atomic_path`` and     no last.pt, no temporary, lock freed,
                                   the checkpoint lock; under MLflow      exit 143, one line; run KILLED
atomic files' mode                 see tests/test_numerics.py             the umask's (was 0600)
``--gpus-per-trial 1``, no GPU     see tests/test_sweeps.py               an error, not a hang
=================================  =====================================  =========================================
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lbi.config import ConfigError
from lbi.data.frames import DatasetError
from lbi.data.h36m import H36MConfig, load_positions_2d, load_positions_3d, preprocess_h36m
from lbi.data.mpi3dhp import MPI3DHPConfig, preprocess_3dhp
from lbi.data.store import StoreError, detections_path, load_detections, open_store
from lbi.params import check_crop_sizes, load_params
from tests._store_fixture import make_store
from tests.fixtures_real import build_3dhp, build_h36m, save_pickled

CPN = "data_2d_h36m_cpn_ft_h36m_dbb.npz"


def _run_h36m(root: Path) -> dict:
    cfg = H36MConfig(
        root=str(root), train_subjects=("S1",), test_subjects=("S11",), frames_root=None
    )
    return preprocess_h36m(cfg, root / "store", root / "det", progress=False)


def _load(path: Path) -> dict:
    with np.load(path, allow_pickle=True) as z:  # test-side only: our own fixture files
        return {k: z[k].item() for k in z.files}


class _Payload:
    """Pickles as ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch '{self.marker}'",))


# --- h36m: pickles -------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["positions_3d", "metadata"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path: Path, key: str) -> None:
    marker = tmp_path / "payload_ran"
    path = tmp_path / ("data_3d_h36m.npz" if key == "positions_3d" else CPN)
    if key == "positions_3d":
        save_pickled(path, positions_3d={"S1": {"Directions 1": _Payload(marker)}})
        load = load_positions_3d
    else:
        save_pickled(path, positions_2d={}, metadata={"num_joints": 17, "x": _Payload(marker)})
        load = load_positions_2d
    with pytest.raises(DatasetError) as e:
        load(path)
    assert str(path) in str(e.value) and "posix.system" in str(e.value)
    assert "\n" not in str(e.value)
    assert not marker.exists(), "the pickle payload ran"


def test_real_format_pickles_still_load(tmp_path: Path) -> None:
    build_h36m(tmp_path, frames=False)
    pos = load_positions_3d(tmp_path / "data_3d_h36m.npz")
    assert pos["S1"]["Directions 1"].shape == (30, 17, 3)
    for name in (CPN, "data_2d_h36m_gt.npz", "data_2d_h36m_sh_pt_mpii.npz"):
        f2d = load_positions_2d(tmp_path / name)
        assert len(f2d.data["S11"]["WalkDog"]) == 4
    # compressed archives (np.savez_compressed) too
    d = _load(tmp_path / "data_3d_h36m.npz")
    np.savez_compressed(tmp_path / "c.npz", **{k: np.array(v, dtype=object) for k, v in d.items()})
    assert load_positions_3d(tmp_path / "c.npz").keys() == pos.keys()


# --- h36m: 2D vs mocap -------------------------------------------------------------------
def _edit_cpn(root: Path, fn) -> None:  # type: ignore[no-untyped-def]
    d = _load(root / CPN)
    fn(d["positions_2d"], d["metadata"])
    save_pickled(root / CPN, **d)


def test_2d_much_longer_than_mocap_is_an_error(tmp_path: Path) -> None:
    build_h36m(tmp_path, frames=False)

    def longer(p2d, _meta):  # type: ignore[no-untyped-def]
        seq = p2d["S1"]["TakingPhoto"][1]
        p2d["S1"]["TakingPhoto"][1] = np.concatenate([seq] + [seq[-1:]] * 200)

    _edit_cpn(tmp_path, longer)
    with pytest.raises(DatasetError) as e:
        _run_h36m(tmp_path)
    for s in (CPN, "S1", "TakingPhoto", "55011271", "235 frames", "mocap has 30"):
        assert s in str(e.value), (s, str(e.value))


def test_a_few_extra_video_frames_are_trimmed_and_recorded(tmp_path: Path) -> None:
    build_h36m(tmp_path, frames=False)  # the 2D files carry 5 frames more than the mocap
    _run_h36m(tmp_path)
    trimmed = open_store(tmp_path / "store").meta["provenance"]["trimmed_2d_frames"]
    assert trimmed["cpn/S1/Directions 1/54138969"] == 5
    assert set(trimmed.values()) == {5}


def _swap_cameras(p2d, _meta):  # type: ignore[no-untyped-def]
    cams = p2d["S11"]["WalkDog"]
    cams[0], cams[2] = cams[2], cams[0]


def _half_resolution(p2d, _meta):  # type: ignore[no-untyped-def]
    # detections made on a half-resolution video of one sequence
    p2d["S1"]["TakingPhoto"] = [kp * 0.5 for kp in p2d["S1"]["TakingPhoto"]]


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (_swap_cameras, ("S11", "WalkDog", "54138969")),
        (_half_resolution, ("S1", "TakingPhoto", "54138969")),
    ],
)
def test_misaligned_detector_2d_is_an_error(tmp_path: Path, edit, expect) -> None:  # type: ignore[no-untyped-def]
    build_h36m(tmp_path, frames=False)
    _edit_cpn(tmp_path, edit)
    with pytest.raises(DatasetError) as e:
        _run_h36m(tmp_path)
    msg = str(e.value)
    for s in (CPN, *expect, "detector 'cpn'", "crop px"):
        assert s in msg, (s, msg)
    assert not (tmp_path / "store" / "meta.json").exists()


@pytest.mark.parametrize("value", ["17", "seventeen", 17.0, None])
def test_2d_metadata_joint_count_must_be_an_int(tmp_path: Path, value) -> None:  # type: ignore[no-untyped-def]
    build_h36m(tmp_path, frames=False)
    _edit_cpn(tmp_path, lambda _p, meta: meta.update(num_joints=value))
    with pytest.raises(DatasetError, match=rf"{CPN}: metadata num_joints is {value!r}"):
        load_positions_2d(tmp_path / CPN)


# --- params ----------------------------------------------------------------------------------
def test_params_not_utf8_is_one_line(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[1] / "params.yaml").read_text()
    f = tmp_path / "params.yaml"
    f.write_bytes((text + "# résumé\n").encode("latin-1"))
    with pytest.raises(ConfigError) as e:
        load_params(f)
    assert str(e.value).startswith(f"{f}: not UTF-8 text") and "\n" not in str(e.value)


# --- the canonical store: truncated files --------------------------------------------------
def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("name", ["train.npz", "train_crops.npy", "train_fgmask.npy"])
def test_truncated_store_file_is_named(tmp_path: Path, name: str) -> None:
    store_dir = make_store(tmp_path / "store")
    _truncate(store_dir / name)
    store = open_store(store_dir)
    read = {
        "train.npz": lambda: store.arrays("train"),
        "train_crops.npy": lambda: store.crops("train"),
        "train_fgmask.npy": lambda: store.fgmask("train"),
    }[name]
    with pytest.raises(StoreError) as e:
        read()
    msg = str(e.value)
    assert msg.startswith(f"{store_dir / name}: truncated or corrupt") and "preprocess" in msg
    assert "\n" not in msg


def test_truncated_detections_are_named(tmp_path: Path) -> None:
    make_store(tmp_path / "store")
    path = detections_path(tmp_path, "toy", "gt")
    _truncate(path)
    with pytest.raises(StoreError, match=rf"{path}: truncated or corrupt .*detect2d"):
        load_detections(path, "train", 64)


# --- MPI-INF-3DHP: not a .mat ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>\n", "an HTML page"),
        (b"\n  <HTML><body>403 Forbidden</body></HTML>", "an HTML page"),
        (bytes(range(256)) * 4, "not a readable .mat file"),
    ],
)
def test_annot_data_mat_that_is_not_matlab_is_named(
    tmp_path: Path, content: bytes, expect: str
) -> None:
    build_3dhp(tmp_path, frames=False)
    path = tmp_path / "TS5" / "annot_data.mat"
    path.write_bytes(content)
    cfg = MPI3DHPConfig(root=str(tmp_path), sequences=("TS1", "TS5"), frames_root=None)
    with pytest.raises(DatasetError) as e:
        preprocess_3dhp(cfg, tmp_path / "store", tmp_path / "det", progress=False)
    assert str(e.value).startswith(f"{path}: {expect}") and "\n" not in str(e.value)


# --- crop sizes ---------------------------------------------------------------------------------
def test_crop_sizes_are_checked_before_training(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    p = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    check_crop_sizes(p, stores=False)  # the repository's params agree
    bad = dataclasses.replace(p, embedded=dataclasses.replace(p.embedded, crop_hw=(128, 96)))
    with pytest.raises(
        ConfigError, match=r"embedded.crop_hw = \[128, 96\] but model.input_hw = \[64, 48\]"
    ):
        check_crop_sizes(bad, stores=False)
    real = dataclasses.replace(
        p,
        data=dataclasses.replace(p.data, dataset="h36m"),
        model=dataclasses.replace(p.model, input_hw=(256, 192)),
        mpi3dhp=dataclasses.replace(p.mpi3dhp, crop_hw=(128, 96)),
    )
    with pytest.raises(ConfigError, match=r"mpi3dhp.crop_hw = \[128, 96\] but model.input_hw"):
        check_crop_sizes(real, stores=False)
    # a store built at another crop size (stale after a params change)
    monkeypatch.chdir(tmp_path)
    make_store(Path(p.paths.store_in), crop_hw=(32, 24))
    with pytest.raises(
        ConfigError, match=r"data/store/indomain/meta.json .*crops are \[32, 24\].*stale"
    ):
        check_crop_sizes(p)


# --- MLflow tracking ------------------------------------------------------------------------
def _use_store(monkeypatch, folder: Path) -> None:  # type: ignore[no-untyped-def]
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (folder / "params.yaml").write_text("a: 1\n")


def test_locked_mlflow_db_degrades_to_a_warning(tmp_path: Path, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    from mlflow.tracking import MlflowClient

    import lbi.tracking as tracking
    import lbi.tracking.util  # call_with_retry reads RETRY_* there, not on the package

    _use_store(monkeypatch, tmp_path)
    monkeypatch.setattr(lbi.tracking.util, "RETRY_ATTEMPTS", 2)
    monkeypatch.setattr(lbi.tracking.util, "RETRY_DELAY_S", 0.01)
    with tracking.stage_run("train_stage1", dataset="toy", synthetic=True, source="gt") as mlf:
        mlf.log_metrics({"loss": 1.0}, step=1)
        lock = sqlite3.connect(tmp_path / "mlflow.db", timeout=0, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")  # another process holding the database
        try:
            mlf.log_metrics({"loss": 0.5}, step=2)  # raised MlflowException before
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        run_id = mlf.run_id
    assert "MLflow log_metrics failed 2 times" in caplog.text
    run = MlflowClient().get_run(run_id)
    assert run.info.status == "FINISHED"
    assert [m.step for m in MlflowClient().get_metric_history(run_id, "loss")] == [1]


def test_killed_run_is_marked_and_linked_on_rerun(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket
    import subprocess

    from mlflow.tracking import MlflowClient

    from lbi.tracking import setup_mlflow, stage_run

    _use_store(monkeypatch, tmp_path)
    exp_id = setup_mlflow("lbi-pipeline")
    client = MlflowClient()
    dead = subprocess.Popen(["true"])
    dead.wait()
    here = {"dvc.stage": "train_stage1", "lbi.source_2d": "gt", "lbi.host": socket.gethostname()}
    killed = client.create_run(exp_id, tags={**here, "lbi.pid": str(dead.pid)}).info.run_id
    live = client.create_run(exp_id, tags={**here, "lbi.pid": str(os.getpid())}).info.run_id
    other = client.create_run(exp_id, tags={**here, "lbi.source_2d": "cpn", "lbi.pid": "1"})
    with stage_run("train_stage1", dataset="toy", synthetic=True, source="gt") as mlf:
        new = mlf.run_id
    assert client.get_run(killed).info.status == "KILLED"
    assert client.get_run(killed).data.tags["lbi.rerun_by"] == new
    assert client.get_run(new).data.tags["lbi.replaces_killed_runs"] == killed
    assert client.get_run(live).info.status == "RUNNING"  # its process still runs
    assert client.get_run(other.info.run_id).info.status == "RUNNING"  # another source


def test_copied_repository_keeps_its_artifacts(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from mlflow.tracking import MlflowClient

    from lbi.tracking import stage_run

    a, b = tmp_path / "a", tmp_path / "b"
    _use_store(monkeypatch, a)
    (a / "table.json").write_text("{}")
    with stage_run("evaluate", dataset="toy", synthetic=True, source="gt") as mlf:
        mlf.log_artifact(str(a / "table.json"))
        run_id = mlf.run_id
    assert (a / "mlartifacts").is_dir()
    shutil.copytree(a, b)
    shutil.rmtree(a)
    _use_store(monkeypatch, b)
    with stage_run("evaluate", dataset="toy", synthetic=True, source="gt"):
        pass
    run = MlflowClient().get_run(run_id)
    assert run.info.artifact_uri.startswith(str(b / "mlartifacts"))
    got = MlflowClient().download_artifacts(run_id, "table.json", str(tmp_path))
    assert Path(got).read_text() == "{}"


def test_code_change_never_reuses_a_finished_model(tmp_path, monkeypatch):
    """A finished ``last.pt`` of older training code is moved aside, not handed back."""
    import lbi.fingerprint
    from lbi.experiment import StagePaths, make_datasets, train_phase
    from lbi.model import ModelConfig, build_model
    from lbi.params import Paths
    from lbi.train import TrainConfig

    store = make_store(tmp_path / "det" / "gt" / "store", n={"train": 16, "test": 8})
    paths = Paths(store_in=str(store), store_cross=str(store), detections=str(tmp_path / "det"))
    ds = make_datasets(StagePaths.from_params(paths), "gt")
    cfg = TrainConfig(epochs=1, batch_size=8)
    tiny = ModelConfig(input_hw=(32, 24), dim=16, heads=2, stage2_layers=1)

    def train() -> int:
        res = train_phase(build_model(tiny), "stage1", ds, cfg, tmp_path / "ckpt",
                          tmp_path / "out.pt", progress=False)  # fmt: skip
        return res.resumed_from_epoch

    assert train() == 0
    assert train() == 1  # same code: the finished run is resumed, not retrained
    monkeypatch.setattr(lbi.fingerprint, "code_fingerprint", lambda *a, **k: "other code")
    assert train() == 0
    assert (tmp_path / "ckpt" / "last.stale.pt").exists()


# --- model files of the wrong phase -----------------------------------------------------------
def _model_files(root: Path):  # type: ignore[no-untyped-def]
    """A tiny params file and stores (tests/test_stages.py) and, without training, a model
    file of each name in the pipeline's layout, as lbi.train.fit writes them."""
    import dataclasses

    from lbi import stages
    from lbi.experiment import StagePaths
    from lbi.io import save_torch
    from lbi.model import build_model
    from lbi.params import load_params
    from lbi.train import CKPT_FORMAT
    from tests.test_stages import tiny_setup

    p = load_params(tiny_setup(root))
    paths = StagePaths.from_params(p.paths)
    s1 = stages.stage1_model_config(p.model, 17, None)
    cfgs = {"stage1": ("stage1", s1),
            "stage2": ("e2e_both", dataclasses.replace(s1, retention=p.prune.retention)),
            "lifter": ("lifter", dataclasses.replace(p.lifter.model, num_joints_in=17))}  # fmt: skip
    for name, (phase, cfg) in cfgs.items():
        m = build_model(cfg)
        save_torch(paths.model(name, "gt"), {"format": CKPT_FORMAT, "phase": phase, "epoch": 1,
                   "model_args": m.model_args, "model": m.state_dict()})  # fmt: skip
    return p, paths


@pytest.mark.parametrize(
    ("stage", "target", "wrong"),
    [
        ("prune", "stage1", "stage2"),  # issue 17: stage2.pt over stage1.pt was accepted
        ("prune", "stage1", "lifter"),  # a baseline in place of stage 1: unnamed traceback
        ("train_stage2", "stage1", "stage2"),
        ("evaluate", "stage2", "stage1"),
        ("evaluate", "lifter", "stage2"),
        ("evaluate_stage1", "stage1", "lifter"),
        ("prune", "stage1", None),  # random bytes
    ],
)
def test_model_file_of_another_phase_is_refused(tmp_path: Path, stage, target, wrong) -> None:  # type: ignore[no-untyped-def]
    import shutil

    from lbi import stages
    from lbi.train import CheckpointError

    p, paths = _model_files(tmp_path)
    bad = paths.model(target, "gt")
    if wrong is None:
        bad.write_bytes(os.urandom(4096))
    else:
        shutil.copy(paths.model(wrong, "gt"), bad)
    before = sorted(q for q in tmp_path.rglob("*") if q.is_file())
    run = {
        "prune": lambda: stages.prune(p, "gt", paths),
        "train_stage2": lambda: stages.train_stage2(p, "gt", paths),
        "evaluate": lambda: stages.evaluate(p, "gt", paths),
        "evaluate_stage1": lambda: stages.evaluate(p, "gt", paths, modes=("stage1",)),
    }[stage]
    with pytest.raises(CheckpointError) as e:
        run()
    msg = str(e.value)
    writer = {"stage1": "train_stage1", "stage2": "train_stage2", "lifter": "train_lifter"}
    assert msg.startswith(f"{bad}: ") and "\n" not in msg, msg
    assert msg.endswith(f"; rerun `dvc repro {writer[target]}@gt`"), msg
    if wrong is None:
        assert "cannot load checkpoint" in msg
    else:
        assert "holds a model of phase" in msg and "was expected here" in msg, msg
    assert sorted(q for q in tmp_path.rglob("*") if q.is_file()) == before  # nothing written


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (os.urandom(4096), "not a readable PyTorch weight file"),
        (b"", "not a readable PyTorch weight file"),
        ("lifter", "no tensor matches the backbone"),  # another model's file
    ],
)
def test_unreadable_encoder_init_is_named(tmp_path: Path, content, expect) -> None:  # type: ignore[no-untyped-def]
    """``pretrain2d/backbone.pt`` (the encoder init stage 1 reads) that is not the
    backbone's weights: one line naming the file and the fix, from the real CLI."""
    import shutil

    import yaml

    from tests.test_pipeline_cli import _stage
    from tests.test_stages import tiny_setup

    f = tiny_setup(tmp_path, pretrain2d={"enabled": True})
    p = yaml.safe_load(f.read_text())  # the CLI takes paths inside the project (cwd) only
    p["paths"] = {k: os.path.relpath(v, tmp_path) for k, v in p["paths"].items()}
    f.write_text(yaml.safe_dump(p))
    init = tmp_path / "data" / "models" / "pretrain2d" / "backbone.pt"
    init.parent.mkdir(parents=True)
    if content == "lifter":
        _model_files(tmp_path / "other")
        shutil.copy(tmp_path / "other" / "data" / "models" / "gt" / "lifter.pt", init)
    else:
        init.write_bytes(content)
    before = sorted(q for q in tmp_path.rglob("*") if q.is_file())
    r = _stage("train_stage1", "--params", str(f), "--source", "gt", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    line = r.stderr.strip().splitlines()[-1]
    rel = init.relative_to(tmp_path)
    assert line.startswith(f"error: {rel}: {expect}") and "`dvc repro pretrain2d`" in line
    assert "model.pretrained" in line
    assert sorted(q for q in tmp_path.rglob("*") if q.is_file()) == before  # nothing written


# --- output paths ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("reports", ".", "the project folder itself"),  # overwrote the project's README.md
        ("reports", "", "the project folder itself"),
        ("metrics", "../..", "outside the project"),
        ("plots", "data/../../x", "outside the project"),
        ("models", "/tmp/lbi-models", "an absolute path"),
    ],
)
def test_output_paths_stay_inside_the_project(key: str, value: str, why: str) -> None:
    import dataclasses

    from lbi.params import Paths, check_output_paths

    check_output_paths(Paths())  # the defaults
    check_output_paths(Paths(reports="./docs/report", raw="data/../raw"))
    with pytest.raises(ConfigError) as e:
        check_output_paths(dataclasses.replace(Paths(), **{key: value}), "p.yaml")
    default = getattr(Paths(), key)
    assert str(e.value).startswith(f"p.yaml: paths.{key} = {value!r} is {why}")
    assert f"(default: {default})" in str(e.value) and "\n" not in str(e.value)


def test_stage_refuses_reports_in_the_project_folder(tmp_path: Path) -> None:
    """``paths.reports: .`` from the real CLI: refused before anything is written."""
    import yaml

    from tests.test_pipeline_cli import ROOT, _stage

    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["paths"]["reports"] = "."
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(p))
    (tmp_path / "README.md").write_text("# my project\n")
    r = _stage("report", cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "error: params.yaml: paths.reports = '.' is the project folder itself" in r.stderr
    assert sorted(q.name for q in tmp_path.iterdir()) == ["README.md", "params.yaml"]
    assert (tmp_path / "README.md").read_text() == "# my project\n"


def test_report_never_overwrites_a_readme_it_did_not_write(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lbi.params import Paths
    from lbi.report.build import build_report

    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "README.md").write_text("# our notes\n")
    with pytest.raises(ConfigError, match=r"docs/README.md: not written by the report stage"):
        build_report(Paths(reports="docs"), "results", commit="0" * 40)
    assert sorted(q.name for q in (tmp_path / "docs").iterdir()) == ["README.md"]
    assert (tmp_path / "docs" / "README.md").read_text() == "# our notes\n"
    build_report(Paths(reports="out"), "results", commit="0" * 40)  # its own: rebuilt
    build_report(Paths(reports="out"), "results", commit="0" * 40)


# --- kill -9 of dvc repro ----------------------------------------------------------------------
_SLOW_STAGE = """
import os, sys, time
from pathlib import Path
from pipeline._cli import run

def main():
    Path("stage.pid").write_text(str(os.getpid()))
    time.sleep(120)  # a long training

run(main)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has finished; its reaper is not ours


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@pytest.mark.slow  # two real `dvc repro` starts: ~10 s each idle, minutes on a loaded box
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc")
@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])
def test_kill_9_of_dvc_repro_stops_the_stage(tmp_path: Path, shell: str) -> None:
    """``dvc repro`` runs a stage as ``$SHELL -c "python -m ..."``: bash execs python (DVC
    is its parent), dash does not (``sh`` in between). Either way, ``kill -9`` of DVC
    stops the stage (pipeline/_cli.py ``die_with_parent``) instead of leaving it training."""
    import signal
    import subprocess
    import sys
    import time

    from tests.test_pipeline_cli import ROOT

    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "SHELL": shell, "DVC_NO_ANALYTICS": "1"}  # fmt: skip
    (tmp_path / "slow_stage.py").write_text(_SLOW_STAGE)
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  slow:\n    cmd: python -m slow_stage\n    outs:\n      - out.txt\n"
    )
    subprocess.run([venv_bin / "dvc", "init", "-q", "--no-scm"], cwd=tmp_path, env=env, check=True)
    dvc = subprocess.Popen([venv_bin / "dvc", "repro"], cwd=tmp_path, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    stage = None
    try:
        t0 = time.monotonic()
        while not (tmp_path / "stage.pid").exists():
            assert dvc.poll() is None and time.monotonic() - t0 < 600, "the stage never started"
            time.sleep(0.2)
        stage = int((tmp_path / "stage.pid").read_text())
        parent = _ppid(stage)
        if parent != dvc.pid:  # the real tree: dvc -> sh -c -> python
            assert Path(f"/proc/{parent}/comm").read_text().strip() in ("sh", "dash")
            assert _ppid(parent) == dvc.pid
        assert (parent == dvc.pid) == (shell == "/bin/bash")
        dvc.send_signal(signal.SIGKILL)
        dvc.wait()
        t0 = time.monotonic()
        while _alive(stage) and time.monotonic() - t0 < 60:  # exit is slow on a loaded box
            time.sleep(0.1)
        assert not _alive(stage), "the stage outlived kill -9 of its dvc repro"
    finally:
        if dvc.poll() is None:
            dvc.kill()
        if stage is not None and _alive(stage):
            os.kill(stage, signal.SIGKILL)


_TRAINING_STAGE = """
import os, time
from pathlib import Path
from pipeline._cli import run
from lbi.io import atomic_path
from lbi.train import checkpoint_lock

def main():
    with checkpoint_lock(Path("ckpt")), atomic_path("ckpt/last.pt") as tmp:
        tmp.write_bytes(b"half a checkpoint")
        Path("stage.pid").write_text(str(os.getpid()))
        time.sleep(120)  # SIGTERM arrives mid-write

run(main)
"""


def test_sigterm_unwinds_the_stage_cleanly(tmp_path: Path) -> None:
    """SIGTERM (what a dying ``dvc repro`` sends) mid-checkpoint-write: the write never
    lands (no ``last.pt``, no temporary left), the lock is released, one line on stderr,
    exit 143 (was: killed on the spot, the temporary file left behind)."""
    import signal
    import subprocess
    import sys
    import time

    from lbi.train import checkpoint_lock
    from tests.test_pipeline_cli import ROOT

    (tmp_path / "stage.py").write_text(_TRAINING_STAGE)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{tmp_path}"}
    proc = subprocess.Popen([sys.executable, "-m", "stage"], cwd=tmp_path, env=env,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        t0 = time.monotonic()
        while not (tmp_path / "stage.pid").exists():
            assert proc.poll() is None and time.monotonic() - t0 < 600, proc.stderr.read()
            time.sleep(0.2)
        assert len(list((tmp_path / "ckpt").iterdir())) == 2  # .lock and the temporary
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("error: stopped by SIGTERM")
    assert "Traceback" not in err
    assert [q.name for q in (tmp_path / "ckpt").iterdir()] == [".lock"]
    with checkpoint_lock(tmp_path / "ckpt"):
        pass  # released


def test_sigterm_ends_the_mlflow_run_killed(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The stage CLI's SIGTERM handler unwinds like Ctrl-C: the stage's run ends KILLED."""
    import signal
    import time

    from mlflow.tracking import MlflowClient

    from lbi.tracking import stage_run
    from pipeline._cli import Terminated, _terminate

    _use_store(monkeypatch, tmp_path)
    old = signal.signal(signal.SIGTERM, _terminate)
    try:
        with (
            pytest.raises(Terminated),
            stage_run("train_stage1", dataset="toy", synthetic=True, source="gt") as mlf,
        ):
            run_id = mlf.run_id
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the handler raises in this (the main) thread
    finally:
        signal.signal(signal.SIGTERM, old)
    assert MlflowClient().get_run(run_id).info.status == "KILLED"

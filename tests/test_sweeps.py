"""Sweeps: config resolution and cache keys, epoch reporting, summaries, the runner on
Ray Tune in-process, and (slow) the real CLIs as subprocesses on a tiny store."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from lbi.config import ConfigError
from lbi.sweep import (
    Base,
    Cell,
    EpochReporter,
    RunOptions,
    SweepSpec,
    file_lock,
    format_summary,
    resolve,
    stage1_key,
    summarize,
)
from lbi.sweep.spec import base_to_dict
from lbi.train import CKPT_FORMAT, save_checkpoint
from tests._store_fixture import make_store

REPO = Path(__file__).resolve().parents[1]
SWEEPS = REPO / "sweeps"
QUIET = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "TQDM_DISABLE": "1",
}
TINY_PARAMS = """\
paths: {{store_in: {root}/stores/in, store_cross: {root}/stores/cross, detections: {root}/det}}
data: {{dataset: embedded, sources: [gt], train_sources: [gt]}}
model: {{backbone: resnet18_s4, input_hw: [32, 24], dim: 16, heads: 2, mlp_ratio: 1.0,
        stage2_layers: 1}}
train_stage1: {{epochs: 2, batch_size: 16, max_batches_per_epoch: 2, val_batch_size: 64,
               device: cpu}}
train_stage2: {{epochs: 2, batch_size: 16, max_batches_per_epoch: 2, val_batch_size: 64,
               device: cpu}}
prune: {{r: 0.3}}
evaluate: {{batch_size: 64}}
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """Two tiny stores (32x24 crops), gt detections where detect2d puts them, params.yaml."""
    root = tmp_path_factory.mktemp("sweep")
    make_store(root / "stores" / "in", dataset="toy", n={"train": 64, "test": 16})
    make_store(root / "stores" / "cross", dataset="toyx", n={"test": 16}, seed=1)
    (root / "det" / "gt").mkdir(parents=True)
    for d in ("toy", "toyx"):
        name = f"keypoints2d_{d}_gt.npz"
        shutil.copy(root / "stores" / name, root / "det" / "gt" / name)
    (root / "params.yaml").write_text(TINY_PARAMS.format(root=root))
    return root


@pytest.fixture(scope="module")
def base(tiny) -> Base:
    from lbi.params import load_params

    return Base.from_params(load_params(tiny / "params.yaml"))


@pytest.fixture
def ray_tmp():
    d = tempfile.mkdtemp(prefix="lbiray", dir="/tmp")  # short: Ray's socket paths
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _driver(name: str):
    """Import ``sweeps/<name>.py`` as the CLI does (``_common`` found next to it)."""
    if str(SWEEPS) not in sys.path:
        sys.path.insert(0, str(SWEEPS))
    spec = importlib.util.spec_from_file_location(f"sweep_driver_{name}", SWEEPS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --- configuration -------------------------------------------------------------------
def test_resolve_applies_overrides_and_seed(base):
    d = base_to_dict(base)
    cfg = resolve(d, {"train.lr": 5e-4, "model.stage1": ("tl", "tl", "tl")}, seed=7)
    assert cfg["train_stage1"].lr == cfg["train_stage2"].lr == 5e-4
    assert cfg["train_stage1"].seed == cfg["train_stage2"].seed == 7
    assert cfg["model"].stage1 == ("tl", "tl", "tl")
    assert cfg["model"].retention == 0.3  # prune.r of the params file
    assert d["train_stage1"]["lr"] == 1e-3  # the base is not mutated
    cfg = resolve(d, {"baseline_model.lifter_dim": 64, "train.lr": 5e-4}, seed=7)
    assert (
        cfg["baseline_model"].arch == "lifter_graformer" and cfg["baseline_model"].lifter_dim == 64
    )
    assert cfg["baseline_train"].seed == 7 and cfg["baseline_train"].lr == 1e-3  # train.* is LBI's


def test_trial_keys_depend_on_what_each_mode_trains(base):
    from lbi.sweep.spec import trial_key

    def key(mode: str, **over: object) -> str:
        cell = {"name": "c", "mode": mode, "overrides": over}
        cfg = {"base": base_to_dict(base), "cell": cell, "seed": 0, "source": "gt",
               "fingerprint": {"code": "c", "data": "d"}}  # fmt: skip
        return trial_key(cfg)

    assert key("lifter") == key("lifter", **{"model.dim": 32})  # LBI settings: not the lifter's
    assert key("lifter") != key("lifter", **{"baseline_train.lr": 1e-4})
    assert key("progressive") == key("progressive", **{"baseline_model.lifter_dim": 64})
    assert key("progressive") != key("lifter")


def test_compare_lifter_rows_name_the_token_width(tiny, base):
    """``--dims``: one LBI cell per width, rows named by it; the params' own width keeps
    the trial key of a run without the override (its cached trials stay valid)."""
    from lbi.sweep.spec import trial_key

    mod = _driver("compare_lifter")
    own = base.model.dim
    argv = ["--params", str(tiny / "params.yaml")]
    spec = mod.build(mod.arguments().parse_args(argv), "gt")
    assert spec.cells[0].row == f"LBI (dim {own})"
    spec = mod.build(mod.arguments().parse_args([*argv, "--dims", str(own), "48"]), "gt")
    frozen = {"train_stage2.finetune_stage1": False}  # the tiny params' (and the paper's)
    assert [(c.name, c.overrides) for c in spec.cells[:2]] == [
        (f"lbi_d{own}", {"model.dim": own, **frozen}),
        ("lbi_d48", {"model.dim": 48, **frozen}),
    ]
    assert {e.row for e in spec.entries} >= {f"LBI refined (dim {own})", "LBI coarse (dim 48)"}
    # --stage2: stage 1 frozen and/or fine-tuned in stage 2, rows and cells apart
    both = mod.build(mod.arguments().parse_args([*argv, "--stage2", "frozen", "finetune"]), "gt")
    ft = next(c for c in both.cells if c.name == f"lbi_d{own}_ft")
    assert ft.overrides["train_stage2.finetune_stage1"] is True
    assert ft.row == f"LBI (dim {own}, stage 1 fine-tuned)"

    def key(over: dict) -> str:
        cell = {"name": "c", "mode": "progressive", "overrides": over}
        return trial_key({"base": base_to_dict(base), "cell": cell, "seed": 0, "source": "gt",
                          "fingerprint": {"code": "c", "data": "d"}})  # fmt: skip

    assert key(spec.cells[0].overrides) == key({}) != key(spec.cells[1].overrides)
    # frozen is the paper's default and is left out of the key: runs made before the
    # option existed keep their keys; fine-tuning is another trial
    assert key(ft.overrides) != key({"model.dim": own})


def test_resolve_rejects_unknown_keys_and_bad_values(base):
    d = base_to_dict(base)
    with pytest.raises(ValueError, match=r"model\.retnetion"):
        resolve(d, {"model.retnetion": 0.3}, seed=0)
    with pytest.raises(ValueError, match=r"override 'prune\.r'"):
        resolve(d, {"prune.r": 0.3}, seed=0)
    with pytest.raises(ConfigError, match="retention"):
        resolve(d, {"model.retention": 0.0}, seed=0)


def test_stage1_key_ignores_only_stage2_settings(base):
    d, fp = base_to_dict(base), {"code": "c", "data": "d"}

    def key(seed: int = 0, **over: object) -> str:
        return stage1_key(resolve(d, over, seed), "gt", fp)

    ref = key()
    assert key(**{"model.retention": 1.0}) == ref
    assert key(**{"model.stage2_layers": 4}) == ref
    assert key(**{"train_stage2.lr": 1e-4, "train_stage2.epochs": 9}) == ref
    assert key(**{"train_stage1.device": "cpu"}) == ref  # where it runs is not what it is
    assert key(**{"train_stage2.finetune_stage1": True}) == ref  # stage 2 reuses stage 1
    assert key(seed=1) != ref
    assert key(**{"train_stage1.lr": 1e-4}) != ref
    assert key(**{"model.stage1": ("tl", "tl", "tl")}) != ref
    assert key(**{"model.pgtl_variant": "after"}) != ref
    assert stage1_key(resolve(d, {}, 0), "gt", {"code": "c2", "data": "d"}) != ref
    # With drop-path, stochastic depth spans stage 1 + stage 2: the depth changes stage 1.
    dp = {"model.drop_path": 0.1}
    assert key(**dp, **{"model.stage2_layers": 4}) != key(**dp)


@pytest.mark.parametrize(
    "name",
    [
        "ablate_retention",
        "ablate_layers",
        "ablate_normalization",
        "ablate_backbone",
        "ablate_pretraining",
        "ablate_progressive",
        "compare_lifter",
        "search_hparams",
    ],
)
@pytest.mark.parametrize("smoke", [False, True])
def test_every_driver_builds_valid_cells(name, smoke, base):
    """Every cell of every sweep (full and smoke grids) resolves to valid configs."""
    mod = _driver(name)
    args = mod.arguments().parse_args(["--smoke"] if smoke else [])
    spec = mod.build(args, "gt")
    # 128x96 crops: HRNet needs sides divisible by 32 (the CPU store default).
    big = dataclasses.replace(base, model=dataclasses.replace(base.model, input_hw=(128, 96)))
    for c in spec.cells:
        resolve(base_to_dict(big), c.overrides, 0)
    if hasattr(mod, "space"):  # the searched keys exist and their samples are valid
        for _ in range(5):
            sample = {k: v.sample() for k, v in mod.space(args).space.items()}
            resolve(base_to_dict(big), sample, 0)
    cells = {c.name for c in spec.cells}
    assert all(e.cell in cells for e in spec.summary_entries())
    if name == "ablate_pretraining":  # random init vs the pipeline's encoder init
        assert [c.overrides for c in spec.cells] == [{"model.pretrained": None}, {}]
    if name == "ablate_backbone":  # only the pipeline's backbone keeps the pipeline's init
        own = {c.name: c.overrides for c in spec.cells}
        assert all(("model.pretrained" in o) == (n != "resnet18_s4") for n, o in own.items())
    assert spec.seeds == ((0,) if smoke or name == "search_hparams" else (0, 1, 2))


def test_table_mappings():
    layers = _driver("ablate_layers")
    spec = layers.build(layers.arguments().parse_args(["--stage2-layers"]), "gt")
    assert {c.row: c.overrides["model.stage1"] for c in spec.cells} == {
        "0/2": ("pgtl", "pgtl", "tl"),
        "1/1": ("tl", "pgtl", "tl"),
        "2/0": ("tl", "tl", "tl"),
    }
    assert {c.mode for c in spec.cells} == {"stage1"}  # Table 6 reports the coarse pose
    retention = _driver("ablate_retention")
    spec = retention.build(retention.arguments().parse_args([]), "gt")
    assert [c.overrides["model.retention"] for c in spec.cells] == [0.01, 0.1, 0.3, 0.5, 1.0]
    assert {(e.row, e.column) for e in spec.summary_entries()} >= {("MPJPE", "Coarse Pose")}
    prog = _driver("ablate_progressive")
    spec = prog.build(prog.arguments().parse_args([]), "gt")
    assert [c.mode for c in spec.cells] == ["e2e_fine", "e2e_both", "progressive", "progressive"]
    # the paper's progressive schedule freezes stage 1; progressive_ft trains it on
    assert {c.name: c.overrides for c in spec.cells if c.mode == "progressive"} == {
        "progressive": {"train_stage2.finetune_stage1": False},
        "progressive_ft": {"train_stage2.finetune_stage1": True},
    }
    rows = [e.row for e in spec.summary_entries()]
    assert rows.index("Coarse Pose") < rows.index("Refined Pose")
    assert "Refined Pose (stage 1 fine-tuned)" in rows


# --- reporting and results -----------------------------------------------------------
class _Sink:
    """Records what would go to MLflow / Ray Tune (external services)."""

    def __init__(self) -> None:
        self.logged: list[tuple[int, dict]] = []
        self.reported: list[dict] = []

    def log_metrics(self, metrics: dict, step: int) -> None:
        self.logged.append((step, metrics))

    def report(self, metrics: dict) -> None:
        self.reported.append(metrics)


def test_epoch_reporter_counts_over_phases_and_replays(tmp_path):
    sink = _Sink()
    rep = EpochReporter(sink, sink.report, logged_steps=1)
    hist = [{"epoch": float(i), "val_test_mpjpe_mm": 100.0 - i} for i in (1, 2, 3)]
    rep.start_phase(None)  # a cached stage 1: all epochs replayed from its history
    rep.end_phase(hist[:2])
    # stage 2 resumed from last.pt after epoch 2: the first live epoch is 3
    save_checkpoint(tmp_path / "last.pt", {"format": CKPT_FORMAT, "history": hist})
    rep.start_phase(tmp_path)
    rep(3, {"val_test_mpjpe_mm": 97.0})
    rep.end_phase(hist)
    assert [r["epoch_global"] for r in sink.reported] == [1, 2, 3, 4, 5]
    assert [r["phase_index"] for r in sink.reported] == [1, 1, 2, 2, 2]
    assert [r["val_test_mpjpe_mm"] for r in sink.reported] == [99, 98, 99, 98, 97]
    assert [s for s, _ in sink.logged] == [2, 3, 4, 5]  # step 1 was logged by an earlier attempt
    assert rep.offset == 5


def test_summary_is_mean_and_std_over_seeds():
    spec = SweepSpec("t", "7", (Cell("a"), Cell("b")), seeds=(0, 1, 2))
    df = pd.DataFrame(
        {
            "cell": ["a", "a", "a", "b", "b"],
            "seed": [0, 1, 2, 0, 1],
            "status": ["completed"] * 4 + ["incomplete"],
            "test_refined_p1_mm": [10.0, 12.0, 14.0, 20.0, 99.0],
        }
    )
    s = summarize(spec, df).set_index("cell")
    assert s.loc["a", "mean"] == pytest.approx(12.0)
    assert s.loc["a", "std"] == pytest.approx(2.0)  # sample std over seeds
    assert s.loc["a", "n"] == 3
    assert s.loc["b", "mean"] == 20.0 and s.loc["b", "n"] == 1  # incomplete trial left out
    assert "12.0 ± 2.0 (n=3)" in format_summary(summarize(spec, df))


def test_file_lock_serialises_holders(tmp_path):
    events: list[str] = []

    def hold(name: str) -> None:
        with file_lock(tmp_path / "x.lock"):
            events.append(f"{name}+")
            time.sleep(0.2)
            events.append(f"{name}-")

    threads = [threading.Thread(target=hold, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert events in (["a+", "a-", "b+", "b-"], ["b+", "b-", "a+", "a-"])


# --- the runner on Ray Tune ----------------------------------------------------------
def _runs(db: Path, experiment: str) -> pd.DataFrame:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    return mlflow.search_runs(experiment_names=[experiment])


def _run_in_process(spec: SweepSpec, base: Base, tmp_path: Path, ray_tmp: str, monkeypatch):
    """Run ``spec`` on a one-CPU local Ray cluster, MLflow in ``tmp_path``; (grid, db)."""
    import ray

    from lbi.sweep import init_ray, run_sweep

    for k, v in QUIET.items():
        monkeypatch.setenv(k, v)
    db = tmp_path / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
    opts = RunOptions(out_dir=tmp_path / "out", num_cpus=1, ray_tmp=ray_tmp, verbose=0)
    init_ray(opts)
    try:
        return run_sweep(spec, base, opts), db
    finally:
        ray.shutdown()


def test_runner_one_trial_in_process(tiny, base, tmp_path, ray_tmp, monkeypatch):
    spec = SweepSpec(
        "unit",
        "11",
        (Cell("before", {"model.pgtl_variant": "before"}, mode="stage1", row="before"),),
        seeds=(3,),
        columns={"H3.6M": "test_coarse_p1_mm"},
    )
    grid, db = _run_in_process(spec, base, tmp_path, ray_tmp, monkeypatch)
    assert len(grid) == 1 and not grid.errors
    m = grid[0].metrics
    assert m["final"] == 1.0 and m["epoch_global"] == base.train_stage1.epochs
    assert math.isfinite(m["test_coarse_p1_mm"]) and math.isfinite(m["cross_coarse_mpjpe_mm"])
    assert 0.0 <= m["test_stage1_bg_attention_pct"] <= 100.0
    assert len(list((tmp_path / "out" / "stage1_cache").glob("*/stage1.pt"))) == 1
    res = pd.read_csv(tmp_path / "out" / "unit" / "results.csv")
    assert res[["cell", "seed", "status"]].values.tolist() == [["before", 3, "completed"]]
    assert res[["dataset", "synthetic", "source_2d"]].values.tolist() == [["toy", True, "gt"]]
    assert isinstance(res["git_commit"][0], str) and len(res["params_md5"][0]) == 32
    runs = _runs(db, "lbi-sweep-unit")
    assert len(runs) == 1 and runs.status[0] == "FINISHED"
    r = runs.iloc[0]
    assert (r["tags.lbi.table"], r["tags.lbi.row"], r["tags.lbi.seed"]) == ("11", "before", "3")
    assert r["params.model.pgtl_variant"] == "before"
    assert r["metrics.test_coarse_p1_mm"] == pytest.approx(m["test_coarse_p1_mm"])


def test_runner_progressive_trial_that_fine_tunes_stage1_is_tagged(tiny, base, tmp_path, ray_tmp,
                                                                    monkeypatch):  # fmt: skip
    cell = Cell("ft", {"train_stage2.finetune_stage1": True}, mode="progressive", row="progressive")
    spec = SweepSpec("unitft", "4", (cell,), seeds=(0,), columns={"3DHP": "cross_refined_mpjpe_mm"})
    grid, db = _run_in_process(spec, base, tmp_path, ray_tmp, monkeypatch)
    assert len(grid) == 1 and not grid.errors and grid[0].metrics["final"] == 1.0
    r = _runs(db, "lbi-sweep-unitft").iloc[0]
    assert r["tags.lbi.finetune_stage1"] == "true"
    assert r["params.train_stage2.finetune_stage1"] == "True"
    res = pd.read_csv(tmp_path / "out" / "unitft" / "results.csv")
    assert res["finetune_stage1"].tolist() == [True]
    from lbi.train import load_checkpoint

    (ckpt,) = (tmp_path / "out" / "trials").rglob("stage2.pt")  # shared by all sweeps
    assert load_checkpoint(ckpt)["phase"] == "e2e_both"  # stage 1 trained on, both poses


def test_runner_lifter_trial_in_process(tiny, base, tmp_path, ray_tmp, monkeypatch):
    """Mode ``lifter``: the params' 2D-only baseline, trained by the loop, pipeline keys."""
    mod = _driver("compare_lifter")
    spec = mod.build(mod.arguments().parse_args(["--params", str(tiny / "params.yaml")]), "gt")
    spec = SweepSpec(spec.name, spec.table, spec.cells[1:], (0,), "gt", spec.entries[4:])
    small = base.smoke(epochs=1)
    grid, db = _run_in_process(spec, small, tmp_path, ray_tmp, monkeypatch)
    assert len(grid) == 1 and not grid.errors
    m = grid[0].metrics
    assert m["epoch_global"] == small.baseline_train.epochs == 2
    assert math.isfinite(m["test_baseline_p1_mm"]) and math.isfinite(m["cross_baseline_mpjpe_mm"])
    assert "test_refined_p1_mm" not in m  # no LBI was trained
    assert not (tmp_path / "out" / "stage1_cache").exists()
    r = _runs(db, "lbi-sweep-lifter").iloc[0]
    assert (r["tags.lbi.mode"], r["tags.lbi.column"]) == ("lifter", "baseline")
    assert r["params.model.arch"] == "lifter_graformer" and r["params.train.seed"] == "0"
    summary = summarize(spec, pd.read_csv(tmp_path / "out" / "lifter" / "results.csv"))
    assert "2D-only lifter (lifter_graformer)" in format_summary(summary)

    # The trial's folder is keyed by what it trains, not by the sweep: another sweep that
    # asks for the same trial resumes it (no epoch retrained) and logs its own run; a
    # folder of the older per-sweep layout (<out>/<sweep>/ckpt/<key>) is moved over.
    (trial,) = [d for d in (tmp_path / "out" / "trials").iterdir() if d.is_dir()]
    assert trial.name == r["tags.lbi.trial_key"]
    legacy = tmp_path / "out" / "lifter" / "ckpt" / trial.name
    legacy.parent.mkdir(parents=True)
    trial.rename(legacy)
    stamp = (legacy / "lifter" / "last.pt").stat().st_mtime_ns
    grid2, _ = _run_in_process(dataclasses.replace(spec, name="lifter_again"), small, tmp_path,
                               ray_tmp, monkeypatch)  # fmt: skip
    assert len(grid2) == 1 and not grid2.errors and not legacy.exists()
    assert (trial / "lifter" / "last.pt").stat().st_mtime_ns == stamp  # resumed, not retrained
    m2 = grid2[0].metrics
    assert m2["test_baseline_p1_mm"] == pytest.approx(m["test_baseline_p1_mm"], rel=1e-5)
    assert m2["epoch_global"] == small.baseline_train.epochs  # the epochs replayed to Tune
    again = _runs(db, "lbi-sweep-lifter_again")
    assert len(again) == 1 and again["tags.lbi.trial_key"][0] == trial.name


def _cli(
    tiny: Path, tmp: Path, ray_tmp: str, script: str, *args: str
) -> subprocess.CompletedProcess:
    env = {**os.environ, **QUIET, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}"}
    cmd = [sys.executable, str(SWEEPS / script), "--params", str(tiny / "params.yaml")]
    cmd += ["--out", str(tmp / "out"), "--num-cpus", "2", "--ray-tmp", ray_tmp, "--quiet", *args]
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_retention_cli_two_trials(tiny, tmp_path, ray_tmp):
    args = ("--smoke", "--values", "0.3", "1.0", "--seeds", "0")
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", *args)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "Coarse Pose" in p.stdout
    runs = _runs(tmp_path / "mlflow.db", "lbi-sweep-retention")
    assert len(runs) == 2 and set(runs.status) == {"FINISHED"}
    assert sorted(runs["tags.lbi.column"]) == ["0.3", "1"]
    for tag, value in {
        "lbi.table": "7",
        "lbi.row": "MPJPE",
        "lbi.sweep": "retention",
        "lbi.seed": "0",
        "lbi.dataset": "toy",
        "lbi.synthetic": "true",
        "lbi.source_2d": "gt",
    }.items():
        assert set(runs[f"tags.{tag}"]) == {value}, tag
    assert runs["tags.lbi.stage1_key"].nunique() == 1  # r does not retrain stage 1
    assert len(list((tmp_path / "out" / "stage1_cache").glob("*/stage1.pt"))) == 1
    res = pd.read_csv(tmp_path / "out" / "retention" / "results.csv")
    assert sorted(res["cell"]) == ["r=0.3", "r=1"] and set(res["status"]) == {"completed"}
    assert res["test_refined_p1_mm"].notna().all()
    # --resume of a finished sweep reruns nothing and adds no MLflow run
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", *args, "--resume")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert len(_runs(tmp_path / "mlflow.db", "lbi-sweep-retention")) == 2
    # --resume with another grid is refused instead of silently resuming the old one
    p = _cli(
        tiny, tmp_path, ray_tmp, "ablate_retention.py", "--smoke", "--values", "0.5", "--resume"
    )
    assert p.returncode == 2 and "cells or seeds differ" in p.stderr


@pytest.mark.slow
def test_interrupted_sweep_resumes_where_it_stopped(tiny, tmp_path, ray_tmp):
    """Ctrl+C mid stage 1, then --resume: training continues from last.pt, in the same
    MLflow run, and every epoch is logged exactly once."""
    import signal

    e1 = 150
    args = ["--values", "1.0", "--seeds", "0", "--stage1-epochs", str(e1)]
    args += ["--stage2-epochs", "2", "--max-batches", "1"]
    env = {**os.environ, **QUIET, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    cmd = [
        sys.executable,
        str(SWEEPS / "ablate_retention.py"),
        "--params",
        str(tiny / "params.yaml"),
    ]
    cmd += ["--out", str(tmp_path / "out"), "--num-cpus", "1", "--ray-tmp", ray_tmp, "--quiet"]
    proc = subprocess.Popen([*cmd, *args], cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    last = tmp_path / "out" / "stage1_cache"
    deadline = time.time() + 300
    while not list(last.glob("*/ckpt/last.pt")) and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=300)
    from lbi.train import load_checkpoint

    done = load_checkpoint(next(last.glob("*/ckpt/last.pt")))["epoch"]
    assert proc.returncode == 1 and "--resume" in out, out[-3000:]
    assert 1 <= done < e1
    p = subprocess.run([*cmd, *args, "--resume"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600)  # fmt: skip
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    runs = _runs(tmp_path / "mlflow.db", "lbi-sweep-retention")
    assert len(runs) == 1 and runs.status[0] == "FINISHED"
    from mlflow.tracking import MlflowClient

    hist = MlflowClient().get_metric_history(runs.run_id[0], "val_test_mpjpe_mm")
    assert sorted(m.step for m in hist) == list(range(1, e1 + 3))


@pytest.mark.slow
def test_search_cli_optuna_asha(tiny, tmp_path, ray_tmp):
    args = ("--smoke", "--num-samples", "3", "--stage1-epochs", "2", "--stage2-epochs", "2")
    p = _cli(tiny, tmp_path, ray_tmp, "search_hparams.py", *args)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    res = pd.read_csv(tmp_path / "out" / "search" / "results.csv")
    assert len(res) == 3 and {"search.train.lr", "search.model.dim"} <= set(res.columns)
    assert res["search.train.lr"].nunique() == 3  # Optuna proposed three settings
    runs = _runs(tmp_path / "mlflow.db", "lbi-sweep-search")
    assert len(runs) == 3 and set(runs.status) <= {"FINISHED", "KILLED"}
    done = res[res.status == "completed"]
    assert (runs.status == "FINISHED").sum() == len(done)


def test_base_starts_from_the_pipeline_encoder_weights(tiny, tmp_path):
    """Sweeps initialise the encoder as train_stage1 does; the weights are in the data key."""
    from lbi.params import load_params
    from lbi.sweep.spec import fingerprint

    text = (tiny / "params.yaml").read_text()
    text = text.replace("paths: {", f"paths: {{models: {tmp_path}/models, ")
    f = tmp_path / "params.yaml"
    f.write_text(text + "pretrain2d: {enabled: true}\n")
    b = Base.from_params(load_params(f))
    weights = tmp_path / "models" / "pretrain2d" / "backbone.pt"
    assert b.model.pretrained == str(weights.resolve())
    with pytest.raises(FileNotFoundError, match="dvc repro pretrain2d"):
        fingerprint(b, "gt")
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"a")
    first = fingerprint(b, "gt")["data"]
    weights.write_bytes(b"b")
    assert fingerprint(b, "gt")["data"] != first


def test_weight_fingerprint_is_content_not_bytes(tmp_path):
    """Identical weights saved twice (torch names the zip after the temp file) hash alike."""
    import hashlib

    import torch

    from lbi.sweep.spec import _update_with_weights
    from lbi.train import save_checkpoint

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))

    def digest(path: Path) -> str:
        h = hashlib.md5()
        _update_with_weights(h, path)
        return h.hexdigest()

    save_checkpoint(tmp_path / "a.pt", net.state_dict())
    save_checkpoint(tmp_path / "b.pt", net.state_dict())
    assert (tmp_path / "a.pt").read_bytes() != (tmp_path / "b.pt").read_bytes()
    assert digest(tmp_path / "a.pt") == digest(tmp_path / "b.pt")
    with torch.no_grad():
        net[0].weight[0, 0, 0, 0] += 1.0
    save_checkpoint(tmp_path / "c.pt", net.state_dict())
    assert digest(tmp_path / "c.pt") != digest(tmp_path / "a.pt")
    (tmp_path / "d.bin").write_bytes(b"not torch")
    assert len(digest(tmp_path / "d.bin")) == 32  # other formats: their bytes

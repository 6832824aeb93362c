"""Sweeps: params resolution, every driver's cells, locks, and (slow) the real CLIs on
Ray Tune as subprocesses on a tiny store. Trials themselves: tests/test_stages.py."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from lbi import numerics
from lbi.config import ConfigError, to_dict
from tests.test_stages import tiny_setup

REPO = Path(__file__).resolve().parents[1]
SWEEPS = REPO / "sweeps"
QUIET = {"RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true",
         "DVC_NO_ANALYTICS": "1", "TQDM_DISABLE": "1"}  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    tiny_setup(root)
    return root


@pytest.fixture(scope="module")
def base(tiny) -> dict:
    from lbi.params import load_params

    return to_dict(load_params(tiny / "params.yaml"))


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


def test_resolve_params_applies_overrides_and_seed(base):
    from lbi.sweep import resolve_params

    p = resolve_params(base, {"train.lr": 5e-4, "model.stage1": ("tl", "tl", "tl"),
                              "prune.retention": 0.5, "lifter.train.epochs": 3}, seed=7)  # fmt: skip
    assert p.train_stage1.lr == p.train_stage2.lr == 5e-4 and p.lifter.train.lr == 1e-3
    assert p.train_stage1.seed == p.train_stage2.seed == p.lifter.train.seed == 7
    assert p.model.stage1 == ("tl", "tl", "tl") and p.prune.retention == 0.5
    assert p.lifter.train.epochs == 3
    assert base["train_stage1"]["lr"] == 1e-3  # the base is not mutated


def test_resolve_params_rejects_unknown_keys_and_bad_values(base):
    from lbi.sweep import resolve_params

    with pytest.raises(ValueError, match=r"model\.retnetion"):
        resolve_params(base, {"model.retnetion": 0.3}, seed=0)
    with pytest.raises(ValueError, match=r"the retention is prune\.retention"):
        resolve_params(base, {"model.retention": 0.3}, seed=0)
    with pytest.raises(ValueError, match=r"'data\.dataset'"):
        resolve_params(base, {"data.dataset": "h36m"}, seed=0)  # not a trial's to change
    with pytest.raises(ConfigError, match="retention"):
        resolve_params(base, {"prune.retention": 0.0}, seed=0)
    with pytest.raises(ConfigError, match=r"pretrain2d\.enabled: false"):
        resolve_params({**base, "pretrain2d": {**base["pretrain2d"], "enabled": True}},
                       {"model.pretrained": "w.pth"}, seed=0)  # fmt: skip


def test_budget_options_are_overrides(base):
    from lbi.sweep import budget, resolve_params

    p = resolve_params(base, {}, 0)
    assert budget(p) == {}
    b = budget(p, stage1_epochs=3, stage2_epochs=4, max_batches=1)
    assert b["train_stage1.epochs"] == 3 and b["lifter.train.epochs"] == 7  # LBI's budget
    assert b["lifter.train.max_batches_per_epoch"] == 1
    s = resolve_params(base, budget(p, smoke=True), 0)
    assert (s.train_stage1.epochs, s.train_stage2.epochs, s.lifter.train.epochs) == (1, 1, 2)


DRIVERS = ["ablate_retention", "ablate_layers", "ablate_normalization", "ablate_backbone",
           "ablate_pretraining", "ablate_progressive", "compare_lifter", "search_hparams",
           "seed_spread"]  # fmt: skip


@pytest.mark.parametrize("name", DRIVERS)
@pytest.mark.parametrize("smoke", [False, True])
def test_every_driver_builds_valid_cells(name, smoke, tiny, base):
    """Every cell of every sweep (full and smoke grids) resolves to valid params."""
    from lbi.sweep import resolve_params

    mod = _driver(name)
    # the embedded default: the encoder starts from pretrain2d
    params = tiny_setup(tiny, "params_pre.yaml", pretrain2d={"enabled": True})
    args = mod.arguments().parse_args(["--params", str(params)] + (["--smoke"] if smoke else []))
    spec = mod.build(args, "gt")
    for c in spec.cells:  # at the CPU crop size, HRNet included (padded to its stride)
        resolve_params(base, c.overrides, 0)
    if hasattr(mod, "space"):  # the searched keys exist and their samples are valid
        for _ in range(5):
            resolve_params(base, {k: v.sample() for k, v in mod.space(args).space.items()}, 0)
    if name == "ablate_pretraining":  # random init vs the pipeline's encoder init
        assert [c.overrides for c in spec.cells] == [
            {"pretrain2d.enabled": False, "model.pretrained": None},
            {},
        ]
    if name == "ablate_backbone":  # only the pipeline's backbone keeps the pipeline's init
        own = {c.name: c.overrides for c in spec.cells}
        assert all(("pretrain2d.enabled" in o) == (n != "resnet18_s4") for n, o in own.items())
    assert spec.seeds == ((0,) if smoke or name == "search_hparams" else (0, 1, 2, 3, 4))


def test_seed_spread_reuses_compare_lifters_models_and_ends_the_lr_low(tiny):
    """seed_spread's default cells are compare_lifter's models (same keys: their records are
    reused, not retrained); its low-final-LR cells end every schedule at FINAL of its start."""
    from lbi.sweep import RunOptions, context, trial_key

    spread, lifter = _driver("seed_spread"), _driver("compare_lifter")
    argv = ["--params", str(tiny / "params.yaml")]
    a, b = (m.build(m.arguments().parse_args(argv), "gt") for m in (spread, lifter))
    ca, cb = (context(s, tiny / "params.yaml", RunOptions(gpus_per_trial=0), {}) for s in (a, b))
    defaults = {trial_key(ca, a.cell(n), 0) for n in ("lbi_default", "lifter_default")}
    assert defaults == {trial_key(cb, c, 0) for c in b.cells}
    for c in (a.cell("lbi_low_final_lr"), a.cell("lifter_low_final_lr")):
        p, _ = ca.params(c, 0)
        for t in (p.lifter.train,) if c.mode == "lifter" else (p.train_stage1, p.train_stage2):
            assert t.lr_decay ** (t.epochs // t.lr_decay_every) <= spread.FINAL * 1.01
    assert ca.params(a.cell("lbi_ema"), 0)[0].train_stage2.ema_decay == spread.EMA


def test_table_mappings(tiny):
    argv = ["--params", str(tiny / "params.yaml")]
    layers = _driver("ablate_layers")
    spec = layers.build(layers.arguments().parse_args([*argv, "--stage2-layers"]), "gt")
    assert {c.row: c.overrides["model.stage1"] for c in spec.cells} == {
        "0/2": ("pgtl", "pgtl", "tl"),
        "1/1": ("tl", "pgtl", "tl"),
        "2/0": ("tl", "tl", "tl"),
    }
    assert {(c.mode, c.table) for c in spec.cells} == {("stage1", "6")}  # the coarse pose
    retention = _driver("ablate_retention")
    spec = retention.build(retention.arguments().parse_args(argv), "gt")
    assert [c.overrides["prune.retention"] for c in spec.cells] == [0.01, 0.3, 1.0]  # the paper's
    prog = _driver("ablate_progressive")
    spec = prog.build(prog.arguments().parse_args(argv), "gt")
    assert [c.mode for c in spec.cells] == ["e2e_fine", "e2e_both", "progressive", "progressive"]
    assert {c.name: c.overrides for c in spec.cells if c.mode == "progressive"} == {
        "progressive": {"train_stage2.finetune_stage1": False},
        "progressive_ft": {"train_stage2.finetune_stage1": True},
    }
    lifter = _driver("compare_lifter")
    spec = lifter.build(lifter.arguments().parse_args([*argv, "--dims", "16", "48",
                                                       "--stage2", "frozen", "finetune"]), "gt")  # fmt: skip
    assert [c.name for c in spec.cells] == ["lbi_d16", "lbi_d16_ft", "lbi_d48", "lbi_d48_ft",
                                            "lifter"]  # fmt: skip
    assert spec.cells[1].row == "LBI (dim 16, stage 1 fine-tuned)"
    assert spec.cells[-1].mode == "lifter"


def test_file_lock_serialises_holders(tmp_path):
    from lbi.sweep import file_lock

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


def test_trial_log_counts_the_time_waited_on_a_lock_another_holds(tmp_path):
    """A trial waiting for the stage 1 another trial trains records the wait
    (``trial_wait_s``), which the report's machine time leaves out; a free lock adds ~0."""
    from lbi.sweep import file_lock
    from lbi.sweep.trial import TrialLog

    log, held = TrialLog(False, None, "c", 0), threading.Event()

    def hold() -> None:
        with file_lock(tmp_path / "s1.lock"):
            held.set()
            time.sleep(0.5)

    t = threading.Thread(target=hold)
    t.start()
    held.wait()
    with log.waiting(tmp_path / "s1.lock"):
        pass
    t.join()
    assert log.waited_s >= 0.3
    before = log.waited_s
    with log.waiting(tmp_path / "s1.lock"):
        pass
    assert log.waited_s - before < 0.3


def _cli(tiny: Path, tmp: Path, ray_tmp: str, script: str, *args: str) -> subprocess.CompletedProcess:  # fmt: skip
    env = {**os.environ, **QUIET, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}",
           "PYTHONPATH": str(REPO)}  # fmt: skip
    cmd = [sys.executable, str(SWEEPS / script), "--params", str(tiny / "params.yaml"),
           "--out", str(tmp / "out"), "--results-dir", str(tmp / "results"), "--num-cpus", "2",
           "--ray-tmp", ray_tmp, "--quiet", *args]  # fmt: skip
    return subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_retention_cli_on_ray(tiny, tmp_path, ray_tmp):
    """The real CLI on a local Ray cluster: two smoke trials sharing one stage 1, their
    records (smoke) in results/retention.jsonl and MLflow; a second run trains nothing."""
    import mlflow

    from lbi.record import read_records

    args = ("--smoke", "--values", "0.3", "1.0")
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", *args)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    recs = read_records(tmp_path / "results" / "retention.jsonl")
    assert sorted(r.column for r in recs) == ["0.3", "1"]
    assert all(r.smoke and r.status == "finished" and r.table == "7" for r in recs)
    assert len(list((tmp_path / "out" / "stage1_cache").glob("*/models/gt/stage1.pt"))) == 1
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = mlflow.search_runs(experiment_names=["lbi-sweep-retention"])
    child = runs[runs["tags.mlflow.parentRunId"].notna()]
    assert len(runs) == 3 and len(child) == 2 and set(child.status) == {"FINISHED"}
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", *args)
    assert p.returncode == 0 and "2 trials have records (skipped), 0 to run" in p.stdout
    assert len(mlflow.search_runs(experiment_names=["lbi-sweep-retention"])) == 3


def test_retention_cli_without_ray_or_mlflow(tiny, tmp_path, ray_tmp):
    """``--no-ray --no-mlflow`` (a GPU host with torch only): two smoke trials in two worker
    processes at once share one stage 1 and write the records a Ray sweep writes; a rerun
    trains nothing; no MLflow store appears. A GPU share on a host without one: an error."""
    from lbi.record import read_records
    from lbi.sweep.trial import what_key

    args = ("--smoke", "--values", "0.3", "1.0", "--no-ray", "--no-mlflow", "--cpus-per-trial", "1")  # fmt: skip
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", *args)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "2 trials, 2 at a time, without Ray" in p.stdout and "[2/2 at" in p.stdout
    recs = read_records(tmp_path / "results" / "retention.jsonl")
    assert sorted(r.column for r in recs) == ["0.3", "1"]
    assert {(r.status, r.smoke, r.numerics) for r in recs} == {
        ("finished", True, numerics.pinned(1))
    }
    assert len(list((tmp_path / "out" / "stage1_cache").glob("*/models/gt/stage1.pt"))) == 1
    (what,) = (tmp_path / "out" / "stage1_cache").glob("*/key.json")  # what its name hashes
    assert what_key(json.loads(what.read_text())) == what.parent.name
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "out" / "ray").exists()
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", *args)
    assert p.returncode == 0 and "2 trials have records (skipped), 0 to run" in p.stdout
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", "--smoke", "--values", "0.5",
             "--no-ray", "--no-mlflow", "--gpus-per-trial", "0.5")  # fmt: skip
    assert p.returncode == 2 and "this machine has no GPU" in p.stderr, p.stderr[-2000:]


@pytest.mark.slow
def test_gpus_per_trial_without_gpus_is_an_error_not_a_hang(tiny, tmp_path, ray_tmp):
    """Fault case (issue 17): Tune used to wait forever for a GPU the cluster lacks."""
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", "--smoke", "--values", "0.3",
             "--gpus-per-trial", "1")  # fmt: skip
    assert p.returncode != 0
    assert "--gpus-per-trial 1: the Ray cluster has 0 GPUs" in p.stdout + p.stderr


@pytest.mark.slow
def test_a_folder_tune_did_not_make_is_kept(tiny, tmp_path, ray_tmp):
    """Nothing deletes what it did not create: a foreign folder where Tune's state goes."""
    mine = tmp_path / "out" / "ray" / "retention" / "notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("mine")
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", "--smoke", "--values", "0.3")
    assert p.returncode == 2 and "not a Ray Tune experiment folder" in p.stderr, p.stderr[-2000:]
    assert mine.read_text() == "mine"


@pytest.mark.slow
def test_search_cli_optuna_asha(tiny, tmp_path, ray_tmp):
    from lbi.record import read_records

    args = ("--smoke", "--num-samples", "3", "--stage1-epochs", "2", "--stage2-epochs", "2")
    p = _cli(tiny, tmp_path, ray_tmp, "search_hparams.py", *args)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    recs = read_records(tmp_path / "results" / "search.jsonl")
    assert 1 <= len(recs) <= 3 and len({r.overrides["train.lr"] for r in recs}) == len(recs), (
        p.stdout[-3000:] + p.stderr[-3000:]
    )
    curves = list((tmp_path / "out").glob("*/*/plots/gt/stage*.json"))  # ASHA reads each epoch:
    assert curves and all("val_cross_mpjpe_mm" in h for c in curves for h in json.loads(c.read_text()))  # fmt: skip


def test_search_without_a_wild_val_split_names_the_fix(tmp_path):
    """Real data without ``mpi3dhp.val_sequences``: the search fails before Ray starts,
    naming the store, the metric and the fix (it used to fail inside Tune)."""
    from lbi.sweep import Cell, RunOptions, SearchSpec, SweepSpec, context, run_sweep
    from tests._store_fixture import make_store

    tiny_setup(tmp_path)
    make_store(tmp_path / "nocross", dataset="toyx", n={"test": 16}, seed=1)
    params = tiny_setup(tmp_path, "p.yaml", paths={"store_cross": str(tmp_path / "nocross")})
    spec = SweepSpec("search", "search", (Cell("search"),), (0,))
    opts = RunOptions(tmp_path / "out", tmp_path / "results")
    ctx = context(spec, params, opts, {})
    with pytest.raises(ValueError, match=r"nocross: no 'val' split .*mpi3dhp.val_sequences"):
        run_sweep(spec, ctx, opts, search=SearchSpec(space={}))


@pytest.mark.slow
def test_revalidate_rekeys_what_a_rerun_reproduces(tiny, tmp_path, ray_tmp):
    """A code change that leaves the numbers alone need not retrain every record: one
    rerun per mode proves it. Records made stale by hand (code fingerprint and key): the
    LBI record's rerun is equal, so it gets today's key back; the lifter record's metric
    was altered too, so its rerun differs and it stays stale beside the rerun's record.
    A later sweep reuses the Tune folder its first run made."""
    import json

    from lbi.record import read_records
    from lbi.sweep.trial import WALL, strip_trial_metrics

    p = _cli(tiny, tmp_path, ray_tmp, "compare_lifter.py", "--smoke")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    f = tmp_path / "results" / "lifter.jsonl"
    before = {r.mode: r for r in read_records(f)}
    lines = []
    for line in f.read_text().splitlines():
        d = json.loads(line)
        d |= {"key": "0" + d["key"][1:], "code_fingerprint": "0" * 16}
        if d["mode"] == "lifter":
            d["metrics"]["test_lifter_p1_mm"] += 1.0
        lines.append(json.dumps(d, sort_keys=True))
    f.write_text("\n".join(lines) + "\n")
    trials = tmp_path / "out" / "trials"  # the stale LBI record's folder, as its old code left it
    (trials / before["progressive"].key).rename(trials / ("0" + before["progressive"].key[1:]))
    caches = tmp_path / "out" / "stage1_cache"  # its stage 1 too, named by the old code
    (cache,) = [d for d in caches.iterdir() if d.is_dir()]
    what = json.loads((cache / "key.json").read_text())
    stale = caches / ("0" + cache.name[1:])
    cache.rename(stale)
    (stale / "key.json").write_text(json.dumps({**what, "code": "0" * 16}))
    p = _cli(tiny, tmp_path, ray_tmp, "compare_lifter.py", "--smoke", "--revalidate")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "0 trials have records (skipped), 2 to run" in p.stdout  # both reruns in one run
    assert "lifter: lifter seed 0 rerun differs: 0 of 1 stale records re-keyed" in p.stdout
    assert "progressive: lbi_d16_ft seed 0 rerun equal: 1 of 1 stale records re-keyed" in p.stdout
    after = read_records(f)
    lbi = [r for r in after if r.mode == "progressive"]
    assert [(r.key, r.code_fingerprint, strip_trial_metrics(r.metrics)) for r in lbi] == [
        (before["progressive"].key, before["progressive"].code_fingerprint,
         strip_trial_metrics(before["progressive"].metrics))]  # fmt: skip
    assert "progressive: 1 stage-1 caches re-keyed" in p.stdout
    assert not stale.exists() and json.loads((cache / "key.json").read_text()) == what
    moved = json.loads((trials / before["progressive"].key / "record.json").read_text())
    assert moved["key"] == before["progressive"].key  # its folder (model) took the new key
    assert not (trials / ("0" + before["progressive"].key[1:])).exists()
    assert all(r.metrics[WALL] > 0 for r in after)  # every trial's wall time, in seconds
    lifter = sorted((r.code_fingerprint == "0" * 16, r.key) for r in after if r.mode == "lifter")
    assert lifter == [(False, before["lifter"].key), (True, "0" + before["lifter"].key[1:])]
    assert not list((tmp_path / "out").glob("revalidate-*"))  # its folders are gone
    p = _cli(tiny, tmp_path, ray_tmp, "compare_lifter.py", "--smoke", "--seeds", "0", "1")
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "2 trials have records (skipped), 2 to run" in p.stdout


def test_packed_trials_are_keyed_by_their_numerics(tiny):
    """``--cpus-per-trial 1`` packs two trials on two cores, each with one torch thread: other
    numbers, so other keys (and another shared stage 1); the pipeline's 2-thread keys stay."""
    from lbi import experiment as ex
    from lbi.numerics import PIPELINE
    from lbi.sweep import RunOptions, context, trial_key
    from lbi.sweep.trial import stage1_key

    spec = _driver("ablate_retention").build(
        _driver("ablate_retention").arguments().parse_args(["--smoke", "--params", str(tiny / "params.yaml")]), "gt")  # fmt: skip
    one, two = (
        context(spec, tiny / "params.yaml", RunOptions(cpus_per_trial=c), {}) for c in (1, 2)
    )
    assert (one.numerics, two.numerics) == (numerics.pinned(1), numerics.pinned(2))
    c = spec.cells[0]
    p, _ = two.params(c, 0)
    plain = ex.record_key(p, c.mode, "gt", *ex.fingerprints(p, c.mode, "gt", two.paths))
    native = ex.record_key(p, c.mode, "gt", *ex.fingerprints(p, c.mode, "gt", two.paths), "native")
    here = ex.record_key(p, c.mode, "gt", *ex.fingerprints(p, c.mode, "gt", two.paths), two.numerics)  # fmt: skip
    assert trial_key(two, c, 0) == here != native
    # a 2-thread trial's key is the pipeline's own, except on an Intel CPU (lbi/numerics.py)
    assert (here == plain) == (two.numerics == PIPELINE)
    assert trial_key(one, c, 0) not in (plain, here, native)
    assert stage1_key(p, "gt", two.paths, one.numerics) != stage1_key(
        p, "gt", two.paths, two.numerics
    )


def test_a_record_older_than_a_params_key_resolves_with_todays_value(tiny, base):
    """A key added to a params section after a record was made (e.g. a new training
    option): ``--check`` and ``--revalidate`` resolve the record with today's value for
    that key and the record's own values for the rest (its sections used to replace
    today's whole: the key took the dataclass default, or was an error without one)."""
    import copy
    import dataclasses
    from types import SimpleNamespace

    from lbi.sweep import RunOptions, SweepSpec, cells, context
    from lbi.sweep.runner import _today

    spec = SweepSpec("lifter", "3", cells("lifter", "3", [("lifter", {}, "lifter", "")]), (0,))
    ctx = context(spec, tiny / "params.yaml", RunOptions(), {})
    rec = {"lifter": copy.deepcopy(base["lifter"]), "evaluate": dict(base["evaluate"])}
    new_key = "val_batch_size"
    del rec["lifter"]["train"][new_key]  # the record predates it; today's is not the default
    today = copy.deepcopy(ctx.base)
    today["lifter"]["train"][new_key] = 123
    ctx = dataclasses.replace(ctx, base=today)
    rec["lifter"]["train"]["epochs"] = base["lifter"]["train"]["epochs"] + 1
    p, code, data = _today(ctx, SimpleNamespace(params=rec, seed=3, mode="lifter", source_2d="gt"))
    train = to_dict(p)["lifter"]["train"]
    assert train[new_key] == 123
    assert (train["epochs"], train["seed"]) == (base["lifter"]["train"]["epochs"] + 1, 3)
    assert len(code) == len(data) == 16


def test_plan_lists_what_would_be_trained(tiny, tmp_path):
    """``--plan`` trains nothing: a (cell, seed) with a finished record is reused; a stage 1
    is trained once per key (then shared by the seed's other cells) unless it is cached."""
    from lbi.record import RunRecord, write_records
    from lbi.sweep import RunOptions, context, plan, trial_key
    from lbi.sweep.runner import plan_total
    from lbi.sweep.trial import stage1_key
    from lbi.train import CKPT_FORMAT, save_checkpoint

    args = ["--smoke", "--params", str(tiny / "params.yaml"), "--seeds", "0", "1"]
    spec = _driver("ablate_retention").build(_driver("ablate_retention").arguments().parse_args(args), "gt")  # fmt: skip
    opts = RunOptions(tmp_path / "out", tmp_path / "results")
    ctx = context(spec, tiny / "params.yaml", opts, {})
    r03 = next(c for c in spec.cells if c.name == "r=0.3")
    write_records(tmp_path / "results/retention.jsonl", [RunRecord(
        key=trial_key(ctx, r03, 0), sweep="retention", table="7", row="MPJPE", column="0.3",
        cell="r=0.3", mode="progressive", seed=0, source_2d="gt", epochs={}, params={},
        overrides={}, metrics={}, git_commit="", code_fingerprint="c", data_fingerprint="d",
        dataset="toy", synthetic=True, numerics=ctx.numerics)])  # fmt: skip
    p, _ = ctx.params(r03, 1)
    s1 = ctx.out / "stage1_cache" / stage1_key(p, "gt", ctx.paths, ctx.numerics)
    model = ctx.paths.for_trial(ctx.out, s1).model("stage1", "gt")
    model.parent.mkdir(parents=True)
    model.write_bytes(b"")  # seed 1's stage 1 is cached
    r1 = next(c for c in spec.cells if c.name == "r=1")  # a killed run: 1 epoch of stage 2 done
    ckpt = ctx.paths.for_trial(ctx.out / "trials" / trial_key(ctx, r1, 1)).ckpt("stage2", "gt")
    save_checkpoint(ckpt / "last.pt", {"format": CKPT_FORMAT, "epoch": 1})
    head, *lines = plan(spec, ctx, opts)
    e1, e2 = p.train_stage1.epochs, p.train_stage2.epochs
    assert e2 > 1
    assert lines[:2] == [f"  r=0.01 seed 0: stage 1 ({e1} epochs), stage 2 ({e2} epochs)",
                         f"  r=0.01 seed 1: stage 1 cached, stage 2 ({e2} epochs)"]  # fmt: skip
    assert f"  r=1 seed 0: stage 1 shared, stage 2 ({e2} epochs)" in lines
    assert f"  r=1 seed 1: stage 1 cached, stage 2 ({e2 - 1} of {e2} epochs left)" in lines
    assert not [x for x in lines if x.startswith("  r=0.3 seed 0")]
    assert head == (f"sweep retention: 5 trials to run; trains stage 1 x1 ({e1} epochs), stage 2 "
                    f"x5 ({5 * e2 - 1} epochs); reuses has a record x1, stage 1 cached x3, stage 1 "
                    "shared x1")  # fmt: skip
    written = [f for f in (tmp_path / "out" / "trials").rglob("*") if f.is_file()]
    assert written == [ckpt / "last.pt"]  # nothing ran
    units: list[dict] = []  # summed over sweeps, a model two sweeps list is counted once
    plan(spec, ctx, opts, units)
    assert sum(u["epochs"] for u in units) == e1 + 5 * e2 - 1 and len(units) == 6
    again = [{**u, "sweep": "other"} for u in units if u["phase"] == "stage 2"]
    head, *lines = plan_total(units + again)
    assert head.startswith("all sweeps: 6 models to train (11 listed by their sweeps")
    assert lines == [f"  stage 1 at {ctx.numerics}: {e1} epochs",
                     f"  stage 2 at {ctx.numerics}: {5 * e2 - 1} epochs"]  # fmt: skip


def _variant(tiny: Path, root: Path, split: str) -> Path:
    """A copy of ``tiny``'s stores whose ``split`` crops differ (and its meta says so), with
    its params; the rest of the data byte-identical."""
    import json

    import numpy as np

    from lbi.io import save_npy
    from tests.test_stages import tiny_setup

    shutil.copytree(tiny / "stores", root / "stores")
    shutil.copytree(tiny / "det", root / "det")
    store = root / "stores" / "in"
    crops = np.load(store / f"{split}_crops.npy")
    save_npy(store / f"{split}_crops.npy", 255 - crops)
    meta = json.loads((store / "meta.json").read_text())
    (store / "meta.json").write_text(json.dumps({**meta, "provenance": {"changed": split}}))
    return tiny_setup(root)


def test_a_seed_recorded_under_other_cpu_numerics_is_done_unless_no_pool(tiny, tmp_path):
    """The ledger pools seeds across pinned CPU numerics, so a sweep on an Intel host (or at
    1 thread) skips a seed whose cells the committed AMD (2-thread) records all hold (a seed
    held in part trains whole here: pairs stay within one numerics); ``--no-pool`` reruns
    it; a GPU (cuda) record never counts for a CPU sweep. Whole means the cells the claims
    pair (r=0.3 with r=1: T7a); a cell no claim names (r=0.5) is a group of its own."""
    import dataclasses as dc

    from lbi.record import RunRecord, write_records
    from lbi.sweep import RunOptions, context, plan, trial_key
    from lbi.sweep.runner import pairing_groups
    from lbi.sweep.trial import CUDA

    args = ["--smoke", "--params", str(tiny / "params.yaml"), "--values", "0.3", "1.0", "0.5"]
    spec = _driver("ablate_retention").build(_driver("ablate_retention").arguments().parse_args(args), "gt")  # fmt: skip
    opts = RunOptions(tmp_path / "out", tmp_path / "results")
    ctx = context(spec, tiny / "params.yaml", opts, {})

    def record(num: str, cell: str) -> RunRecord:
        c = next(c for c in spec.cells if c.name == cell)
        return RunRecord(
            key=trial_key(dc.replace(ctx, numerics=num), c, 0), sweep="retention", table="7",
            row="MPJPE", column=cell[2:], cell=cell, mode="progressive", seed=0, source_2d="gt",
            epochs={}, params={}, overrides={}, metrics={}, git_commit="", code_fingerprint="c",
            data_fingerprint="d", dataset="toy", synthetic=True, numerics=num)  # fmt: skip

    def write(*recs: RunRecord) -> None:
        write_records(tmp_path / "results/retention.jsonl", recs)

    other = numerics.pinned(2, "AuthenticAMD" if "intel" in ctx.numerics else "GenuineIntel")
    assert other != ctx.numerics
    assert pairing_groups(spec) == [("r=0.3", "r=1"), ("r=0.5",)]
    write(record(CUDA, "r=0.3"), record(CUDA, "r=1"))
    assert plan(spec, ctx, opts)[0].startswith("sweep retention: 3 trials to run")
    write(record(other, "r=0.3"))  # the pair only in part: it pairs within one numerics, so
    assert plan(spec, ctx, opts)[0].startswith("sweep retention: 3 trials to run")  # all here
    write(record(CUDA, "r=1"), record(other, "r=0.3"), record(other, "r=1"))
    head = plan(spec, ctx, opts)[0]
    assert head.startswith("sweep retention: 1 trials to run")  # r=0.5: not held anywhere
    assert head.endswith("reuses has a record at other CPU numerics x2"), head
    write(record(other, "r=0.3"), record(other, "r=1"), record(ctx.numerics, "r=1"))
    head = plan(spec, ctx, opts)[0]  # one of the pair here: the pair is this host's
    assert head.startswith("sweep retention: 2 trials to run") and "other CPU" not in head
    write(record(other, "r=0.3"), record(other, "r=1"), record(ctx.numerics, "r=0.5"))
    head = plan(spec, ctx, opts)[0]  # an unpaired cell here never retrains the pair
    assert head.startswith("sweep retention: 0 trials to run")
    assert head.endswith("reuses has a record x1, has a record at other CPU numerics x2"), head
    own = plan(spec, ctx, dc.replace(opts, pool=False))[0]  # --no-pool
    assert own.startswith("sweep retention: 2 trials to run")


def test_a_variant_that_changes_only_the_test_set_evaluates_the_default_models(tiny, tmp_path):
    """A store variant with the default's training inputs (here: other test crops) trains
    nothing: each trial copies the default stores' model of its (cell, seed), bit for bit,
    and evaluates it on its own test sets (records keyed by their own data, marked
    :data:`~lbi.report.stats.TWIN`); ``--plan`` says so. A variant whose train split differs
    trains its own, and so does one whose default stores are not on this machine."""
    import yaml

    from lbi.report.stats import TWIN
    from lbi.sweep import RunOptions, context, plan, run_trial
    from lbi.sweep.trial import strip_trial_metrics, twin_model

    args = ["--smoke", "--params", str(tiny / "params.yaml")]
    drv = _driver("compare_lifter")
    spec = drv.build(drv.arguments().parse_args(args), "gt")
    opts = RunOptions(tmp_path / "out", tmp_path / "results")
    default = context(spec, tiny / "params.yaml", opts, {})
    test_only = context(spec, _variant(tiny, tmp_path / "a", "test"), opts, {}, tiny / "params.yaml")  # fmt: skip
    train_too = context(spec, _variant(tiny, tmp_path / "b", "train"), opts, {}, tiny / "params.yaml")  # fmt: skip
    gone = yaml.safe_load((tiny / "params.yaml").read_text())  # default stores not made here
    gone["paths"]["store_in"] = str(tmp_path / "no_store")
    (tmp_path / "gone.yaml").write_text(yaml.safe_dump(gone))
    orphan = context(spec, tmp_path / "a" / "params.yaml", opts, {}, tmp_path / "gone.yaml")
    assert twin_model(orphan, spec.cells[0], 0) is None  # it trains, no error
    for c in spec.cells:
        assert twin_model(test_only, c, 0) is None  # the default's model is not trained yet
        ref = run_trial(default, c, 0)
        f, key = twin_model(test_only, c, 0)
        assert key == ref.key and twin_model(train_too, c, 0) is None
        line = f"  {c.name} seed 0: evaluates the default stores' model (same training inputs)"
        assert line in plan(dataclasses.replace(spec, cells=(c,), seeds=(0,)), test_only, opts)
        rec = run_trial(test_only, c, 0)
        assert rec.metrics[TWIN] == 1.0 and TWIN not in strip_trial_metrics(rec.metrics)
        assert rec.key != ref.key and rec.data_fingerprint != ref.data_fingerprint
        trial = tmp_path / "out" / "trials" / rec.key
        assert not (trial / "checkpoints").exists()  # nothing trained
        model = next((trial / "models").rglob("*.pt"))
        assert model.read_bytes() == f.read_bytes()
        assert json.loads((trial / "models" / "model_from.json").read_text())["twin_key"] == ref.key
        if c.mode == "progressive":  # the LBI model looks at the crops: other test numbers
            assert rec.metrics["test_refined_p1_mm"] != ref.metrics["test_refined_p1_mm"]


def test_make_sweeps_is_every_driver_and_plans_without_the_report():
    """``make sweeps`` is the whole suite: every ablation driver (all but the search), then the
    report; with ``SWEEP_ARGS=--plan`` every driver only plans and the report is left alone."""

    def dry(*args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}  # fmt: skip
        p = subprocess.run(["make", "--no-print-directory", "-n", "sweeps", *args], cwd=REPO,
                           capture_output=True, text=True, env=env)  # under make test, too  # fmt: skip
        assert p.returncode == 0, p.stderr
        return p.stdout[p.stdout.index("for s in") :]  # the suite (not the venv it may make)

    drivers = {f.stem for f in SWEEPS.glob("*.py")} - {"_common", "search_hparams"}
    planned = dry("SWEEP_ARGS=--plan")
    assert drivers <= set(re.findall(r"\w+", planned))
    *runs, total = [x for x in planned.splitlines() if "bin/python" in x]
    assert len(runs) == 7 and all("--plan --plan-out data/sweeps/plan.jsonl" in x or x.endswith("\\") for x in runs)  # fmt: skip
    assert planned.count("--plan-out") == 7 and "dvc repro" not in planned
    assert total.endswith("sweeps/plan_total.py data/sweeps/plan.jsonl")  # all of it, shared once
    packed = [x for x in runs if "--cpus-per-trial 1" in x]  # at their committed records' numerics
    assert all(re.search(r"ablate_(layers|progressive|backbone)|--source|--stores cues|\$s\.py", x) for x in packed)  # fmt: skip
    assert not any(re.search(r"compare_lifter\.py --seeds|seed_spread", x) for x in packed)
    assert "compare_lifter.py --stores cues" in planned
    assert "seed_spread.py --stores bigtest --treatments default" in planned
    assert dry().rstrip().endswith("dvc repro report")


def test_gpu_trials_are_keyed_apart_and_never_run_on_the_cpu(tiny):
    """Trials with a GPU share train on it: numerics ``cuda``, so keys (and the shared stage
    1) apart from the CPU's pinned ones; a trial that would train elsewhere than its
    sweep's numerics say is one error before training (here: no GPU on this machine)."""
    import torch

    from lbi.sweep import RunOptions, context, run_trial, trial_key
    from lbi.sweep.local import _trial
    from lbi.sweep.trial import stage1_key

    args = ["--smoke", "--params", str(tiny / "params.yaml")]
    spec = _driver("ablate_retention").build(_driver("ablate_retention").arguments().parse_args(args), "gt")  # fmt: skip
    gpu, cpu = (context(spec, tiny / "params.yaml", RunOptions(gpus_per_trial=g), {}) for g in (0.5, 0))  # fmt: skip
    assert (gpu.numerics, cpu.numerics) == ("cuda", numerics.pinned(2))
    c = spec.cells[0]
    p, _ = cpu.params(c, 0)
    assert trial_key(gpu, c, 0) != trial_key(cpu, c, 0)
    assert stage1_key(p, "gt", cpu.paths, gpu.numerics) != stage1_key(p, "gt", cpu.paths, cpu.numerics)  # fmt: skip
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match=r"would train on cpu, the sweep's numerics are cuda: give trials a GPU share"):  # fmt: skip
            run_trial(gpu, c, 0)
        # without Ray, a trial that fails before it has a record is reported, not raised
        error = _trial(gpu, spec, {"cell": c.name, "seed": 0}, tries=2)
        assert isinstance(error, str) and error.startswith("RuntimeError: trial ")
        assert "would train on cpu" in error


@pytest.mark.gpu
@pytest.mark.parametrize("scheduler", [(), ("--no-ray", "--no-mlflow")], ids=["ray", "no-ray"])
def test_fractional_gpu_trials_share_one_gpu(tiny, tmp_path, ray_tmp, scheduler):
    """Two smoke trials at once on one GPU (a half each), on Ray Tune or in processes: both
    train on it, say so (numerics ``cuda``) and share one stage 1."""
    import torch

    from lbi.record import read_records

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")

    args = ("--smoke", "--values", "0.3", "1.0", "--gpus-per-trial", "0.5", "--cpus-per-trial", "1", *scheduler)  # fmt: skip
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", *args)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    recs = read_records(tmp_path / "results" / "retention.jsonl")
    assert len(recs) == 2 and {(r.status, r.numerics) for r in recs} == {("finished", "cuda")}
    assert len(list((tmp_path / "out" / "stage1_cache").glob("*/models/gt/stage1.pt"))) == 1


@pytest.mark.slow
def test_packed_cli_trials_run_one_thread_each(tiny, tmp_path, ray_tmp):
    """Two smoke trials at once on two CPUs, one torch thread each; their records say so."""
    from lbi.record import read_records

    args = ("--smoke", "--values", "0.3", "1.0", "--cpus-per-trial", "1")
    p = _cli(tiny, tmp_path, ray_tmp, "ablate_retention.py", *args)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    recs = read_records(tmp_path / "results" / "retention.jsonl")
    assert len(recs) == 2 and {r.numerics for r in recs} == {numerics.pinned(1)}
    assert len(list((tmp_path / "out" / "stage1_cache").glob("*/models/gt/stage1.pt"))) == 1


def test_a_store_variant_gets_its_own_params_stores_and_sweep(tmp_path, monkeypatch, capsys):
    """``--stores cues`` (sweeps/stores.yaml; issue 20 item 0): the params file differs from
    the user's only in the variant's ``embedded`` keys and in output paths under
    ``<out>/stores/cues/``; its records are sweep ``lifter-cues``, table ``3@cues`` (never a
    paper table); ``--plan`` before the stores are made says so and makes nothing else."""
    import yaml

    from lbi.sweep.stores import variant_params, variants

    monkeypatch.chdir(tmp_path)
    mine = yaml.safe_load((REPO / "params.yaml").read_text())
    Path("params.yaml").write_text(yaml.safe_dump(mine))
    for name, v in variants().items():  # every declared variant resolves to valid params
        got = yaml.safe_load(variant_params(Path("params.yaml"), name, Path("data/sweeps")).read_text())  # fmt: skip
        assert got["embedded"] == {**mine["embedded"], **v["embedded"]} != mine["embedded"]
        assert got["paths"] == {k: p if k == "raw" else f"data/sweeps/stores/{name}/{k}"
                                for k, p in mine["paths"].items()}  # fmt: skip
        assert {k: x for k, x in got.items() if k not in ("paths", "embedded")} == {
            k: x for k, x in mine.items() if k not in ("paths", "embedded")}  # fmt: skip
    assert variants()["cues"]["embedded"] == {"look": "cues"}
    with pytest.raises(ConfigError, match=r"--stores cartoon: no such variant"):
        variant_params(Path("params.yaml"), "cartoon", Path("data/sweeps"))
    Path("h36m.yaml").write_text(yaml.safe_dump({**mine, "data": {**mine["data"], "dataset": "h36m"}}))  # fmt: skip
    with pytest.raises(ConfigError, match=r"data\.dataset: embedded"):
        variant_params(Path("h36m.yaml"), "cues", Path("data/sweeps"))

    drv = _driver("compare_lifter")
    args = drv.arguments().parse_args(["--stores", "cues", "--plan"])
    assert drv.main(args, drv.build) == []
    assert "stores cues: not made yet" in capsys.readouterr().out
    assert sorted(p.name for p in Path("data/sweeps/stores/cues").iterdir()) == ["params.yaml"]
    from lbi.data.store import StoreError
    from lbi.sweep import stores

    monkeypatch.setattr(stores, "STAGES", ("no_such_stage",))  # a stage that fails at once
    with pytest.raises(StoreError, match=r"-m pipeline\.no_such_stage .* failed \(exit 1\)"):
        stores.prepare(Path("data/sweeps/stores/cues/params.yaml"), "gt")
    assert not Path("data/sweeps/stores/cues/prepared.json").exists()  # a rerun retries
    from lbi.sweep.stores import on_variant

    spec = on_variant(drv.build(drv.arguments().parse_args([]), "gt"), "cues")
    assert (spec.name, spec.table, {c.table or spec.table for c in spec.cells}) == (
        "lifter-cues",
        "3@cues",
        {"3@cues"},
    )
    layers = _driver("ablate_layers")
    spec = on_variant(layers.build(layers.arguments().parse_args([]), "gt"), "cues")
    assert all(c.table.endswith("@cues") for c in spec.cells if c.table)


def test_a_bad_store_variant_is_one_clear_error(tmp_path):
    from lbi.sweep.stores import variants

    f = tmp_path / "stores.yaml"
    f.write_text("cues: {embedded: {look: cues}}\n")
    with pytest.raises(ConfigError, match=r"variant 'cues' must be \{about: <text>, embedded"):
        variants(f)


@pytest.mark.slow
def test_prepare_makes_a_variants_stores_once_with_the_pipelines_stages(tmp_path, monkeypatch):
    """The variant's stores come from the stage commands ``dvc repro`` runs, into its own
    folder only; a second call finds them current (``prepared.json``) and runs nothing."""
    import json

    import yaml

    from lbi.sweep.stores import MARK, prepare, variant_params
    from tests.test_pipeline_e2e import tiny_params

    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text(yaml.safe_dump(tiny_params()))
    env = {**os.environ, **QUIET, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "pipeline.fetch", "--no-progress"], env=env, check=True)
    f = variant_params(Path("params.yaml"), "cues", Path("data/sweeps"))
    assert prepare(f, "gt") is True
    root = f.parent
    meta = json.loads((root / "store_in" / "meta.json").read_text())
    assert "cues" in json.dumps(meta)
    assert (root / "models/pretrain2d/backbone.json").is_file() and (root / MARK).is_file()
    assert any((root / "detections" / "gt").iterdir())
    assert not Path("data/store").exists()  # the params' own stores: not made, not touched
    assert prepare(f, "gt") is False

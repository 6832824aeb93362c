"""The stage functions (lbi.stages) as the pipeline calls them, and a sweep trial made of
the same calls: same params and seed -> the same numbers, bit for bit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lbi.experiment import weights_digest  # a weight file's model tensors, not its history
from tests._store_fixture import make_store

ROOT = Path(__file__).resolve().parents[1]


def tiny_setup(root: Path, name: str = "params.yaml", **sections: dict) -> Path:
    """Two tiny stores (32x24 crops), gt detections where detect2d puts them, and a
    complete params file (the repo's, shrunk) pointing every path into ``root``."""
    if not (root / "stores" / "in" / "meta.json").exists():
        make_store(root / "stores" / "in", dataset="toy", n={"train": 64, "test": 16})
        make_store(root / "stores" / "cross", dataset="toyx", n={"test": 16, "val": 16}, seed=1)
        (root / "det" / "gt").mkdir(parents=True, exist_ok=True)
        for d in ("toy", "toyx"):
            det = f"keypoints2d_{d}_gt.npz"
            shutil.copy(root / "stores" / det, root / "det" / "gt" / det)
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["paths"] = {k: str(root / v) for k, v in p["paths"].items()}
    p["paths"].update(store_in=str(root / "stores/in"), store_cross=str(root / "stores/cross"),
                      detections=str(root / "det"))  # fmt: skip
    p["data"].update(sources=["gt"], train_sources=["gt"])
    p["pretrain2d"]["enabled"] = False
    p["model"].update(input_hw=[32, 24], dim=16, heads=2, mlp_ratio=1.0, stage2_layers=1)
    p["embedded"]["crop_hw"] = [32, 24]  # the fixture stores' crops (check_crop_sizes)
    tiny = {"epochs": 2, "batch_size": 16, "max_batches_per_epoch": 2, "device": "cpu"}
    for sec in (p["train_stage1"], p["train_stage2"]):
        sec.update(tiny, val_batch_size=64)
    p["lifter"]["train"].update(tiny, epochs=4)
    p["lifter"]["model"].update(lifter_dim=32, lifter_layers=1)
    p["evaluate"]["batch_size"] = 64
    for sec, vals in sections.items():
        p[sec].update(vals)
    f = root / name
    f.write_text(yaml.safe_dump(p))
    return f


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """The pipeline's LBI stages and one sweep trial of a cell without overrides, once."""
    import os

    from lbi import stages
    from lbi.experiment import StagePaths
    from lbi.params import load_params
    from lbi.sweep import Cell, RunOptions, SweepSpec, context, run_trial

    root = tmp_path_factory.mktemp("stages")
    old = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    try:
        f = tiny_setup(root)
        p = load_params(f)
        paths = StagePaths.from_params(p.paths)
        stages.train_stage1(p, "gt", paths)
        stats = stages.prune(p, "gt", paths)
        stages.train_stage2(p, "gt", paths)
        pipe = stages.evaluate(p, "gt", paths, modes=("progressive",))["progressive"]
    finally:
        if old is None:
            os.environ.pop("MLFLOW_TRACKING_URI")
        else:
            os.environ["MLFLOW_TRACKING_URI"] = old
    spec = SweepSpec("unit", "7", (Cell("plain", row="r", column="c"),), (0,))
    opts = RunOptions(out_dir=root / "out", results_dir=root / "results", mlflow=False)
    ctx = context(spec, f, opts, {})
    rec = run_trial(ctx, spec.cells[0], 0)
    return {"root": root, "params": p, "paths": paths, "stats": stats, "pipe": pipe,
            "spec": spec, "opts": opts, "ctx": ctx, "rec": rec}  # fmt: skip


def test_sweep_trial_is_the_pipeline_stages_bit_for_bit(done):
    """A cell without overrides = the pipeline's stage functions on params.yaml (same seed,
    tiny budget): identical metrics and stage-2 weights; the pipeline's record too."""
    from lbi.record import read_records
    from lbi.sweep.trial import WALL, strip_trial_metrics

    p, paths, pipe, rec, root = (done[k] for k in ("params", "paths", "pipe", "rec", "root"))
    assert done["stats"]["retention"] == p.prune.retention == 0.3
    (prec,) = read_records(paths.eval / "gt" / "records.jsonl")
    assert (prec.sweep, prec.mode, prec.seed, prec.epochs) == (
        "pipeline",
        "progressive",
        0,
        {"stage1": 2, "stage2": 2},
    )
    assert prec.metrics == pipe and not prec.smoke
    model = strip_trial_metrics(rec.metrics)  # and the trial's wall time:
    assert rec.status == "finished" and model == pipe and rec.metrics[WALL] > 0  # bit for bit
    assert {"test_refined_p1_mm", "cross_coarse_mpjpe_mm"} <= set(rec.metrics)
    assert rec.key == prec.key and rec.numerics == prec.numerics  # the same model: the same key
    assert (rec.sweep, rec.table, rec.row, rec.column, rec.cell) == ("unit", "7", "r", "c", "plain")
    (trial,) = [d for d in (root / "out" / "trials").iterdir() if d.is_dir()]
    assert trial.name == rec.key
    assert weights_digest(trial / "models/gt/stage2.pt") == weights_digest(
        paths.model("stage2", "gt")
    )
    import json

    from lbi.train import load_checkpoint

    # A trial validates every val_every-th epoch and the last, the pipeline every epoch: the
    # model files differ in their validation history, not in anything training did (stage
    # 2's resume key holds stage 1's weights digest, not its file's).
    ours, theirs = (load_checkpoint(f) for f in (trial / "models/gt/stage2.pt", paths.model("stage2", "gt")))  # fmt: skip
    (h, *_), (g, *_) = ours.pop("history"), theirs.pop("history")
    assert done["opts"].val_every > 1 and "val_test_mpjpe_mm" not in h and "val_test_mpjpe_mm" in g
    assert h["train_loss_m2"] == g["train_loss_m2"]  # the same training, unvalidated epoch 1
    plain = lambda c: json.dumps({k: v for k, v in c.items() if k != "model"}, sort_keys=True)  # noqa: E731
    assert plain(ours) == plain(theirs)
    (s1,) = (root / "out" / "stage1_cache").glob("*/models/gt/stage1.pt")
    assert weights_digest(s1) == weights_digest(paths.model("stage1", "gt"))


def test_a_second_sweep_skips_trials_with_records(done):
    """Records are the cache: a trial whose key has a finished record in any results file
    is not run again (no training, no Tune); its record is placed in this sweep."""
    import dataclasses

    from lbi.record import merge_records, read_records
    from lbi.sweep import run_sweep

    rec, opts, ctx, spec = (done[k] for k in ("rec", "opts", "ctx", "spec"))
    results = done["root"] / "results_b"
    merge_records(results / "older.jsonl", [rec])
    model = ctx.out / "trials" / rec.key / "models/gt/stage2.pt"
    stamp = model.stat().st_mtime_ns
    again = dataclasses.replace(spec, name="again", cells=(dataclasses.replace(
        spec.cells[0], row="other row"),))  # fmt: skip
    recs = run_sweep(again, ctx, dataclasses.replace(opts, results_dir=results))
    assert [(r.key, r.sweep, r.row, r.metrics) for r in recs] == [
        (rec.key, "again", "other row", rec.metrics)
    ]
    assert model.stat().st_mtime_ns == stamp and not (ctx.out / "ray").exists()
    assert read_records(results / "again.jsonl") == recs


def test_changed_code_changes_the_key_and_check_names_the_stale_record(done, tmp_path,
                                                                       monkeypatch):  # fmt: skip
    """One code dep of the trial's stages edited (in a copy of the code): the trial key
    changes (it would rerun) and ``check`` names the committed record as stale."""
    import lbi.fingerprint
    from lbi.record import merge_records
    from lbi.sweep import check, trial_key

    rec, ctx, spec = done["rec"], done["ctx"], done["spec"]
    results = tmp_path / "results"
    merge_records(results / "retention.jsonl", [rec])
    assert check(results, ctx)[0] == []
    copy = tmp_path / "code"
    for d in ("lbi", "pipeline"):
        shutil.copytree(ROOT / d, copy / d, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", copy / "dvc.yaml")
    with open(copy / "lbi" / "train.py", "a") as fh:
        fh.write("\n# a change\n")
    monkeypatch.setattr(lbi.fingerprint, "repo_root", lambda: copy)
    assert trial_key(ctx, spec.cells[0], 0) != rec.key
    stale, _ = check(results, ctx)
    assert len(stale) == 1 and str(results / "retention.jsonl") in stale[0]
    assert rec.key in stale[0] and "code" in stale[0]


def test_check_judges_data_only_on_the_stores_the_record_was_made_on(done, tmp_path):
    """A store variant's record (table ``<t>@<variant>``) is not called stale for differing
    from the default stores' data: ``check`` notes where to check it instead."""
    import dataclasses

    from lbi.record import merge_records
    from lbi.sweep import check

    rec, ctx = done["rec"], done["ctx"]
    results = tmp_path / "results"
    moved = dataclasses.replace(rec, data_fingerprint="feedfacefeedface")
    merge_records(results / "retention.jsonl", [moved])
    assert "data" in check(results, ctx)[0][0]
    other = dataclasses.replace(moved, key="1" * 16, table=f"{rec.table}@bigtest")
    merge_records(results / "retention-bigtest.jsonl", [other])
    stale, notes = check(results, ctx)
    assert len(stale) == 1 and "1" * 16 not in stale[0]
    assert any("1" * 16 in n and "--stores bigtest" in n for n in notes)


def test_check_cli_exit_codes_and_malformed_line(done, tmp_path, capsys):
    """``--check``: exit 0 when nothing is stale, 1 naming stale records, 2 with one line
    naming file:line for a malformed results line."""
    import dataclasses

    from lbi.record import merge_records
    from tests.test_sweeps import _driver

    rec = done["rec"]
    mod = _driver("ablate_retention")
    results = tmp_path / "results"
    argv = ["--params", str(done["root"] / "params.yaml"), "--results-dir", str(results), "--check"]
    merge_records(results / "retention.jsonl", [rec])
    with pytest.raises(SystemExit) as e:
        mod.main(mod.arguments().parse_args(argv), mod.build)
    assert e.value.code == 0
    other = dataclasses.replace(rec, key="0" * 16, code_fingerprint="feedfacefeedface")
    merge_records(results / "retention.jsonl", [other])
    with pytest.raises(SystemExit) as e:
        mod.main(mod.arguments().parse_args(argv), mod.build)
    assert (
        e.value.code == 1 and f"{'0' * 16} (plain, seed 0): stale: code" in capsys.readouterr().out
    )
    bad = results / "broken.jsonl"
    bad.write_text(rec.to_json() + "\n{not json\n")
    with pytest.raises(SystemExit) as e:
        mod.main(mod.arguments().parse_args(argv), mod.build)
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"{bad}:2: malformed run record" in err
    assert len(err.strip().splitlines()) == 1


def test_smoke_trial_records_say_smoke_and_go_to_mlflow(done, tmp_path, monkeypatch):
    """A ``--smoke`` trial (mode stage1: coarse pose) is recorded smoke=True, in the records
    and in its MLflow run, nested under the sweep invocation's parent run."""
    import dataclasses

    from mlflow.tracking import MlflowClient

    from lbi.record import finished
    from lbi.sweep import Cell, budget, run_trial
    from lbi.sweep.runner import _mlflow_parent

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    ctx = dataclasses.replace(done["ctx"], smoke=True, budget=budget(done["params"], smoke=True))
    ctx = _mlflow_parent(done["spec"], ctx)
    rec = run_trial(ctx, Cell("coarse", mode="stage1"), 0)
    assert rec.smoke and rec.status == "finished" and rec.epochs == {"stage1": 1}
    assert {"test_coarse_p1_mm", "test_stage1_bg_attention_pct"} <= set(rec.metrics)
    assert "test_refined_p1_mm" not in rec.metrics and finished([rec]) == []
    client = MlflowClient(ctx.tracking_uri)
    (run,) = [r for r in client.search_runs([ctx.experiment_id])
              if r.data.tags.get("mlflow.parentRunId") == ctx.parent_run_id]  # fmt: skip
    assert run.data.tags["lbi.smoke"] == "true" and run.info.status == "FINISHED"
    assert run.data.tags["lbi.mode"] == "stage1" and run.data.params["train_stage1.epochs"] == "1"
    assert run.data.metrics["test_coarse_p1_mm"] == rec.metrics["test_coarse_p1_mm"]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_test_mpjpe_mm")] == [1]

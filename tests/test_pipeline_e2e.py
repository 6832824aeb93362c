"""End to end: the real `dvc repro` on a tiny params file in a temporary copy of the repo."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lbi.io import copy_worktree

ROOT = Path(__file__).resolve().parents[1]


def tiny_params() -> dict:
    """The repo's params.yaml shrunk to a seconds-long run (every key still real)."""
    p = yaml.safe_load((ROOT / "params.yaml").read_text())
    p["embedded"].update(
        crop_hw=[64, 48], fps=2.0, train_clips=["walk", "jump", "punch"], test_clips=["kick"],
        wild_clips=["spinkick"], train_subjects=[[1.0, 1.0], [1.06, 0.95]], test_subjects=[[0.92, 1.05]],
        wild_subjects=[[1.08, 0.92]], wild_val_clips=["kick"], wild_val_subjects=[[0.9, 0.96]],
        lab_cameras=2, wild_views=2,
    )  # fmt: skip
    p["data"]["train_sources"] = ["gt", "sh"]
    p["model"].update(input_hw=[64, 48], dim=16, heads=2, stage2_layers=1)
    for sec in (
        p["train_stage1"],
        p["train_stage2"],
        p["lifter"]["train"],
        p["pretrain2d"]["train"],
    ):
        sec.update(epochs=2, batch_size=16)
    p["lifter"]["model"].update(lifter_dim=32, lifter_layers=1)
    return p


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1500)
    assert r.returncode == 0, f"{' '.join(cmd)} failed:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    return r.stdout + r.stderr


def tiny_repo(tmp_path: Path, params: dict) -> tuple[Path, dict[str, str]]:
    """A git repo at ``tmp_path/repo``: the work tree with ``params`` as params.yaml,
    committed; and the environment to run dvc in it (the venv first on PATH)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_worktree(ROOT, repo)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "MLFLOW_DISABLE_TELEMETRY": "true", "TQDM_DISABLE": "1", "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}  # fmt: skip
    env.pop("MLFLOW_TRACKING_URI", None)
    _run(["git", "init", "-q"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "copy"], repo, env)
    return repo, env


@pytest.mark.slow
def test_dvc_repro_end_to_end(tmp_path):
    repo, env = tiny_repo(tmp_path, tiny_params())
    out = _run(["dvc", "repro"], repo, env)
    ran = set(re.findall(r"Running stage '([^']+)'", out))
    # The tiny lifter trains 2 epochs, LBI 2 + 2: allowed, and said.
    assert "the lifter does not get LBI's budget; set lifter.train.epochs: 4" in out
    assert {
        "fetch",
        "preprocess",
        "pretrain2d",
        "detect2d@sh",
        "train_stage1@gt",
        "train_stage2@sh",
        "evaluate@gt",
        "report",
    } <= ran

    m = json.loads((repo / "metrics" / "gt.json").read_text())
    for key in ("test_refined_p1_mm", "test_refined_p2_mm", "test_lifter_p1_mm", "cross_refined_pck150_pct",
                "cross_refined_auc_pct", "cross_refined_mpjpe_mm", "test_stage1_bg_attention_pct"):  # fmt: skip
        assert key in m and m[key] == m[key], key  # present and not NaN
    assert 0 <= m["cross_refined_pck150_pct"] <= 100
    assert json.loads((repo / "metrics" / "sh.json").read_text())["test_refined_p1_mm"] > 0
    from lbi.record import read_records

    recs = {r.mode: r for r in read_records(repo / "data" / "eval" / "gt" / "records.jsonl")}
    assert sorted(recs) == ["lifter", "progressive"] and recs["lifter"].sweep == "pipeline"
    assert recs["progressive"].metrics["test_refined_p1_mm"] == m["test_refined_p1_mm"]

    # MLflow: one pipeline run with the stage runs nested under it, tagged synthetic
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")
    client = MlflowClient()
    exp = client.get_experiment_by_name("lbi-pipeline")
    runs = client.search_runs([exp.experiment_id], max_results=200)
    stages = {r.data.tags.get("dvc.stage") for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert {
        "pretrain2d",
        "train_stage1",
        "train_stage2",
        "prune",
        "evaluate",
        "train_lifter",
    } <= stages
    s1 = next(r for r in runs if r.data.tags.get("dvc.stage") == "train_stage1")
    assert s1.data.params["encoder_init"].endswith("pretrain2d/backbone.pt")
    assert all(r.data.tags.get("lbi.synthetic") == "true" for r in runs)

    # nothing to do the second time
    out2 = _run(["dvc", "repro"], repo, env)
    assert "Running stage" not in out2

    # changing prune.retention reruns prune -> train_stage2 -> evaluate -> report only
    p = yaml.safe_load((repo / "params.yaml").read_text())
    p["prune"]["retention"] = 0.5
    (repo / "params.yaml").write_text(yaml.safe_dump(p, sort_keys=False))
    out3 = _run(["dvc", "repro"], repo, env)
    ran3 = set(re.findall(r"Running stage '([^']+)'", out3))
    assert ran3 == {
        f"{s}@{src}" for s in ("prune", "train_stage2", "evaluate") for src in ("gt", "sh")
    } | {"report"}

    metrics_md = _run(["dvc", "metrics", "diff", "--md", "HEAD"], repo, env)
    assert "test_refined_p1_mm" in metrics_md
    assert (repo / "reports" / "README.md").exists()

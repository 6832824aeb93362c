"""The MLflow UI as a user sees it, in headless Chromium (slow): a tiny pipeline-like
store logged through :mod:`lbi.tracking`, served by ``mlflow server`` on a free localhost
port; screenshots of the experiment's landing page (its runs table), one evaluation run
and the compare view of the three models' evaluation runs.

Run: ``pytest -m slow tests/test_mlflow_ui.py``; set ``LBI_UI_SHOTS=<folder>`` to keep
the PNGs (else they live in pytest's tmp folder). Needs ``chromium`` (``apt-get install
chromium``); skipped without it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from lbi.record import RunRecord
from lbi.tracking import stage_run

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
METRICS = ("p1_mm", "p2_mm")  # in-domain
CROSS = ("mpjpe_mm", "pck150_pct", "auc_pct")


def _record(mode: str, metrics: dict[str, float], epochs: dict[str, int]) -> RunRecord:
    return RunRecord(
        key=f"{mode:0<16}"[:16], sweep="pipeline", table="pipeline", row=mode, column="gt",
        cell=mode, mode=mode, seed=0, source_2d="gt", epochs=epochs,
        params={"prune": {"retention": 0.3}} if mode != "lifter" else {"lifter": {"x": 1}},
        overrides={}, metrics=metrics, git_commit="", code_fingerprint="c" * 16,
        data_fingerprint="d" * 16, dataset="toy", synthetic=True, numerics="native",
    )  # fmt: skip


def make_store(root: Path) -> None:
    """Stage runs of one tiny pipeline: two training curves and the evaluate stage's three
    model runs (LBI refined, LBI coarse, lifter)."""
    (root / "params.yaml").write_text("prune:\n  retention: 0.3\n")
    for stage, base in (("train_stage1", 120.0), ("train_lifter", 140.0)):
        with stage_run(stage, dataset="toy", synthetic=True, source="gt",
                       params={"train": {"epochs": 4}}, run_name=f"{stage}@gt") as mlf:  # fmt: skip
            for e in range(1, 5):
                mlf.log_metrics({"val_test_mpjpe_mm": base - 8 * e}, step=e)
    lbi = {f"test_{m}_{k}": v for m, v in (("refined", 70.0), ("coarse", 75.0)) for k in METRICS}
    lbi |= {f"cross_{m}_{k}": v for m, v in (("refined", 95.0), ("coarse", 97.0)) for k in CROSS}
    lbi["test_stage1_bg_attention_pct"] = 40.0
    lif = {f"test_lifter_{k}": 100.0 for k in METRICS} | {f"cross_lifter_{k}": 101.0 for k in CROSS}
    with stage_run("evaluate", dataset="toy", synthetic=True, source="gt",
                   run_name="evaluate@gt") as mlf:  # fmt: skip
        mlf.log_evaluations([_record("progressive", lbi, {"stage1": 2, "stage2": 2}),
                             _record("lifter", lif, {"lifter": 4})])  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _chromium(url: str, *args: str, height: int = 1000) -> str:
    cmd = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--window-size=1600,{height}", "--virtual-time-budget=20000", *args, url]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True).stdout


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    make_store(tmp_path)
    port = _free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # as `make mlflow-ui`
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine starts it slowly
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        f"mlflow server did not start: {(tmp_path / 'server.log').read_text()}"
                    )
                time.sleep(1)
        yield url, uri
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)")
def test_ui_opens_runs_table_and_compares_the_models(server, tmp_path):
    from mlflow.tracking import MlflowClient

    url, uri = server
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("lbi-pipeline")
    runs = client.search_runs([exp.experiment_id])
    evals = [r for r in runs if "lbi.model" in r.data.tags]
    assert len(evals) == 3
    shots = Path(os.environ.get("LBI_UI_SHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    # MLflow 3.17's UI takes its mode from a per-browser switch (GenAI by default), not from
    # the experiment's kind: the link we give (Makefile mlflow-ui) names the mode
    mode = "workflowType=machine_learning"
    ids = json.dumps([r.info.run_id for r in evals])
    exps = json.dumps([exp.experiment_id])
    pages = {
        "runs_table": f"{url}/#/experiments/{exp.experiment_id}?{mode}",  # where the UI lands
        "run": f"{url}/#/experiments/{exp.experiment_id}/runs/{evals[0].info.run_id}?{mode}",
        "compare": f"{url}/#/compare-runs?runs={urllib.parse.quote(ids)}"
        f"&experiments={urllib.parse.quote(exps)}&{mode}",
    }
    dom = {}
    for name, page in pages.items():
        png = shots / f"{name}.png"
        _chromium(page, f"--screenshot={png}", height=2600 if name == "compare" else 1000)
        assert png.stat().st_size > 10_000, f"{png}: blank page?"
        dom[name] = _chromium(page, "--dump-dom")
        (shots / f"{name}.html").write_text(dom[name])
    table = dom["runs_table"]
    for r in runs:  # nested runs are collapsed under their parents; the parents show
        if r.data.tags.get("mlflow.parentRunId") is None:
            assert r.info.run_name in table
    assert "Detect Issues" not in table and "Observability" not in table  # GenAI's pages
    assert "matching runs" in table and "The <code>dvc repro</code> pipeline" in table
    run_page = dom["run"]
    assert evals[0].info.run_name in run_page and "test_p1_mm" in run_page
    compare = dom["compare"]
    for r in evals:
        assert r.info.run_name in compare
    for m in ("test_p1_mm", "cross_mpjpe_mm", "cross_pck150_pct"):
        assert m in compare

from __future__ import annotations

import socket

import pytest

from lbi.tracking import check_tracking, stage_run


def test_unreachable_server_fails_fast():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port} is not reachable"):
        check_tracking(f"http://127.0.0.1:{port}", timeout_s=1.0)


def test_missing_sqlite_folder():
    with pytest.raises(ConnectionError, match="does not exist"):
        check_tracking("sqlite:////nonexistent-folder-xyz/mlflow.db")


def test_stage_runs_nest_under_one_pipeline_run(tmp_path, monkeypatch):
    import mlflow
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("a: 1\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with stage_run(
        "train_stage1", dataset="embedded_lab", synthetic=True, source="gt", params={"x": {"y": 1}}
    ) as mlf:
        mlf.log_metric("m", 1.0)
    with stage_run("evaluate", dataset="embedded_lab", synthetic=True, source="gt"):
        pass
    client = MlflowClient()
    exp = client.get_experiment_by_name("lbi-pipeline")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "lbi.pipeline_key" in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and len(children) == 2
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    child = next(r for r in children if r.data.tags["dvc.stage"] == "train_stage1")
    assert child.data.tags["lbi.synthetic"] == "true"
    assert child.data.tags["lbi.source_2d"] == "gt"
    assert child.data.params["x.y"] == "1"
    assert mlflow.active_run() is None

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
    with stage_run("preprocess", dataset="h36m", synthetic=False):
        pass
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
    assert len(parents) == 1 and len(children) == 3
    # a synthetic stage marks its pipeline run synthetic (search tags.lbi.synthetic finds it)
    assert client.get_run(parents[0].info.run_id).data.tags["lbi.synthetic"] == "true"
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    child = next(r for r in children if r.data.tags["dvc.stage"] == "train_stage1")
    assert child.data.tags["lbi.synthetic"] == "true"
    assert child.data.tags["lbi.source_2d"] == "gt"
    assert child.data.params["x.y"] == "1"
    assert mlflow.active_run() is None


@pytest.fixture(scope="module")
def tiny_pipeline(tmp_path_factory):
    """The pipeline's stages on the tiny stores (tests.test_stages.tiny_setup), tracked in
    a fresh SQLite store, run from the tiny repo's folder (where params.yaml is)."""
    import os

    from lbi import stages
    from lbi.experiment import StagePaths
    from lbi.params import load_params
    from tests.test_stages import tiny_setup

    root = tmp_path_factory.mktemp("tracked")
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    mp.setenv("DVC_EXP_NAME", "tiny-exp")
    try:
        p = load_params(tiny_setup(root))
        paths = StagePaths.from_params(p.paths)
        stages.train_stage1(p, "gt", paths)
        stages.prune(p, "gt", paths)
        stages.train_stage2(p, "gt", paths)
        stages.train_lifter(p, "gt", paths)
        out = stages.evaluate(p, "gt", paths)
        uri = os.environ["MLFLOW_TRACKING_URI"]
    finally:
        mp.undo()
    return {"root": root, "uri": uri, "params": p, "paths": paths, "out": out}


def _runs(uri: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("lbi-pipeline")
    return client, exp, client.search_runs([exp.experiment_id], max_results=1000)


def test_experiment_opens_as_model_training_with_a_description(tiny_pipeline):
    _, exp, _ = _runs(tiny_pipeline["uri"])
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "lbi.model" in exp.tags["mlflow.note.content"]


def test_one_evaluation_run_per_model_with_the_same_metric_names(tiny_pipeline):
    """LBI refined, LBI coarse and the lifter: one run each beside the stage runs, the same
    metric keys (values = metrics/gt.json's), their params and record tags."""
    import json

    _, _, runs = _runs(tiny_pipeline["uri"])
    (ev,) = [r for r in runs if r.info.run_name == "evaluate@gt"]
    evals = {r.data.tags["lbi.model"]: r for r in runs if "lbi.model" in r.data.tags}
    assert {r.data.tags["mlflow.parentRunId"] for r in evals.values()} == {
        ev.data.tags["mlflow.parentRunId"]
    }  # the pipeline run
    assert set(evals) == {"lbi_refined", "lbi_coarse", "lifter"}
    keys = {k: set(r.data.metrics) for k, r in evals.items()}
    assert keys["lbi_refined"] == keys["lbi_coarse"] == keys["lifter"]
    assert {"test_p1_mm", "test_p2_mm", "cross_mpjpe_mm", "cross_pck150_pct",
            "cross_auc_pct"} <= keys["lifter"]  # fmt: skip
    flat = json.loads((tiny_pipeline["paths"].metrics / "gt.json").read_text())
    assert evals["lifter"].data.metrics["cross_mpjpe_mm"] == flat["cross_lifter_mpjpe_mm"]
    assert evals["lbi_coarse"].data.metrics["test_p1_mm"] == flat["test_coarse_p1_mm"]
    p = tiny_pipeline["params"]
    for kind, r in evals.items():
        t = r.data.tags
        assert (t["lbi.source_2d"], t["lbi.seed"], t["dvc.stage"]) == ("gt", "0", "evaluate")
        assert r.info.status == "FINISHED"
        assert t["lbi.mode"] == ("lifter" if kind == "lifter" else "progressive")
    assert evals["lifter"].data.tags["lbi.epochs"] == str(p.lifter.train.epochs)
    assert evals["lbi_refined"].data.tags["lbi.epochs"] == str(
        p.train_stage1.epochs + p.train_stage2.epochs
    )
    assert evals["lbi_refined"].data.params["prune.retention"] == str(p.prune.retention)
    assert "prune.retention" not in evals["lifter"].data.params
    assert {i.dataset.name.split(" ")[0] for i in evals["lifter"].inputs.dataset_inputs} == {
        "toy/test", "toyx/test"
    }  # fmt: skip
    assert "lifter.model.lifter_dim" in evals["lifter"].data.params
    # the stage run keeps what belongs to no model (stage-1 attention), not the models' keys
    assert "test_stage1_bg_attention_pct" in ev.data.metrics
    assert not any("refined" in k or "lifter" in k for k in ev.data.metrics)


def test_training_runs_log_the_params_that_apply_and_stage2_continues(tiny_pipeline):
    client, _, runs = _runs(tiny_pipeline["uri"])
    by = {r.info.run_name: r for r in runs}
    lifter, s1, s2 = by["train_lifter@gt"], by["train_stage1@gt"], by["train_stage2@gt"]
    assert "model.backbone" not in lifter.data.params
    assert "model.input_hw" not in lifter.data.params
    assert lifter.data.params["model.lifter_dim"] == "32"
    assert s2.data.params["model.backbone"] == s1.data.params["model.backbone"]
    assert "prune.retention" in s2.data.params and "model.retention" not in s1.data.params
    e1 = tiny_pipeline["params"].train_stage1.epochs
    steps = [m.step for m in client.get_metric_history(s2.info.run_id, "val_test_mpjpe_mm")]
    assert steps == [e1 + 1, e1 + 2]
    (inp,) = s1.inputs.dataset_inputs
    assert inp.dataset.name.startswith("toy/train") and inp.tags[0].value == "training"


def test_pipeline_run_is_named_tagged_and_holds_params_and_headlines(tiny_pipeline):
    client, _, runs = _runs(tiny_pipeline["uri"])
    (parent,) = [r for r in runs if "lbi.pipeline_key" in r.data.tags]
    assert parent.info.run_name.endswith(" tiny-exp")
    t = parent.data.tags
    assert t["dvc.exp_name"] == "tiny-exp" and t["lbi.kind"] == "pipeline"
    assert "lbi.source_2d" not in t and "lbi.dataset" not in t and t["lbi.synthetic"] == "true"
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "params.yaml" in arts
    assert parent.data.params["prune.retention"] == "0.3"
    out = tiny_pipeline["out"]
    assert parent.data.metrics["gt/test_refined_p1_mm"] == out["progressive"]["test_refined_p1_mm"]
    assert parent.data.metrics["gt/cross_lifter_mpjpe_mm"] == out["lifter"]["cross_lifter_mpjpe_mm"]


def test_logged_model_has_a_signature_and_loads_back(tiny_pipeline):
    import mlflow
    import mlflow.pytorch
    import torch

    from lbi.train import load_model

    client, exp, runs = _runs(tiny_pipeline["uri"])
    (s2,) = [r for r in runs if r.info.run_name == "train_stage2@gt"]
    mlflow.set_tracking_uri(tiny_pipeline["uri"])
    models = client.search_logged_models([exp.experiment_id])
    (m,) = [m for m in models if m.source_run_id == s2.info.run_id]
    info = mlflow.models.get_model_info(m.model_uri)
    names = [s.name for s in info.signature.inputs.inputs]
    assert names == ["image", "pose2d"] and info.signature.outputs is not None
    model = mlflow.pytorch.load_model(m.model_uri)
    ref, _ = load_model(tiny_pipeline["paths"].model("stage2", "gt"))
    x = torch.zeros(2, 3, 32, 24, dtype=torch.uint8), torch.zeros(2, 17, 2)
    with torch.no_grad():
        assert torch.equal(model.eval()(*x)["refined"], ref.eval()(*x)["refined"])
    (lifter,) = [r for r in runs if r.info.run_name == "train_lifter@gt"]
    (lm,) = [m for m in models if m.source_run_id == lifter.info.run_id]
    lsig = mlflow.models.get_model_info(lm.model_uri).signature
    assert [s.name for s in lsig.inputs.inputs] == ["pose2d"]


def test_copied_repository_keeps_its_logged_models(tmp_path, monkeypatch):
    """A model logged with its signature loads back from a copy of the repo (its artifact
    location is rewritten like the runs', lbi.tracking.store._relocate_artifacts)."""
    import shutil

    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow.tracking import MlflowClient

    from lbi.model import ModelConfig, build_model

    a, b = tmp_path / "a", tmp_path / "b"
    model = build_model(ModelConfig(arch="lifter_mlp", lifter_dim=8, lifter_layers=1)).eval()
    x = torch.zeros(2, 17, 2)
    example = {"inputs": {"pose2d": x.numpy()}, "output": np.zeros((2, 17, 3), np.float32)}
    for root in (a, b):
        (root).mkdir(exist_ok=True)
        (root / "params.yaml").write_text("a: 1\n")
    monkeypatch.chdir(a)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{a / 'mlflow.db'}")
    with stage_run("train_lifter", dataset="toy", synthetic=True, source="gt") as mlf:
        mlf.log_model(model, example, name="lifter")
    shutil.rmtree(b)
    shutil.copytree(a, b)
    shutil.rmtree(a)
    monkeypatch.chdir(b)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{b / 'mlflow.db'}")
    with stage_run("evaluate", dataset="toy", synthetic=True, source="gt"):
        pass  # setup_mlflow notices the move
    client = MlflowClient()
    exp = client.get_experiment_by_name("lbi-pipeline")
    (m,) = client.search_logged_models([exp.experiment_id])
    assert m.artifact_location.startswith(str(b / "mlartifacts"))
    back = mlflow.pytorch.load_model(m.model_uri)
    with torch.no_grad():
        assert torch.equal(back.eval()(None, x)["coarse"], model(None, x)["coarse"])


def test_report_goes_to_the_pipeline_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from lbi.tracking import log_report

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("a: 1\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    gen = tmp_path / "reports" / "generated"
    gen.mkdir(parents=True)
    (gen / "table2.md").write_text("| a |\n")
    (tmp_path / "reports" / "README.md").write_text("# report\n")
    log_report(tmp_path / "reports" / "README.md", gen, synthetic=False)
    client = MlflowClient()
    exp = client.get_experiment_by_name("lbi-pipeline")
    (run,) = client.search_runs([exp.experiment_id])
    assert "lbi.pipeline_key" in run.data.tags and run.info.status == "FINISHED"
    assert run.data.tags["lbi.synthetic"] == "false"
    log_report(tmp_path / "reports" / "README.md", gen, synthetic=True)  # a report-only rerun
    (run,) = client.search_runs([exp.experiment_id])  # the same pipeline run, now tagged true
    assert run.data.tags["lbi.synthetic"] == "true"
    got = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert got == {"report/README.md", "report/generated"}
    assert [a.path for a in client.list_artifacts(run.info.run_id, "report/generated")] == [
        "report/generated/table2.md"
    ]


def test_pipeline_run_name_says_what_changed(tmp_path, monkeypatch):
    """Without DVC_EXP_NAME: the params that differ from the committed params.yaml."""
    import subprocess

    from lbi.tracking import pipeline_run_name

    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "params.yaml").write_text("prune:\n  retention: 0.3\n")
    subprocess.run([*git, "add", "params.yaml"], check=True)
    subprocess.run([*git, "commit", "-qm", "p"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    assert pipeline_run_name(tmp_path) == f"{sha[:7]} default"
    (tmp_path / "params.yaml").write_text("prune:\n  retention: 0.1\n")
    assert pipeline_run_name(tmp_path) == f"{sha[:7]}+dirty prune.retention=0.1"
    monkeypatch.setenv("DVC_EXP_NAME", "lucid-rams")
    assert pipeline_run_name(tmp_path) == f"{sha[:7]}+dirty lucid-rams"

"""The stage CLIs' argument and artefact handling: clear one-line errors, exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _params(tmp_path: Path, **overrides: dict) -> Path:
    p = yaml.safe_load((ROOT / "params.yaml").read_text())  # paths: under cwd=tmp_path
    for sec, vals in overrides.items():
        p[sec].update(vals)
    f = tmp_path / "params.yaml"
    f.write_text(yaml.safe_dump(p))
    return f


def _stage(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "MLFLOW_TRACKING_URI": f"sqlite:///{cwd / 'mlflow.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", f"pipeline.{name}", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_unknown_params_key_names_file_and_key(tmp_path):
    f = _params(tmp_path, prune={"rr": 0.2})
    r = _stage("prune", "--params", str(f), "--source", "gt", cwd=tmp_path)
    assert r.returncode == 1
    assert f"{f}: unknown key(s) ['prune.rr']" in r.stderr
    assert "Traceback" not in r.stderr


def test_source_must_be_known_and_produced(tmp_path):
    f = _params(tmp_path, data={"sources": ["gt", "cpn"], "train_sources": ["gt"]})
    r = _stage("train_stage1", "--params", str(f), "--source", "sh", cwd=tmp_path)
    assert r.returncode == 2 and "is not in data.sources" in r.stderr
    r = _stage("train_stage1", "--params", str(f), "--source", "xyz", cwd=tmp_path)
    assert r.returncode == 2 and "invalid choice" in r.stderr


@pytest.mark.parametrize(
    ("stage", "missing"),
    [
        ("detect2d", "meta.json: missing"),
        ("train_stage1", "backbone.pt not found: run `dvc repro pretrain2d`"),
        ("train_stage2", "stage1.pt: missing; run `dvc repro train_stage1@gt`"),
        ("evaluate", "stage2.pt: checkpoint not found"),
    ],
)
def test_missing_upstream_artefact_is_named(tmp_path, stage, missing):
    f = _params(tmp_path)
    r = _stage(stage, "--params", str(f), "--source", "gt", cwd=tmp_path)
    assert r.returncode == 1, r.stderr[-2000:]
    assert missing in r.stderr
    assert "Traceback" not in r.stderr


def test_foreign_checkpoint_is_refused(tmp_path):
    f = _params(tmp_path)
    bad = tmp_path / "data" / "models" / "gt" / "stage2.pt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    r = _stage("evaluate", "--params", str(f), "--source", "gt", cwd=tmp_path)
    assert r.returncode == 1
    assert f"{Path('data/models/gt/stage2.pt')}" in r.stderr or str(bad) in r.stderr
    assert "cannot load checkpoint" in r.stderr
    assert "Traceback" not in r.stderr


def test_pretrain2d_disabled_records_the_given_weights(tmp_path):
    import json

    f = _params(tmp_path, pretrain2d={"enabled": False}, model={"pretrained": "w32.pth"})
    r = _stage("pretrain2d", "--params", str(f), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    rec = json.loads((tmp_path / "data" / "models" / "pretrain2d" / "backbone.json").read_text())
    assert rec == {"enabled": False, "pretrained": "w32.pth"}
    assert (tmp_path / "data" / "store" / "pose2d").is_dir()
    f = _params(tmp_path, model={"pretrained": "w32.pth"})  # both: one clear error
    r = _stage("pretrain2d", "--params", str(f), cwd=tmp_path)
    assert (
        r.returncode == 1 and "pretrain2d.enabled is true and model.pretrained is set" in r.stderr
    )
    assert "Traceback" not in r.stderr


def test_pretrain2d_never_empties_a_folder_it_did_not_write(tmp_path):
    """Issue 17: paths.store_pose2d pointing at a folder with other files is an error
    naming it (nothing deleted); the stage's own files of an earlier run are replaced."""
    import json

    from lbi.data.pose2d_set import POSE2D_DATASET

    f = _params(tmp_path, pretrain2d={"enabled": False})
    store = tmp_path / "data" / "store" / "pose2d"
    store.mkdir(parents=True)
    (store / "thesis.tex").write_text("precious")
    r = _stage("pretrain2d", "--params", str(f), cwd=tmp_path)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    rel = Path("data/store/pose2d")
    assert f"paths.store_pose2d = {rel} holds files the pretrain2d stage did not write" in r.stderr
    assert (store / "thesis.tex").read_text() == "precious"
    (store / "thesis.tex").unlink()
    (store / "meta.json").write_text(
        json.dumps({"dataset": POSE2D_DATASET, "splits": {"train": 4}})
    )
    (store / "train.npz").write_bytes(b"old")
    r = _stage("pretrain2d", "--params", str(f), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert store.is_dir() and not any(store.iterdir())

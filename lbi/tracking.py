"""MLflow tracking: one run per DVC stage, nested under one pipeline run.

- Tracking URI: ``MLFLOW_TRACKING_URI`` if set (e.g. a team server), else a SQLite store
  in the repository (``sqlite:///<repo>/mlflow.db``; MLflow refuses the old ``./mlruns``
  file store). :func:`check_tracking` fails at start, not after an hour of training,
  when a server is unreachable.
- Pipeline run: stages of one ``dvc repro`` share a parent run found by a key made of the
  git commit and the hash of ``params.yaml``; a stage that reruns after a params change
  lands under a new parent with that change's key.
- Every run is tagged with dataset, ``synthetic`` (true for the embedded benchmark),
  2D source, git commit, DVC stage name and the hash of ``dvc.lock`` at start.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PIPELINE_EXPERIMENT = "lbi-pipeline"


def repo_root() -> Path:
    """The folder holding ``params.yaml`` (cwd when DVC runs a stage)."""
    return Path.cwd()


def tracking_uri(root: Path | None = None) -> str:
    """``MLFLOW_TRACKING_URI`` or ``sqlite:///<root>/mlflow.db``."""
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    root = (root or repo_root()).resolve()
    return f"sqlite:///{root / 'mlflow.db'}"


def check_tracking(uri: str, timeout_s: float = 5.0) -> None:
    """Fail fast with a clear message if the tracking store cannot be reached."""
    if uri.startswith(("http://", "https://")):
        url = uri.rstrip("/") + "/health"
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as r:
                if r.status != 200:
                    raise ConnectionError(f"status {r.status}")
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
            raise ConnectionError(
                f"MLflow tracking server {uri} is not reachable ({e}); start it, fix "
                "MLFLOW_TRACKING_URI, or unset it to use the local SQLite store"
            ) from e
    elif uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///") :])
        if not db.parent.exists():
            raise ConnectionError(f"MLflow SQLite store {db}: folder {db.parent} does not exist")
        if not os.access(db.parent, os.W_OK):
            raise ConnectionError(f"MLflow SQLite store {db}: folder {db.parent} is not writable")


# Committed files that `dvc repro` itself rewrites (default `paths`): they do not make the
# tree "dirty", or every stage after the first, and the report, would say so.
PIPELINE_FILES = ("dvc.lock", "metrics", "plots", "reports")


def git_commit(root: Path | None = None) -> str:
    """Current git commit (``+dirty`` if tracked files other than the pipeline's own
    outputs, :data:`PIPELINE_FILES`, have changes), or ``unknown``."""
    root = root or repo_root()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."]
            + [f":(exclude){p}" for p in PIPELINE_FILES],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def file_md5(path: Path) -> str:
    """md5 of a file's bytes, or ``none`` if it does not exist."""
    return hashlib.md5(path.read_bytes()).hexdigest() if path.exists() else "none"


def setup_mlflow(experiment: str, uri: str | None = None) -> str:
    """Point MLflow at ``uri``, check it, create ``experiment`` if needed; return its id.

    Call in the driver before starting concurrent trials: concurrent first use of a
    fresh SQLite store races.
    """
    import mlflow

    uri = uri or tracking_uri()
    check_tracking(uri)
    mlflow.set_tracking_uri(uri)
    exp = mlflow.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp is not None else mlflow.create_experiment(experiment)
    mlflow.set_experiment(experiment)
    return exp_id


def base_tags(*, dataset: str, synthetic: bool, source: str | None, stage: str) -> dict[str, str]:
    """Tags every run carries."""
    root = repo_root()
    tags = {
        "lbi.dataset": dataset,
        "lbi.synthetic": str(bool(synthetic)).lower(),
        "lbi.git_commit": git_commit(root),
        "dvc.stage": stage,
        "dvc.lock_md5": file_md5(root / "dvc.lock"),
        "dvc.params_md5": file_md5(root / "params.yaml"),
    }
    if source is not None:
        tags["lbi.source_2d"] = source
    if synthetic:
        tags["mlflow.note.content"] = (
            "SYNTHETIC: embedded mini benchmark rendered from mocap, not Human3.6M/3DHP."
        )
    return tags


def _pipeline_parent(client: Any, exp_id: str, key: str, tags: dict[str, str]) -> str:
    runs = client.search_runs(
        [exp_id], filter_string=f"tags.`lbi.pipeline_key` = '{key}'", max_results=1
    )
    if runs:
        return runs[0].info.run_id
    run = client.create_run(
        exp_id, tags={**tags, "lbi.pipeline_key": key, "mlflow.runName": f"pipeline-{key[:8]}"}
    )
    return run.info.run_id


@contextmanager
def stage_run(
    stage: str,
    *,
    dataset: str,
    synthetic: bool,
    source: str | None = None,
    params: dict[str, Any] | None = None,
    experiment: str = PIPELINE_EXPERIMENT,
    run_name: str | None = None,
) -> Iterator[Any]:
    """An MLflow run for one DVC stage, nested under the pipeline run; yields ``mlflow``."""
    import mlflow
    from mlflow.tracking import MlflowClient

    exp_id = setup_mlflow(experiment)
    root = repo_root()
    key = hashlib.md5(f"{git_commit(root)}|{file_md5(root / 'params.yaml')}".encode()).hexdigest()
    tags = base_tags(dataset=dataset, synthetic=synthetic, source=source, stage=stage)
    parent = _pipeline_parent(
        MlflowClient(), exp_id, key, {k: v for k, v in tags.items() if k != "dvc.stage"}
    )
    with (
        mlflow.start_run(run_id=parent),
        mlflow.start_run(run_name=run_name or stage, nested=True, tags=tags),
    ):
        if params:
            mlflow.log_params(flatten(params))
        yield mlflow


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> dotted keys (MLflow params are flat)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v if not isinstance(v, list | tuple) else ",".join(map(str, v))
    return out

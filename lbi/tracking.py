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
- Never fatal mid-training: what :func:`stage_run` yields (:class:`RunLogger`) sends each
  call through :func:`call_with_retry`, which retries a locked or unreachable store a few
  times with backoff, then logs a warning and carries on (the metrics are in the
  checkpoints and ``plots/`` anyway). Starting a run still fails fast, before training.
- A stage killed mid-run leaves its run RUNNING; when the stage reruns, such runs of the
  same stage and source (from this host, whose process is gone) are marked KILLED, tagged
  ``lbi.rerun_by`` with the new run's id, and the new run carries
  ``lbi.replaces_killed_runs``.
- Artifacts of the SQLite store live beside it, in ``mlartifacts/<experiment>``. MLflow
  records that location as an absolute path; :func:`setup_mlflow` notices when the store
  was copied or moved (tag ``lbi.artifact_root`` differs from ``<db folder>/mlartifacts``)
  and rewrites the locations, so a copied repository keeps its artifacts. With
  ``MLFLOW_TRACKING_URI`` set, the server or that store decides where artifacts go.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PIPELINE_EXPERIMENT = "lbi-pipeline"
ARTIFACTS_DIR = "mlartifacts"  # beside a SQLite store
RETRY_ATTEMPTS = 4  # tries of one tracking call
RETRY_DELAY_S = 0.5  # before the 2nd try; doubles each time (SQLite also waits 5 s per try)


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


def _transient_errors() -> tuple[type[BaseException], ...]:
    """What a tracking call raises when the store is locked, busy or unreachable."""
    from mlflow.exceptions import MlflowException

    errors: list[type[BaseException]] = [MlflowException, OSError, sqlite3.Error]
    try:
        import sqlalchemy.exc

        errors.append(sqlalchemy.exc.SQLAlchemyError)
    except ImportError:  # pragma: no cover - mlflow's SQL store needs it
        pass
    return tuple(errors)


def call_with_retry(
    fn: Callable[..., Any],
    *args: Any,
    what: str = "",
    fatal: bool = False,
    attempts: int | None = None,
    delay_s: float | None = None,
    **kwargs: Any,
) -> Any:
    """``fn(*args, **kwargs)``, retried when the tracking store is locked or unreachable.

    After ``attempts`` tries (default :data:`RETRY_ATTEMPTS`, waiting ``delay_s`` doubling
    in between) it logs one warning and returns None, or re-raises if ``fatal``.
    Programming errors (``TypeError``...) are not retried.
    """
    attempts = RETRY_ATTEMPTS if attempts is None else attempts
    delay_s = RETRY_DELAY_S if delay_s is None else delay_s
    transient = _transient_errors()
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except transient as e:
            if i + 1 < attempts:
                time.sleep(delay_s * 2**i)
                continue
            if fatal:
                raise
            first = str(e).splitlines()[0] if str(e) else ""
            log.warning(
                "MLflow %s failed %d times (%s: %s); continuing without it (metrics are in "
                "the checkpoints and plots)",
                what or getattr(fn, "__name__", "call"), attempts, type(e).__name__, first,
            )  # fmt: skip
    return None


class RunLogger:
    """One MLflow run (what :func:`stage_run` yields): ``log_metrics`` etc. with the
    ``mlflow`` module's signatures, each through :func:`call_with_retry` (never raises
    for a locked or unreachable store)."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client, self.run_id = client, run_id

    def _call(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return call_with_retry(fn, self.run_id, *args, what=what, **kwargs)

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        self._call("log_metrics", self.client.log_batch, metrics=batch)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        self.log_metrics({key: value}, step=step)

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        batch = [Param(k, str(v)) for k, v in params.items()]
        self._call("log_params", self.client.log_batch, params=batch)

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        batch = [RunTag(k, str(v)) for k, v in tags.items()]
        self._call("set_tags", self.client.log_batch, tags=batch)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def log_artifact(self, local_path: str, artifact_path: str | None = None) -> None:
        self._call("log_artifact", self.client.log_artifact, local_path, artifact_path)

    def log_dict(self, dictionary: dict[str, Any], artifact_file: str) -> None:
        self._call("log_dict", self.client.log_dict, dictionary, artifact_file)


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def _relocate_artifacts(db: Path, exp: Any) -> None:
    """Rewrite the absolute artifact locations of ``exp`` after its store was moved/copied."""
    old = exp.tags.get("lbi.artifact_root")
    new = str(db.resolve().parent / ARTIFACTS_DIR)
    if old is None or old == new:
        return
    try:
        with sqlite3.connect(db, timeout=10) as con:
            n = len(old) + 1
            for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri")):
                con.execute(
                    f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                    f"WHERE experiment_id = ? AND substr({column}, 1, ?) = ?",
                    (new, n, int(exp.experiment_id), n - 1, old),
                )
            con.execute(
                "UPDATE experiment_tags SET value = ? WHERE experiment_id = ? AND key = ?",
                (new, int(exp.experiment_id), "lbi.artifact_root"),
            )
    except sqlite3.Error as e:
        log.warning("%s: could not relocate artifacts from %s to %s (%s)", db, old, new, e)
        return
    log.info("%s: artifacts of experiment %s relocated from %s to %s", db, exp.name, old, new)


def setup_mlflow(experiment: str, uri: str | None = None) -> str:
    """Point MLflow at ``uri``, check it, create ``experiment`` if needed; return its id.

    With a SQLite store, artifacts go to ``<db folder>/mlartifacts/<experiment>``, and a
    store that was copied or moved gets its artifact locations rewritten (module doc).
    Call in the driver before starting concurrent trials: concurrent first use of a
    fresh SQLite store races.
    """
    import mlflow

    uri = uri or tracking_uri()
    check_tracking(uri)
    mlflow.set_tracking_uri(uri)
    db = _sqlite_path(uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is not None:
        if db is not None:
            _relocate_artifacts(db, exp)
        exp_id = exp.experiment_id
    elif db is not None:
        root = db.resolve().parent / ARTIFACTS_DIR
        exp_id = mlflow.create_experiment(
            experiment,
            artifact_location=str(root / experiment.replace("/", "_")),
            tags={"lbi.artifact_root": str(root)},
        )
    else:
        exp_id = mlflow.create_experiment(experiment)
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


def _alive_here(tags: dict[str, str]) -> bool:
    """Whether the process that started a run (tags ``lbi.host``/``lbi.pid``) still runs
    here; True for another host's run (it cannot be checked from here)."""
    host, pid = tags.get("lbi.host"), tags.get("lbi.pid")
    if host is None or pid is None:
        return False  # a run from before these tags: its stage was killed
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def mark_killed_runs(client: Any, exp_id: str, stage: str, source: str | None) -> list[str]:
    """Mark RUNNING runs of ``stage`` (and ``source``) whose process is gone as KILLED.

    Returns their ids, newest first. Runs of a live process, or of another host, are left.
    """
    flt = f"tags.`dvc.stage` = '{stage}' and attributes.status = 'RUNNING'"
    if source is not None:
        flt += f" and tags.`lbi.source_2d` = '{source}'"
    runs = client.search_runs(
        [exp_id], filter_string=flt, max_results=100, order_by=["attributes.start_time DESC"]
    )
    killed = []
    for r in runs:
        if not _alive_here(r.data.tags):
            client.set_terminated(r.info.run_id, "KILLED")
            killed.append(r.info.run_id)
    return killed


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
) -> Iterator[RunLogger]:
    """An MLflow run for one DVC stage, nested under the pipeline run; yields its
    :class:`RunLogger` (``log_metrics``, ``log_params``, ``log_artifact``, ``set_tag``...).

    Starting fails fast (before training) if the store cannot be reached; after that no
    tracking error is fatal. The run ends FINISHED, FAILED (an exception) or KILLED
    (Ctrl-C); a previous attempt killed outright is marked KILLED here (module doc).
    """
    from mlflow.tracking import MlflowClient
    from mlflow.tracking.context.registry import resolve_tags

    exp_id = setup_mlflow(experiment)
    client = MlflowClient()
    root = repo_root()
    key = hashlib.md5(f"{git_commit(root)}|{file_md5(root / 'params.yaml')}".encode()).hexdigest()
    tags = base_tags(dataset=dataset, synthetic=synthetic, source=source, stage=stage)
    parent = call_with_retry(
        _pipeline_parent, client, exp_id, key, {k: v for k, v in tags.items() if k != "dvc.stage"},
        what="pipeline run", fatal=True,
    )  # fmt: skip
    killed = call_with_retry(
        mark_killed_runs, client, exp_id, stage, source, what="marking killed runs"
    ) or []  # fmt: skip
    run_tags = {
        **tags,
        "mlflow.parentRunId": parent,
        "lbi.host": socket.gethostname(),
        "lbi.pid": str(os.getpid()),
    }
    if killed:
        run_tags["lbi.replaces_killed_runs"] = ",".join(killed)
    run = call_with_retry(
        client.create_run, exp_id, run_name=run_name or stage, tags=resolve_tags(run_tags),
        what="start run", fatal=True,
    )  # fmt: skip
    run_id = run.info.run_id
    for old in killed:
        call_with_retry(client.set_tag, old, "lbi.rerun_by", run_id, what="link killed run")
    logger = RunLogger(client, run_id)
    if params:
        logger.log_params(flatten(params))
    status = "FAILED"
    try:
        yield logger
        status = "FINISHED"
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        call_with_retry(client.set_terminated, run_id, status, what="end run")
        call_with_retry(client.set_terminated, parent, "FINISHED", what="end pipeline run")


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

"""The runs of a pipeline: the pipeline parent run (found by its key, created if needed),
the report logged to it, marking runs of killed stages KILLED, and :func:`stage_run`
(one run per DVC stage, nested under the pipeline run).

Part of :mod:`lbi.tracking` (the package docstring is the overview; "module doc" in a
docstring below means it).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lbi.tracking.logged import flatten, tag_value
from lbi.tracking.run_logger import RunLogger
from lbi.tracking.store import PIPELINE_EXPERIMENT, setup_mlflow
from lbi.tracking.tags import base_tags, pipeline_key, pipeline_run_name, pipeline_tags
from lbi.tracking.util import call_with_retry, repo_root


def _pipeline_parent(client: Any, exp_id: str, key: str, synthetic: bool = False) -> str:
    """The pipeline run of ``key``, created if needed; tagged ``lbi.synthetic`` true once a
    stage of it (``synthetic``: the calling stage's data) ran on synthetic data, else false."""
    runs = client.search_runs(
        [exp_id], filter_string=f"tags.`lbi.pipeline_key` = '{key}'", max_results=1
    )
    if runs:
        run_id = runs[0].info.run_id
        if synthetic and runs[0].data.tags.get("lbi.synthetic") != tag_value(True):
            client.set_tag(run_id, "lbi.synthetic", tag_value(True))
        return run_id
    root = repo_root()
    tags = {**pipeline_tags(root), "lbi.synthetic": tag_value(synthetic), "lbi.pipeline_key": key}
    run = client.create_run(exp_id, run_name=pipeline_run_name(root), tags=tags)
    run_id = run.info.run_id
    logger = RunLogger(client, run_id, exp_id)
    if (root / "params.yaml").is_file():
        import yaml

        logger.log_artifact(str(root / "params.yaml"))
        logger.log_params(flatten(yaml.safe_load((root / "params.yaml").read_text()) or {}))
    return run_id


def pipeline_run(experiment: str = PIPELINE_EXPERIMENT, synthetic: bool = False) -> RunLogger:
    """The current pipeline run (this commit and ``params.yaml``), created if needed; tagged
    ``lbi.synthetic`` true if ``synthetic`` (what the caller logs is of synthetic data)."""
    from mlflow.tracking import MlflowClient

    exp_id = setup_mlflow(experiment)
    client = MlflowClient()
    parent = call_with_retry(_pipeline_parent, client, exp_id, pipeline_key(), synthetic,
                             what="pipeline run", fatal=True)  # fmt: skip
    return RunLogger(client, parent, exp_id)


def log_report(readme: Path, generated: Path, synthetic: bool) -> None:
    """The report stage's output (README and ``generated/`` tables and figures) as
    artifacts ``report/`` of the pipeline run (tagged ``lbi.synthetic`` true if
    ``synthetic``: the report read synthetic data); never fatal."""
    logger = call_with_retry(pipeline_run, PIPELINE_EXPERIMENT, synthetic, what="pipeline run")
    if logger is None:
        return
    logger.log_artifact(str(readme), artifact_path="report")
    if generated.is_dir():
        logger._call("log_artifacts", logger.client.log_artifacts, str(generated),
                     "report/generated")  # fmt: skip
    call_with_retry(logger.client.set_terminated, logger.run_id, "FINISHED",
                    what="end pipeline run")  # fmt: skip


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
    tags = base_tags(dataset=dataset, synthetic=synthetic, source=source, stage=stage)
    parent = call_with_retry(_pipeline_parent, client, exp_id, pipeline_key(root), synthetic,
                             what="pipeline run", fatal=True)  # fmt: skip
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
    logger = RunLogger(client, run_id, exp_id, parent)
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

"""MLflow tracking: one run per DVC stage, nested under one pipeline run.

- Tracking URI: ``MLFLOW_TRACKING_URI`` if set (e.g. a team server), else a SQLite store
  in the repository (``sqlite:///<repo>/mlflow.db``; MLflow refuses the old ``./mlruns``
  file store). :func:`check_tracking` fails at start, not after an hour of training,
  when a server is unreachable.
- Experiments open on their runs table: tagged ``mlflow.experimentKind`` =
  ``custom_model_development`` (MLflow 3 otherwise may open the GenAI view), with a
  description (``mlflow.note.content``) of what they hold.
- Pipeline run: stages of one ``dvc repro`` share a parent run found by a key made of the
  git commit and the hash of ``params.yaml``; a stage that reruns after a params change
  lands under a new parent with that change's key. It is named by the short commit and
  ``DVC_EXP_NAME`` (or the params that differ from the committed ``params.yaml``), holds
  ``params.yaml`` (artifact and params), the headline metrics (``<source>/<metric>``) and,
  after the report stage, the report (:func:`log_report`).
- Evaluation: one run per evaluated model (LBI refined, LBI coarse, lifter) beside the
  stage runs, with the same metric names (``test_p1_mm``, ``cross_mpjpe_mm``...),
  the params of that model and its record's tags (:meth:`RunLogger.log_evaluations`), so
  selecting them compares the models side by side.
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
  and rewrites the locations (of runs and of logged models), so a copied repository keeps
  its artifacts. With
  ``MLFLOW_TRACKING_URI`` set, the server or that store decides where artifacts go.

Modules (each name is also importable from ``lbi.tracking``):

- :mod:`~lbi.tracking.util`: repository root, git commit, file md5, :func:`call_with_retry`.
- :mod:`~lbi.tracking.store`: tracking URI and health check, :func:`setup_mlflow`,
  experiment tags, :func:`ui_links`.
- :mod:`~lbi.tracking.tags`: :func:`base_tags`; the pipeline run's key, name and tags.
- :mod:`~lbi.tracking.run_logger`: :class:`RunLogger`.
- :mod:`~lbi.tracking.runs`: the pipeline run, :func:`log_report`, killed runs,
  :func:`stage_run`.
- :mod:`~lbi.tracking.logged`: what a run logs (:func:`flatten`, :func:`model_params`,
  :func:`model_metrics`, :func:`record_tags`, :func:`model_example`).

Code looks names up in the module that defines them: a test that patches one (e.g.
``RETRY_ATTEMPTS``) patches that module (``lbi.tracking.util``), not this package.
"""

from lbi.tracking.logged import (
    EVAL_MODELS,
    RECORD_TAGS,
    flatten,
    model_example,
    model_metrics,
    model_params,
    record_tags,
)
from lbi.tracking.run_logger import RunLogger
from lbi.tracking.runs import log_report, mark_killed_runs, pipeline_run, stage_run
from lbi.tracking.store import (
    ARTIFACTS_DIR,
    EXPERIMENT_KIND,
    PIPELINE_EXPERIMENT,
    UI_MODE,
    check_tracking,
    experiment_tags,
    setup_mlflow,
    tracking_uri,
    ui_links,
)
from lbi.tracking.tags import (
    base_tags,
    changed_params,
    pipeline_key,
    pipeline_run_name,
    pipeline_tags,
)
from lbi.tracking.util import PIPELINE_FILES, call_with_retry, file_md5, git_commit, repo_root

__all__ = [
    "ARTIFACTS_DIR",
    "EVAL_MODELS",
    "EXPERIMENT_KIND",
    "PIPELINE_EXPERIMENT",
    "PIPELINE_FILES",
    "RECORD_TAGS",
    "UI_MODE",
    "RunLogger",
    "base_tags",
    "call_with_retry",
    "changed_params",
    "check_tracking",
    "experiment_tags",
    "file_md5",
    "flatten",
    "git_commit",
    "log_report",
    "mark_killed_runs",
    "model_example",
    "model_metrics",
    "model_params",
    "pipeline_key",
    "pipeline_run",
    "pipeline_run_name",
    "pipeline_tags",
    "record_tags",
    "repo_root",
    "setup_mlflow",
    "stage_run",
    "tracking_uri",
    "ui_links",
]

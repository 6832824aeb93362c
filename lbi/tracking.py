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
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

PIPELINE_EXPERIMENT = "lbi-pipeline"
# MLflow 3's experiment kind: training runs table, not the GenAI (traces) view
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
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

    def __init__(self, client: Any, run_id: str, experiment_id: str | None = None,
                 parent_id: str | None = None) -> None:  # fmt: skip
        self.client, self.run_id = client, run_id
        self.experiment_id, self.parent_id = experiment_id, parent_id

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

    def child_run(self, name: str, tags: dict[str, str]) -> RunLogger | None:
        """A run nested under this one (None if the store failed)."""
        exp_id = self.experiment_id or self.client.get_run(self.run_id).info.experiment_id
        run = call_with_retry(
            self.client.create_run, exp_id, run_name=name,
            tags={**tags, "mlflow.parentRunId": self.run_id}, what="start run",
        )  # fmt: skip
        return None if run is None else RunLogger(self.client, run.info.run_id, exp_id, self.run_id)

    def end(self, status: str = "FINISHED") -> None:
        self._call("end run", self.client.set_terminated, status)

    def log_dataset(self, ds: Any, context: str) -> None:
        """``ds`` (a :class:`~lbi.data.dataset.PoseDataset`) as an input of this run: its
        store folder as source, name ``<dataset>/<split>``, digest of what it reads; no copy."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        name = f"{ds.store.dataset}/{ds.split}"
        if ds.detections_path is not None:
            name += f" ({ds.source_meta.get('detector', Path(ds.detections_path).stem)} 2D)"
        with warnings.catch_warnings():  # "can be interpreted in multiple ways": local files
            warnings.simplefilter("ignore", UserWarning)
            source = resolve_dataset_source(str(ds.store.root))
        data = MetaDataset(source, name=name, digest=ds.fingerprint()[:8])
        inp = DatasetInput(data._to_mlflow_entity(), [InputTag("mlflow.data.context", context)])
        self._call("log_input", self.client.log_inputs, datasets=[inp])

    def log_model(self, model: Any, example: dict[str, Any], name: str = "model") -> None:
        """``model`` with ``mlflow.pytorch.log_model`` (pickled: it is our own model class)
        and the signature of ``example`` (:func:`model_example`); never fatal."""
        import mlflow.pytorch
        import torch
        from mlflow.models import infer_signature

        inputs, output = example["inputs"], example["output"]
        sig = infer_signature(inputs, output)
        reqs = [f"torch=={torch.__version__.split('+')[0]}", f"mlflow=={mlflow.__version__}"]
        quiet = logging.getLogger("mlflow.pytorch")  # its pickle caution, once per model
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:  # one try (a model MLflow cannot save must not fail the stage, nor repeat)
            mlflow.pytorch.log_model(model, name=name, signature=sig, pip_requirements=reqs,
                                     serialization_format="pickle", run_id=self.run_id)  # fmt: skip
        except Exception as e:
            log.warning("MLflow log_model failed (%s: %s); the model file is the DVC output",
                        type(e).__name__, str(e).splitlines()[0] if str(e) else "")  # fmt: skip
        finally:
            quiet.setLevel(level)

    def log_evaluations(self, records: list[Any], datasets: tuple[Any, ...] = ()) -> None:
        """One run per evaluated model of ``records`` (:class:`~lbi.record.RunRecord`),
        nested under the pipeline run beside the stages (tag ``dvc.stage`` ``evaluate``):
        the same metric names for every model (:func:`model_metrics`), the model's params
        and its record as tags, ``datasets`` (the test sets) as its inputs. Metrics of no
        model (stage-1 attention) go to this run, the headline metrics to the pipeline run
        (``<source>/<metric>``)."""
        from lbi.record import SUMMARY_METRICS

        # beside the stage runs, under the pipeline run: one click from the runs table
        home = self if self.parent_id is None else RunLogger(
            self.client, self.parent_id, self.experiment_id)  # fmt: skip
        rest: dict[str, float] = {}
        commit = git_commit()  # a pipeline record carries none (it is a DVC output)
        for rec in records:
            claimed: set[str] = set()
            for kind, label, name in EVAL_MODELS[rec.mode]:
                m = model_metrics(rec.metrics, name)
                claimed |= {k for k in rec.metrics if _model_of(k) == name}
                budget = "+".join(f"{k} {v}" for k, v in rec.epochs.items())
                tags = {**record_tags(rec), "lbi.model": kind, "lbi.epochs": str(rec.epochs_total),
                        "lbi.budget": budget, "dvc.stage": "evaluate",
                        "lbi.git_commit": rec.git_commit or commit}  # fmt: skip
                run_name = f"{label} ({rec.source_2d}, seed {rec.seed}, {rec.epochs_total} ep)"
                child = home.child_run(run_name, tags)
                if child is None:
                    continue
                child.log_params(flatten({**rec.params, "epochs": rec.epochs}))
                child.log_metrics(m)
                for ds in datasets:
                    child.log_dataset(ds, "evaluation")
                child.end()
            rest.update({k: v for k, v in rec.metrics.items() if k not in claimed})
            if self.parent_id is not None:
                head = {f"{rec.source_2d}/{k}": rec.metrics[k] for k in SUMMARY_METRICS
                        if k in rec.metrics}  # fmt: skip
                RunLogger(self.client, self.parent_id).log_metrics(head)
        if rest:
            self.log_metrics(rest)


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
            for table, column in (("experiments", "artifact_location"), ("runs", "artifact_uri"),
                                  ("logged_models", "artifact_location")):  # fmt: skip
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
    tags = experiment_tags(experiment)
    if exp is not None:
        if db is not None:
            _relocate_artifacts(db, exp)
        exp_id = exp.experiment_id
        for k, v in tags.items():  # experiments made before these tags
            if exp.tags.get(k) != v:
                mlflow.MlflowClient().set_experiment_tag(exp_id, k, v)
    elif db is not None:
        root = db.resolve().parent / ARTIFACTS_DIR
        exp_id = mlflow.create_experiment(
            experiment,
            artifact_location=str(root / experiment.replace("/", "_")),
            tags={**tags, "lbi.artifact_root": str(root)},
        )
    else:
        exp_id = mlflow.create_experiment(experiment, tags=tags)
    mlflow.set_experiment(experiment)
    return exp_id


UI_MODE = "workflowType=machine_learning"  # MLflow 3.17's UI: Model training, not GenAI


def ui_links(base: str = "http://127.0.0.1:5000", uri: str | None = None) -> list[str]:
    """Links to each ``lbi`` experiment's runs table in Model training mode: MLflow 3.17's
    UI takes its mode from a per-browser switch (GenAI by default) or from the link, not
    from the experiment's kind tag (``make mlflow-ui`` prints these)."""
    from mlflow.tracking import MlflowClient

    exps = MlflowClient(uri or tracking_uri()).search_experiments(filter_string="name LIKE 'lbi%'")
    return [f"{base}/#/experiments/{e.experiment_id}/runs?{UI_MODE}  ({e.name})" for e in exps]


def experiment_tags(experiment: str) -> dict[str, str]:
    """The experiment kind (runs table) and a description of what ``experiment`` holds."""
    if experiment == PIPELINE_EXPERIMENT:
        note = (
            "The `dvc repro` pipeline. One parent run per commit + params.yaml (named by the "
            "short commit and the DVC experiment or the changed params; params.yaml, headline "
            "metrics `<source>/<metric>` and the report as artifacts), a child run per DVC "
            "stage (`train_stage1@gt`...) and one per evaluated model (`LBI refined (gt, "
            "seed 0, 35 ep)`, `LBI coarse ...`, `2D-only lifter ...`; tag `lbi.model`) with "
            "the same metric names (`test_p1_mm`, `cross_mpjpe_mm`...): select them and "
            "Compare. Open the UI in Model training mode (`?workflowType=machine_learning`)."
        )
    elif experiment.startswith("lbi-sweep-"):
        note = (
            f"Sweep `{experiment[len('lbi-sweep-') :]}` (sweeps/): one parent run per "
            "invocation (tag `lbi.smoke` marks smoke runs), a nested run per (cell, seed) "
            "trial with its run record as tags (`lbi.cell`, `lbi.seed`, `lbi.mode`...), its "
            "params and per-epoch validation curves."
        )
    else:
        note = f"lbi runs ({experiment})."
    return {EXPERIMENT_KIND[0]: EXPERIMENT_KIND[1], "mlflow.note.content": note}


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


def changed_params(root: Path | None = None) -> dict[str, str]:
    """Flattened ``params.yaml`` keys whose value differs from the committed file (HEAD);
    empty when they agree or git has no committed ``params.yaml``."""
    import yaml

    root = root or repo_root()
    try:
        head = subprocess.run(["git", "show", "HEAD:./params.yaml"], cwd=root,
                              capture_output=True, text=True, timeout=10)  # fmt: skip
        now = flatten(yaml.safe_load((root / "params.yaml").read_text()) or {})
    except (OSError, subprocess.SubprocessError, yaml.YAMLError):
        return {}
    if head.returncode != 0:
        return {}
    old = flatten(yaml.safe_load(head.stdout) or {})
    keys = sorted(set(now) | set(old))
    return {k: str(now.get(k, "<removed>")) for k in keys if now.get(k) != old.get(k)}


def pipeline_run_name(root: Path | None = None, max_len: int = 80) -> str:
    """``<short commit> <DVC_EXP_NAME>``, else ``<short commit> <changed params>`` (see
    :func:`changed_params`), else ``<short commit> default``."""
    root = root or repo_root()
    commit = git_commit(root)
    short = commit[:7] + ("+dirty" if commit.endswith("+dirty") else "")
    what = os.environ.get("DVC_EXP_NAME") or ", ".join(
        f"{k}={v}" for k, v in changed_params(root).items()
    ) or "default"  # fmt: skip
    name = f"{short} {what}"
    return name if len(name) <= max_len else name[: max_len - 1] + "…"


def pipeline_tags(root: Path | None = None) -> dict[str, str]:
    """The pipeline run's own tags (none copied from a stage)."""
    root = root or repo_root()
    changed = changed_params(root)
    tags = {
        "lbi.kind": "pipeline",
        "lbi.git_commit": git_commit(root),
        "dvc.params_md5": file_md5(root / "params.yaml"),
        "dvc.lock_md5": file_md5(root / "dvc.lock"),  # at the pipeline's first stage
        "lbi.changed_params": ", ".join(f"{k}={v}" for k, v in changed.items()) or "none",
        "mlflow.note.content": (
            "One `dvc repro` of this commit and params.yaml: a child run per stage and one "
            "per evaluated model (tag `lbi.model`; the same metric names, to compare)."
        ),
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def pipeline_key(root: Path | None = None) -> str:
    """What finds the pipeline run: md5 of the git commit and of ``params.yaml``."""
    root = root or repo_root()
    return hashlib.md5(f"{git_commit(root)}|{file_md5(root / 'params.yaml')}".encode()).hexdigest()


def _pipeline_parent(client: Any, exp_id: str, key: str) -> str:
    runs = client.search_runs(
        [exp_id], filter_string=f"tags.`lbi.pipeline_key` = '{key}'", max_results=1
    )
    if runs:
        return runs[0].info.run_id
    root = repo_root()
    tags = {**pipeline_tags(root), "lbi.pipeline_key": key}
    run = client.create_run(exp_id, run_name=pipeline_run_name(root), tags=tags)
    run_id = run.info.run_id
    logger = RunLogger(client, run_id, exp_id)
    if (root / "params.yaml").is_file():
        import yaml

        logger.log_artifact(str(root / "params.yaml"))
        logger.log_params(flatten(yaml.safe_load((root / "params.yaml").read_text()) or {}))
    return run_id


def pipeline_run(experiment: str = PIPELINE_EXPERIMENT) -> RunLogger:
    """The current pipeline run (this commit and ``params.yaml``), created if needed."""
    from mlflow.tracking import MlflowClient

    exp_id = setup_mlflow(experiment)
    client = MlflowClient()
    parent = call_with_retry(_pipeline_parent, client, exp_id, pipeline_key(),
                             what="pipeline run", fatal=True)  # fmt: skip
    return RunLogger(client, parent, exp_id)


def log_report(readme: Path, generated: Path) -> None:
    """The report stage's output (README and ``generated/`` tables and figures) as
    artifacts ``report/`` of the pipeline run; never fatal."""
    logger = call_with_retry(pipeline_run, what="pipeline run")
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
    parent = call_with_retry(_pipeline_parent, client, exp_id, pipeline_key(root),
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


# ----------------------------------------------------------------------------------
# What a run logs: the params that apply to a model, one metric name per model
# ----------------------------------------------------------------------------------
# ModelConfig fields each architecture reads (its docstring); lbi: all but lifter_* and
# retention (stage 2's, logged once as prune.retention)
_LIFTER_FIELDS = ("arch", "num_joints_in", "num_joints_out", "lifter_dim", "lifter_layers",
                  "heads", "mlp_ratio", "dropout", "drop_path")  # fmt: skip
_KEYPOINTS2D_FIELDS = ("arch", "backbone", "pretrained", "input_hw", "dim", "num_joints_out")


def model_params(cfg: Any) -> dict[str, Any]:
    """The fields of ``cfg`` (a :class:`~lbi.model.ModelConfig`) its architecture reads."""
    d = cfg.to_dict()
    if d["arch"].startswith("lifter_"):
        keep: tuple[str, ...] = _LIFTER_FIELDS
    elif d["arch"] == "keypoints2d":
        keep = _KEYPOINTS2D_FIELDS
    else:
        keep = tuple(k for k in d if not k.startswith("lifter_") and k != "retention")
    return {k: d[k] for k in keep}


# record mode -> the models it evaluates: (tag lbi.model, run label, metric-key infix)
EVAL_MODELS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "progressive": (("lbi_refined", "LBI refined", "refined"),
                    ("lbi_coarse", "LBI coarse", "coarse")),
    "stage1": (("lbi_coarse", "LBI coarse (stage 1 only)", "coarse"),),
    "e2e_fine": (("e2e_fine_refined", "LBI e2e_fine refined", "refined"),
                 ("e2e_fine_coarse", "LBI e2e_fine coarse", "coarse")),
    "e2e_both": (("e2e_both_refined", "LBI e2e_both refined", "refined"),
                 ("e2e_both_coarse", "LBI e2e_both coarse", "coarse")),
    "lifter": (("lifter", "2D-only lifter", "lifter"),),
}  # fmt: skip
_SPLITS = ("test", "cross")


def _model_of(key: str) -> str | None:
    """``cross_refined_mpjpe_mm`` -> ``refined``; None for a key of no split."""
    split, _, rest = key.partition("_")
    return rest.partition("_")[0] if split in _SPLITS else None


def model_metrics(metrics: dict[str, float], name: str) -> dict[str, float]:
    """One model's metrics under names every model shares: ``{split}_{name}_{metric}``
    -> ``{split}_{metric}`` (``test_refined_p1_mm`` -> ``test_p1_mm``)."""
    out = {}
    for k, v in metrics.items():
        split, _, rest = k.partition("_")
        if split in _SPLITS and rest.startswith(name + "_"):
            out[f"{split}_{rest[len(name) + 1 :]}"] = float(v)
    return out


RECORD_TAGS = ("sweep", "table", "row", "column", "cell", "mode", "seed", "source_2d", "dataset",
               "synthetic", "git_commit", "code_fingerprint", "data_fingerprint", "numerics",
               "status", "smoke", "error")  # fmt: skip


def record_tags(rec: Any) -> dict[str, str]:
    """A :class:`~lbi.record.RunRecord`'s fields as ``lbi.<field>`` tags (its key too)."""
    tags = {f"lbi.{f}": str(v) for f in RECORD_TAGS if (v := getattr(rec, f)) is not None}
    return {**tags, "lbi.record_key": rec.key}


def model_example(model: Any, ds: Any, n: int = 2) -> dict[str, Any]:
    """A small real batch of ``ds`` and ``model``'s output on it, for the signature:
    ``inputs`` ``image`` uint8 (B, 3, H, W) (not for a lifter) and ``pose2d`` float32
    (B, J, 2) normalised; ``output`` the refined (else coarse) 3D pose (B, 17, 3) mm, or
    a 2D keypoint model's ``pose2d_px`` (B, J, 2)."""
    import torch

    batch = ds.__getitems__(list(range(min(n, len(ds)))))
    arch = getattr(model, "model_args", {}).get("arch")
    was = model.training
    model.eval()
    with torch.no_grad():
        out = model(batch["image"], batch["pose2d"], stage=2)
    model.train(was)
    key = next(k for k in ("refined", "coarse", "pose2d_px") if out.get(k) is not None)
    inputs = {}
    if getattr(model, "uses_image", True):  # a lifter reads no image
        inputs["image"] = batch["image"].numpy()
    if arch != "keypoints2d":  # the 2D keypoint model reads only the image
        inputs["pose2d"] = batch["pose2d"].numpy()
    return {"inputs": inputs, "output": out[key].float().numpy()}

"""The tracking store and its experiments: the tracking URI and its health check, the
experiments' kind and description tags, :func:`setup_mlflow` (which also relocates the
artifacts of a copied or moved SQLite store) and :func:`ui_links`.

Part of :mod:`lbi.tracking` (the package docstring is the overview; "module doc" in a
docstring below means it).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from lbi.tracking.util import repo_root

log = logging.getLogger("lbi.tracking")  # one logger name for the package, as before the split

PIPELINE_EXPERIMENT = "lbi-pipeline"
# MLflow 3's experiment kind: training runs table, not the GenAI (traces) view
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")
ARTIFACTS_DIR = "mlartifacts"  # beside a SQLite store


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

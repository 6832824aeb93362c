"""One MLflow run as an object: :class:`RunLogger`, what :func:`~lbi.tracking.stage_run`
yields. Every call goes through :func:`~lbi.tracking.util.call_with_retry`; it also logs
datasets, models and one run per evaluated model.

Part of :mod:`lbi.tracking` (the package docstring is the overview).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lbi.tracking.logged import EVAL_MODELS, _model_of, flatten, model_metrics, record_tags
from lbi.tracking.util import call_with_retry, git_commit

log = logging.getLogger("lbi.tracking")  # one logger name for the package, as before the split


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

"""One trial: the pipeline's stage functions (:mod:`lbi.stages`) on the trial's params.

Params = ``params.yaml`` + budget + the cell's overrides + seed (:func:`resolve_params`);
outputs under ``<out>/trials/<key>/``; stage 1 under ``<out>/stage1_cache/<key>/``, shared
by the trials whose stage 1 is the same (keyed by what it depends on, trained once under
a lock). Modes: ``progressive`` train_stage1 -> prune -> train_stage2 -> evaluate;
``stage1`` train_stage1 -> evaluate (coarse); ``e2e_fine``/``e2e_both``
train_end_to_end -> evaluate; ``lifter`` train_lifter -> evaluate.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbi import stages
from lbi.config import to_dict
from lbi.experiment import (
    StagePaths,
    code_stages,
    data_fingerprint,
    encoder_init,
    make_record,
    record_key,
)
from lbi.params import Params
from lbi.record import RunRecord
from lbi.sweep.spec import Cell, resolve_params


@dataclass(frozen=True)
class Context:
    """What every trial of one sweep invocation shares (sent once to the Ray workers)."""

    sweep: str
    table: str
    source: str
    base: dict[str, Any]  # lbi.config.to_dict(Params) of params.yaml
    paths: StagePaths  # the pipeline's, absolute: stores, detections, pretrain2d weights
    out: Path  # absolute: trials/, stage1_cache/
    budget: dict[str, Any] = field(default_factory=dict)
    smoke: bool = False
    tracking_uri: str | None = None  # None: no MLflow
    experiment_id: str | None = None
    parent_run_id: str | None = None

    def params(self, cell: Cell, seed: int, search: dict[str, Any] | None = None) -> tuple[Params, dict[str, Any]]:  # fmt: skip
        over = {**self.budget, **cell.overrides, **(search or {})}
        return resolve_params(self.base, over, seed), over


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive ``fcntl.flock`` on ``path`` (released when the process dies, too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fingerprints(p: Params, mode: str, source: str, paths: StagePaths) -> tuple[str, str]:
    """(code, data) fingerprints of a model of ``mode``."""
    from lbi.fingerprint import code_fingerprint

    init = None if mode == "lifter" else encoder_init(p, paths)
    return code_fingerprint(code_stages(mode)), data_fingerprint(paths, source, init)


def trial_key(ctx: Context, cell: Cell, seed: int, search: dict[str, Any] | None = None) -> str:
    """The record key of (cell, seed): what it trains, and the code and data fingerprints."""
    p, _ = ctx.params(cell, seed, search)
    return record_key(p, cell.mode, ctx.source, *fingerprints(p, cell.mode, ctx.source, ctx.paths))


def stage1_key(p: Params, source: str, paths: StagePaths) -> str:
    """Hash of what stage 1 depends on (not prune, not stage 2, not evaluate)."""
    from lbi.fingerprint import code_fingerprint

    what = {"model": to_dict(p.model), "train": to_dict(p.train_stage1), "source": source,
            "pretrain2d": p.pretrain2d.enabled, "code": code_fingerprint(("train_stage1",)),
            "data": data_fingerprint(paths, source, encoder_init(p, paths))}  # fmt: skip
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


class TrialLog:
    """The trial's tracker for :mod:`lbi.stages`: per-epoch metrics go to its MLflow run
    (steps counted over phases) and to ``report`` (Ray Tune); replays a cached phase."""

    def __init__(self, client: Any, run_id: str | None, report: Callable[[dict], None] | None,
                 cell: str, seed: int) -> None:  # fmt: skip
        self.client, self.run_id, self.report = client, run_id, report
        self.cell, self.seed, self.offset, self.seen = cell, seed, 0, 0
        self.last: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str, source: str, ds: Any, params: dict[str, Any]) -> Iterator[Any]:
        yield self

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        m = {k: float(v) for k, v in metrics.items() if k != "epoch"}
        if step is None:  # a stage's final numbers
            return self._mlflow(m, None)
        self.seen = max(self.seen, step)
        self._mlflow(m, self.offset + step)
        self.last = {**m, "epoch": self.offset + step}
        if self.report is not None:
            self.report({**self.last, "cell": self.cell, "seed": self.seed})

    def log_artifact(self, path: str, artifact_path: str | None = None) -> None:
        pass  # checkpoints stay in the trial folder

    def end_phase(self, history: list[dict[str, float]]) -> None:
        """After a training stage: report epochs not run here (a cached stage 1)."""
        for i, h in enumerate(history[self.seen :], start=self.seen + 1):
            self.log_metrics(h, i)
        self.offset += len(history)
        self.seen = 0

    def _mlflow(self, m: dict[str, float], step: int | None) -> None:
        if self.client is not None and m:
            from mlflow.entities import Metric

            now = int(time.time() * 1000)
            ms = [Metric(k, v, now, step or 0) for k, v in m.items()]
            self.client.log_batch(self.run_id, metrics=ms)


def _train_and_evaluate(p: Params, mode: str, source: str, paths: StagePaths,
                        log: TrialLog) -> dict[str, float]:  # fmt: skip
    kw: dict[str, Any] = {"tracker": log}
    if mode == "lifter":
        log.end_phase(stages.train_lifter(p, source, paths, **kw).history)
    elif mode in ("e2e_fine", "e2e_both"):
        log.end_phase(stages.train_end_to_end(p, source, paths, mode, **kw).history)
    else:
        assert paths.stage1 is not None
        with file_lock(paths.stage1.with_suffix(".lock")):  # trained once, then shared
            log.end_phase(stages.train_stage1(p, source, paths, **kw).history)
        if mode == "progressive":
            stages.prune(p, source, paths, **kw)
            log.end_phase(stages.train_stage2(p, source, paths, **kw).history)
    return stages.evaluate(p, source, paths, modes=(mode,), records=False, **kw)[mode]


def run_trial(ctx: Context, cell: Cell, seed: int, search: dict[str, Any] | None = None, *,
              report: Callable[[dict], None] | None = None) -> RunRecord:  # fmt: skip
    """Train and evaluate (cell, seed) with the stage functions; write
    ``<trial>/record.json`` and the trial's MLflow run; return the record. A failure is
    recorded (status ``failed``, its error) and raised again (Tune retries it)."""
    from lbi.data.store import open_store

    p, over = ctx.params(cell, seed, search)
    code_fp, data_fp = fingerprints(p, cell.mode, ctx.source, ctx.paths)
    key = record_key(p, cell.mode, ctx.source, code_fp, data_fp)
    s1 = ctx.out / "stage1_cache" / stage1_key(p, ctx.source, ctx.paths)
    trial_dir = ctx.out / "trials" / key
    paths = ctx.paths.for_trial(trial_dir, s1 if cell.mode in ("progressive", "stage1") else None)
    store = open_store(ctx.paths.store_in)
    client, run_id = _start_run(ctx, cell, seed, key)
    log = TrialLog(client, run_id, report, cell.name, seed)

    def record(metrics: dict[str, float], error: str | None = None) -> RunRecord:
        rec = make_record(
            p, mode=cell.mode, source=ctx.source, metrics=metrics, code_fp=code_fp,
            data_fp=data_fp, dataset=store.dataset, synthetic=store.synthetic, sweep=ctx.sweep,
            table=cell.table or ctx.table, row=cell.row or cell.name, column=cell.column,
            cell=cell.name, overrides=over, status="failed" if error else "finished",
            error=error, smoke=ctx.smoke)  # fmt: skip
        from lbi.io import save_text

        save_text(trial_dir / "record.json", rec.to_json() + "\n")
        _end_run(client, run_id, rec)
        return rec

    try:
        with file_lock(trial_dir.with_suffix(".lock")):
            metrics = _train_and_evaluate(p, cell.mode, ctx.source, paths, log)
    except Exception as e:
        record({}, f"{type(e).__name__}: {e}")
        raise
    rec = record(metrics)
    if report is not None:
        report({**log.last, **metrics, "cell": cell.name, "seed": seed, "final": 1.0})
    return rec


def _start_run(ctx: Context, cell: Cell, seed: int, key: str) -> tuple[Any, str | None]:
    if ctx.tracking_uri is None:
        return None, None
    from mlflow.tracking import MlflowClient

    client = MlflowClient(ctx.tracking_uri)
    tags = {"mlflow.parentRunId": ctx.parent_run_id or "", "mlflow.runName": f"{cell.name}-s{seed}",
            "lbi.record_key": key}  # fmt: skip
    return client, client.create_run(ctx.experiment_id, tags=tags).info.run_id


def _end_run(client: Any, run_id: str | None, rec: RunRecord) -> None:
    """The record as the run's tags (what and where), params (flattened) and metrics."""
    if client is None:
        return
    from mlflow.entities import Metric, Param, RunTag

    from lbi.tracking import flatten

    fields = ("sweep", "table", "row", "column", "cell", "mode", "seed", "source_2d", "dataset",
              "synthetic", "git_commit", "code_fingerprint", "data_fingerprint", "numerics",
              "status", "smoke", "error")  # fmt: skip
    tags = [RunTag(f"lbi.{f}", str(getattr(rec, f))[:5000]) for f in fields]
    flat = flatten({**rec.params, "overrides": rec.overrides, "epochs": rec.epochs})
    params = [Param(k, str(v)[:500]) for k, v in flat.items()]
    metrics = [Metric(k, v, int(time.time() * 1000), 0) for k, v in rec.metrics.items()]
    for i in range(0, len(params), 100):
        client.log_batch(run_id, params=params[i : i + 100])
    client.log_batch(run_id, metrics=metrics, tags=tags)
    client.set_terminated(run_id, "FINISHED" if rec.status == "finished" else "FAILED")

"""One trial: the pipeline's stage functions (:mod:`lbi.stages`) on the trial's params.

Outputs under ``<out>/trials/<key>/``; stage 1 under ``<out>/stage1_cache/<key>/``, shared
by the trials whose stage 1 is the same (keyed by what it depends on; trained once, under
a lock). Which stages each mode calls: :func:`_train_and_evaluate`.
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

from lbi import experiment as ex
from lbi import numerics, stages
from lbi.config import to_dict
from lbi.experiment import StagePaths
from lbi.io import atomic_path, save_json, save_text
from lbi.numerics import PIPELINE as PIPELINE_NUMERICS
from lbi.params import Params
from lbi.record import RunRecord
from lbi.report.stats import TWIN, WAIT
from lbi.sweep.spec import Cell, resolve_params
from lbi.sweep.twin import train_digest
from lbi.train import VAL_EVERY

WALL = "trial_wall_s"  # a record's wall time (s) of its trial's last attempt: not a model metric
CUDA = "cuda"  # the numerics of trials on a GPU share (lbi.numerics pins only the CPU's)


def strip_trial_metrics(metrics: dict[str, float]) -> dict[str, float]:
    """A record's metrics of its model: all but the trial's wall and wait times (:data:`WALL`,
    :data:`WAIT`) and whether it evaluated its twin's model (:data:`lbi.report.stats.TWIN`)."""
    return {k: v for k, v in metrics.items() if k not in (WALL, WAIT, TWIN)}


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
    numerics: str = PIPELINE_NUMERICS  # lbi.numerics.describe() in each trial
    tracking_uri: str | None = None  # None: no MLflow
    experiment_id: str | None = None
    parent_run_id: str | None = None
    val_every: int = VAL_EVERY  # per-epoch validation every n-th epoch and the last (RunOptions)
    twin: Context | None = None  # a store variant's: the default stores' (lbi.sweep.twin)

    def params(self, cell: Cell, seed: int,
               search: dict[str, Any] | None = None) -> tuple[Params, dict[str, Any]]:  # fmt: skip
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


def trial_key(ctx: Context, cell: Cell, seed: int, search: dict[str, Any] | None = None) -> str:
    """The record key of (cell, seed): what it trains, and the code and data fingerprints."""
    p, _ = ctx.params(cell, seed, search)
    fps = ex.fingerprints(p, cell.mode, ctx.source, ctx.paths)
    return ex.record_key(p, cell.mode, ctx.source, *fps, ctx.numerics)


def trial_paths(ctx: Context, p: Params, mode: str, key: str) -> StagePaths:
    """Where trial ``key`` of ``mode`` writes, ``<out>/trials/<key>/``, and for a mode that
    trains stage 1 the stage-1 cache it shares, ``<out>/stage1_cache/<stage1_key>/``
    (``.stage1``; None for the others)."""
    s1 = stage1_key(p, ctx.source, ctx.paths, ctx.numerics) if mode in ("stage1", "progressive") else None  # fmt: skip
    return ctx.paths.for_trial(ctx.out / "trials" / key, s1 and ctx.out / "stage1_cache" / s1)


def record_file(ctx: Context, cell: Cell, seed: int, search: dict[str, Any] | None = None) -> Path:
    """Where :func:`run_trial` writes the (cell, seed) trial's record: ``<out>/trials/<key>/record.json``."""
    return ctx.out / "trials" / trial_key(ctx, cell, seed, search) / "record.json"


def twin_model(ctx: Context, cell: Cell, seed: int) -> tuple[Path, str] | None:
    """On a store variant (``ctx.twin``): the default stores' trained model of (cell, seed)
    and its record key, if its file is here, the params it trained under differ from this
    trial's only in ``embedded`` and ``paths``, and :func:`~lbi.sweep.twin.train_digest` is
    equal on both sides; else None (the trial trains), also when the default's data are
    missing."""
    tw = ctx.twin
    if tw is None:
        return None
    p, _ = ctx.params(cell, seed)
    q, _ = tw.params(cell, seed)
    mine, its = to_dict(p), to_dict(q)
    if any(v != its[k] for k, v in mine.items() if k not in ("embedded", "paths")):
        return None
    try:  # the default stores may not be here (a clone without `dvc repro`): then it trains
        key = trial_key(tw, cell, seed)
    except FileNotFoundError:
        return None
    f = trial_paths(tw, q, cell.mode, key).model(ex.MODEL_FILES[cell.mode], tw.source)
    if not f.is_file():
        return None
    if train_digest(p, cell.mode, ctx.source, ctx.paths) != train_digest(q, cell.mode, tw.source, tw.paths):  # fmt: skip
        return None
    return f, key


STAGE1_WHAT = "key.json"  # in a stage-1 cache folder: stage1_what, from which its name is hashed


def stage1_what(p: Params, source: str, paths: StagePaths, described: str) -> dict[str, Any]:
    """What stage 1 depends on (not prune, not stage 2, not evaluate): model, training,
    source, pretraining, the code (``code``) and data fingerprints, other numerics."""
    from lbi.fingerprint import code_fingerprint

    m = stages.stage1_model_config(p.model, p.model.num_joints_in, ex.encoder_init(p, paths))
    what = {"model": to_dict(m), "train": to_dict(p.train_stage1), "source": source,
            "pretrain2d": p.pretrain2d.enabled, "code": code_fingerprint(("train_stage1",)),
            "data": ex.data_fingerprint(paths, source, ex.encoder_init(p, paths))}  # fmt: skip
    if described != PIPELINE_NUMERICS:  # other threads, other weights (as ex.record_key)
        what["numerics"] = described
    return what


def stage1_key(p: Params, source: str, paths: StagePaths, described: str) -> str:
    """Hash of :func:`stage1_what`: the name of the stage-1 cache folder."""
    return what_key(stage1_what(p, source, paths, described))


def what_key(what: dict[str, Any]) -> str:
    """The stage-1 cache folder name of ``what`` (:func:`stage1_what`): its sha256, 16 hex."""
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


class TrialLog:
    """The trial's :mod:`lbi.stages` tracker: epochs (counted over phases) to MLflow and Tune."""

    def __init__(self, mlflow: bool, report: Callable[[dict], None] | None, cell: str,
                 seed: int) -> None:  # fmt: skip
        self.mlflow, self.report = mlflow, report
        self.cell, self.seed, self.offset, self.seen = cell, seed, 0, 0
        self.last: dict[str, float] = {}
        self.waited_s = 0.0  # on locks another trial held (its shared stage 1): not machine time

    @contextlib.contextmanager
    def waiting(self, lock: Path) -> Iterator[None]:
        """:func:`file_lock` on ``lock``, the time it took to get added to :attr:`waited_s`."""
        t0 = time.perf_counter()
        with file_lock(lock):
            self.waited_s += time.perf_counter() - t0
            yield

    @contextlib.contextmanager
    def __call__(self, stage: str, source: str, ds: Any, params: dict[str, Any]) -> Iterator[Any]:
        yield self

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        m = {k: float(v) for k, v in metrics.items() if k != "epoch"}
        if step is not None:  # an epoch (else: a stage's final numbers); stage 2's continue
            rel = step - self.offset if step > self.offset else step  # stage 1's (epoch_offset)
            self.seen, step = max(self.seen, rel), self.offset + rel
            self.last = {**m, "epoch": step}
            if self.report is not None:
                self.report({**self.last, "cell": self.cell, "seed": self.seed})
        if self.mlflow and m:
            import mlflow

            mlflow.log_metrics(m, step=step or 0)

    # Checkpoints and models stay in the trial folder; the record names its data.
    def log_artifact(self, path: str, artifact_path: str | None = None) -> None: ...
    def log_dataset(self, ds: Any, context: str) -> None: ...
    def log_model(self, model: Any, example: dict[str, Any], name: str = "model") -> None: ...

    def end_phase(self, history: list[dict[str, float]]) -> None:
        """After a training stage: report epochs not run here (a cached stage 1)."""
        for i, h in enumerate(history[self.seen :], start=self.seen + 1):
            self.log_metrics(h, i)
        self.offset += len(history)
        self.seen = 0


def _train_and_evaluate(p: Params, mode: str, source: str, paths: StagePaths, log: TrialLog,
                        val_every: int, described: str) -> dict[str, float]:  # fmt: skip
    kw: dict[str, Any] = {"tracker": log}
    fit = {**kw, "val_every": val_every}
    if mode == "lifter":
        log.end_phase(stages.train_lifter(p, source, paths, **fit).history)
    elif mode in ("e2e_fine", "e2e_both"):
        log.end_phase(stages.train_end_to_end(p, source, paths, mode, **fit).history)
    else:
        assert paths.stage1 is not None
        with log.waiting(paths.stage1.with_suffix(".lock")):  # trained once, then shared
            log.end_phase(stages.train_stage1(p, source, paths, **fit).history)
            if not (paths.stage1 / STAGE1_WHAT).is_file():  # what its name hashes (revalidate)
                save_json(paths.stage1 / STAGE1_WHAT, stage1_what(p, source, paths, described))
        if mode == "progressive":
            stages.prune(p, source, paths, **kw)
            log.end_phase(stages.train_stage2(p, source, paths, **fit).history)
    return stages.evaluate(p, source, paths, modes=(mode,), records=False, **kw)[mode]


def _evaluate_twin(p: Params, mode: str, source: str, paths: StagePaths, log: TrialLog,
                   model: Path, key: str) -> dict[str, float]:  # fmt: skip
    """Copy the twin's ``model`` (of record ``key``) into this trial's folder, evaluate it."""
    dst = paths.model(ex.MODEL_FILES[mode], source)
    with atomic_path(dst) as tmp:
        tmp.write_bytes(model.read_bytes())
    save_json(paths.models / "model_from.json", {"twin_key": key, "model": str(model)})
    metrics = stages.evaluate(p, source, paths, modes=(mode,), records=False, tracker=log)[mode]
    return {**metrics, TWIN: 1.0}


def run_trial(ctx: Context, cell: Cell, seed: int, search: dict[str, Any] | None = None, *,
              report: Callable[[dict], None] | None = None) -> RunRecord:  # fmt: skip
    """Train and evaluate (cell, seed) with the stage functions; write
    ``<trial>/record.json`` and the trial's MLflow run; return the record. A failure is
    recorded (status ``failed``, its error) and raised again (Tune retries it)."""
    from lbi.data.store import open_store
    from lbi.train import resolve_device

    numerics.pin_torch(numerics.threads_of(ctx.numerics) or numerics.THREADS)  # packed: fewer
    here = numerics.describe()  # a worker set up otherwise, or a CPU of another vendor
    if ctx.numerics != CUDA and here != ctx.numerics:
        raise RuntimeError(f"trial numerics {here}, the sweep's {ctx.numerics}: run a sweep's trials on CPUs of one vendor (lbi/numerics.py)")  # fmt: skip
    p, over = ctx.params(cell, seed, search)
    dev = resolve_device((p.lifter.train if cell.mode == "lifter" else p.train_stage1).device)
    if (dev.type == "cuda") != (ctx.numerics == CUDA):  # else GPU runs get CPU keys, or back
        raise RuntimeError(f"trial {cell.name} seed {seed} would train on {dev}, the sweep's numerics are {ctx.numerics}: give trials a GPU share (--gpus-per-trial) to train on one, else set train.device: cpu")  # fmt: skip
    code_fp, data_fp = ex.fingerprints(p, cell.mode, ctx.source, ctx.paths)
    key = ex.record_key(p, cell.mode, ctx.source, code_fp, data_fp, ctx.numerics)
    paths = trial_paths(ctx, p, cell.mode, key)
    trial_dir = ctx.out / "trials" / key
    store = open_store(ctx.paths.store_in)
    tracked = _start_run(ctx, cell, seed, key)
    log = TrialLog(tracked, report, cell.name, seed)

    def record(metrics: dict[str, float], error: str | None = None) -> RunRecord:
        rec = ex.make_record(
            p, mode=cell.mode, source=ctx.source, metrics=metrics, code_fp=code_fp,
            data_fp=data_fp, dataset=store.dataset, synthetic=store.synthetic, sweep=ctx.sweep,
            table=cell.table or ctx.table, row=cell.row or cell.name, column=cell.column,
            cell=cell.name, overrides=over, status="failed" if error else "finished",
            error=error, smoke=ctx.smoke, described=ctx.numerics)  # fmt: skip
        save_text(trial_dir / "record.json", rec.to_json() + "\n")
        if tracked:
            _end_run(rec)
        return rec

    t0 = time.perf_counter()
    try:
        with log.waiting(trial_dir.with_suffix(".lock")):
            if (twin := twin_model(ctx, cell, seed)) is not None:
                metrics = _evaluate_twin(p, cell.mode, ctx.source, paths, log, *twin)
            else:
                metrics = _train_and_evaluate(p, cell.mode, ctx.source, paths, log, ctx.val_every, ctx.numerics)  # fmt: skip
    except Exception as e:
        record({}, f"{type(e).__name__}: {e}")
        raise
    except BaseException:  # stopped by the scheduler (SystemExit) or Ctrl+C
        if tracked:
            import mlflow

            mlflow.end_run("KILLED")
        raise
    rec = record(
        {**metrics, WALL: round(time.perf_counter() - t0, 1), WAIT: round(log.waited_s, 1)}
    )
    if report is not None:
        report({**log.last, **metrics, "cell": cell.name, "seed": seed, "final": 1.0})
    return rec


def _start_run(ctx: Context, cell: Cell, seed: int, key: str) -> bool:
    """The trial's MLflow run, nested under the sweep invocation's (None URI: no MLflow)."""
    if ctx.tracking_uri is None:
        return False
    import mlflow

    mlflow.set_tracking_uri(ctx.tracking_uri)
    mlflow.start_run(experiment_id=ctx.experiment_id, run_name=f"{cell.name}-s{seed}",
                     parent_run_id=ctx.parent_run_id, tags={"lbi.record_key": key})  # fmt: skip
    return True


def _end_run(rec: RunRecord) -> None:
    """The record as the run's tags (what and where), params (flattened) and metrics."""
    import mlflow

    from lbi.tracking import flatten, record_tags

    mlflow.set_tags(record_tags(rec))
    mlflow.log_params(flatten({**rec.params, "overrides": rec.overrides, "epochs": rec.epochs}))
    mlflow.log_metrics(rec.metrics)
    mlflow.end_run("FINISHED" if rec.status == "finished" else "FAILED")

"""Trials without Ray: processes of this machine (``--no-ray``), e.g. a lent GPU host that
has torch but not Ray, MLflow or DVC.

The same :func:`lbi.sweep.trial.run_trial` as a Ray Tune trial, in ``spawn`` ed worker
processes, ``slots`` at once: with a GPU share per trial (``--gpus-per-trial 0.125``:
eight trials on one GPU), else the CPUs over ``--cpus-per-trial``. Every record reaches
``<results_dir>/<sweep>.jsonl`` as its trial ends; a trial that fails is recorded as failed
(by ``run_trial``) and tried again up to ``max_failures`` times, as Tune's FailureConfig
does. One GPU: every trial trains on ``cuda:0`` (several GPUs: a Ray cluster).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from lbi.record import RunRecord, merge_records, read_records, write_summary
from lbi.sweep.spec import RunOptions, SweepSpec
from lbi.sweep.trial import WALL, Context, record_file, run_trial


def slots(opts: RunOptions, gpus: float) -> int:
    """Trials at once: ``max_concurrent``, else 1 / ``gpus`` per GPU (``gpus`` > 0), else the
    CPUs (``num_cpus`` or all) over ``cpus_per_trial``; at least 1."""
    if opts.max_concurrent:
        return opts.max_concurrent
    if gpus > 0:
        import torch

        return max(1, int(torch.cuda.device_count() / gpus + 1e-9))
    return max(1, int((opts.num_cpus or os.cpu_count() or 1) / opts.cpus_per_trial + 1e-9))


def _trial(ctx: Context, spec: SweepSpec, job: dict[str, Any], tries: int) -> RunRecord | str:
    """One (cell, seed) in a worker, up to ``tries`` attempts: the record, else (a failure
    before ``run_trial`` could write one, e.g. an unreadable store) the error."""
    cell, seed = spec.cell(job["cell"]), int(job["seed"])
    for _ in range(tries):
        try:
            return run_trial(ctx, cell, seed)
        except Exception as e:  # run_trial recorded it as failed if it got that far
            error = f"{type(e).__name__}: {e}"
    try:  # the failed record run_trial wrote, if it got that far
        return read_records(record_file(ctx, cell, seed))[0]
    except Exception:  # no key (the same error) or no record: the error it is
        return error


def run_local(spec: SweepSpec, ctx: Context, opts: RunOptions, jobs: list[dict[str, Any]],
              gpus: float) -> list[RunRecord]:  # fmt: skip
    """Run ``jobs`` (``{"cell", "seed"}``) in :func:`slots` worker processes; merge each
    record into ``<results_dir>/<sweep>.jsonl`` as it ends; print a line per trial."""
    import torch

    if gpus > 0 and not torch.cuda.is_available():  # else each trial fails on its own
        raise ValueError(f"--gpus-per-trial {gpus:g}: this machine has no GPU; use 0")
    n, out, t0 = min(slots(opts, gpus), len(jobs)), [], time.perf_counter()
    results = Path(opts.results_dir) / f"{spec.name}.jsonl"
    print(f"sweep {spec.name}: {len(jobs)} trials, {n} at a time, without Ray")
    with ProcessPoolExecutor(n, mp_context=mp.get_context("spawn")) as pool:
        running = {pool.submit(_trial, ctx, spec, j, opts.max_failures + 1): j for j in jobs}
        for i, done in enumerate(as_completed(running), start=1):
            rec, job = done.result(), running[done]
            if isinstance(rec, str):  # no record: the sweep ends "did not finish"
                what, status = rec, "failed"
            else:
                merge_records(results, [rec])
                write_summary(opts.results_dir)
                out.append(rec)
                status = rec.status
                what = rec.error if status != "finished" else f"{rec.metrics.get(WALL, 0):.0f} s"  # fmt: skip
            print(f"[{i}/{len(jobs)} at {time.perf_counter() - t0:.0f} s] {job['cell']} seed "
                  f"{job['seed']}: {status} ({what})", flush=True)  # fmt: skip
    return out

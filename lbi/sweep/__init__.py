"""Sweeps: the pipeline's stage functions on Ray Tune, one run record per trial.

A sweep (``sweeps/*.py``) is a list of :class:`Cell` s (one cell of a paper table:
dotted overrides of ``params.yaml`` and a mode) crossed with seeds. Each (cell, seed)
is one trial (:func:`~lbi.sweep.trial.run_trial`): :mod:`lbi.stages` called in order on
the resolved params, outputs under ``<out>/trials/<key>/``. Each finished trial is one
:class:`lbi.record.RunRecord` in MLflow (a run nested under the sweep invocation's
parent run) and in ``results/<sweep>.jsonl``. The records are the cache: a trial whose
key (params, mode, source, code and data fingerprints) has a finished record is not run
again; ``--check`` lists records that are stale for the current code or data.

Modules: :mod:`~lbi.sweep.spec` (cells, params resolution), :mod:`~lbi.sweep.trial`
(one trial), :mod:`~lbi.sweep.runner` (Ray Tune, records, ``--check``).
"""

from lbi.sweep.runner import SweepError, check, context, init_ray, run_sweep, summary
from lbi.sweep.spec import (
    Cell,
    RunOptions,
    SearchSpec,
    SweepSpec,
    budget,
    cells,
    resolve_params,
)
from lbi.sweep.trial import Context, file_lock, run_trial, trial_key

__all__ = [
    "Cell",
    "Context",
    "RunOptions",
    "SearchSpec",
    "SweepError",
    "SweepSpec",
    "budget",
    "cells",
    "check",
    "context",
    "file_lock",
    "init_ray",
    "resolve_params",
    "run_sweep",
    "run_trial",
    "summary",
    "trial_key",
]

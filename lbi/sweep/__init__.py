"""Sweeps: the pipeline's stage functions on Ray Tune, one run record per trial.

A sweep (``sweeps/*.py``) is :class:`Cell` s (a paper-table cell: dotted overrides of
``params.yaml``, a mode) x seeds. Each (cell, seed) is one trial: :mod:`lbi.stages` in
order on the resolved params (:mod:`~lbi.sweep.trial`), one :class:`lbi.record.RunRecord`
in MLflow (nested under the sweep invocation's run) and in ``results/<sweep>.jsonl``.
The records are the cache: a trial whose key (params, mode, source, code and data
fingerprints) has a finished record is not run again (:mod:`~lbi.sweep.runner`).
"""

from lbi.sweep.runner import check, context, init_ray, run_sweep, summary
from lbi.sweep.spec import Cell, RunOptions, SearchSpec, SweepSpec, budget, cells, resolve_params
from lbi.sweep.trial import Context, file_lock, run_trial, trial_key

__all__ = ["Cell", "Context", "RunOptions", "SearchSpec", "SweepSpec", "budget",
           "cells", "check", "context", "file_lock", "init_ray", "resolve_params", "run_sweep",
           "run_trial", "summary", "trial_key"]  # fmt: skip

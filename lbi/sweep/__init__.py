"""Sweeps: the pipeline's stage functions on Ray Tune, one run record per trial.

A sweep (``sweeps/*.py``) is :class:`Cell` s (dotted ``params.yaml`` overrides, a mode) x
seeds; a trial runs :mod:`lbi.stages` in order on the resolved params and writes one
:class:`lbi.record.RunRecord` (MLflow and ``results/<sweep>.jsonl``). A trial whose key
already has a finished record is not run again (:mod:`~lbi.sweep.runner`).
"""

from lbi.sweep.runner import check, context, init_ray, plan, revalidate, run_sweep, summary
from lbi.sweep.spec import Cell, RunOptions, SearchSpec, SweepSpec, budget, cells, resolve_params
from lbi.sweep.trial import Context, file_lock, run_trial, trial_key

__all__ = ["Cell", "Context", "RunOptions", "SearchSpec", "SweepSpec", "budget",
           "cells", "check", "context", "file_lock", "init_ray", "plan", "resolve_params", "revalidate",
           "run_sweep",
           "run_trial", "summary", "trial_key"]  # fmt: skip

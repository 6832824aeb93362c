"""The one Ray Tune runner behind every ablation sweep (``sweeps/*.py``).

A sweep is a list of :class:`Cell` s (one setting of the ablated factor, i.e. one cell
of a paper table) crossed with a grid of seeds; each (cell, seed) is one Tune trial and
one MLflow run. :func:`~lbi.sweep.trainable.trial` trains with the pipeline's own loop
(:func:`lbi.experiment.train_phase`) and evaluates with :mod:`lbi.evaluate`, so a sweep
cell and a pipeline run differ only in their config.

Trial modes (``Cell.mode``):

- ``progressive``  stage 1 (coarse pose), then stage 1 frozen and stage 2 (refined pose);
  the pipeline's schedule. Metrics: those of :func:`lbi.evaluate.evaluate_source`.
- ``stage1``       stage 1 only; coarse-pose metrics (``*_coarse_*``) and the stage-1
  background attention. Tables 5, 6 and 11 report the coarse pose.
- ``e2e_fine`` / ``e2e_both``  end to end (Table 4, rows 1-2) for the same total epoch
  budget as progressive (stage-1 epochs + stage-2 epochs), with the stage-1 optimiser
  settings.

Sharing and resuming:

- Stage 1 is cached in ``<out>/stage1_cache/<hash>/stage1.pt``, keyed by everything that
  influences it (model minus the stage-2 fields, ``train_stage1``, source, seed, data and
  code fingerprints); an ``fcntl`` lock makes concurrent trials wait rather than train it
  twice. Trials that differ only in stage-2 settings (r, stage-2 depth, stage-2 lr)
  share it.
- Each trial trains in ``<out>/trials/<trial hash>/`` (under a lock); ``train_phase``
  resumes from its ``last.pt``, so a retried (``FailureConfig``) or restored
  (``Tuner.restore``) trial continues where it stopped, and reuses its MLflow run. The
  hash does not name the sweep: a trial another sweep already finished is evaluated
  again (and logged in this sweep's MLflow experiment), not retrained. Folders of the
  older ``<out>/<sweep>/ckpt/<hash>/`` layout are moved there on first use.
- Every epoch is reported to Tune (``epoch_global`` counts epochs over both phases, the
  ASHA time axis) and logged to MLflow; epochs done before a restart or found in the
  cache are replayed, so every trial reports the same epoch sequence.

Modules: :mod:`~lbi.sweep.spec` (what to run, config hashes), :mod:`~lbi.sweep.trainable`
(one trial), :mod:`~lbi.sweep.runner` (Ray, MLflow experiment, Tuner),
:mod:`~lbi.sweep.results` (results.csv, mean ± std summary).
"""

from lbi.sweep.results import format_summary, results_frame, summarize, write_results
from lbi.sweep.runner import SweepError, init_ray, run_sweep
from lbi.sweep.spec import (
    MODES,
    Base,
    Cell,
    Entry,
    RunOptions,
    SearchSpec,
    SweepSpec,
    resolve,
    stage1_key,
    trial_key,
)
from lbi.sweep.trainable import EpochReporter, evaluate_stage1, file_lock, trial

__all__ = [
    "MODES",
    "Base",
    "Cell",
    "Entry",
    "EpochReporter",
    "RunOptions",
    "SearchSpec",
    "SweepError",
    "SweepSpec",
    "evaluate_stage1",
    "file_lock",
    "format_summary",
    "init_ray",
    "resolve",
    "results_frame",
    "run_sweep",
    "stage1_key",
    "summarize",
    "trial",
    "trial_key",
    "write_results",
]

"""Driver side: start Ray, create the MLflow experiment, run the Tuner, write results."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune import Callback
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from lbi.io import save_json
from lbi.sweep.results import results_frame, spec_record, write_results
from lbi.sweep.spec import (
    Base,
    RunOptions,
    SearchSpec,
    SweepSpec,
    base_to_dict,
    fingerprint,
    resolve,
    trial_key,
)
from lbi.sweep.trainable import trial


def trial_name(t: Any) -> str:
    """``<cell>_s<seed>_<id>`` in Tune's progress table."""
    cell = t.config.get("cell", {}).get("name", "trial")
    return f"{cell}_s{t.config.get('seed')}_{t.trial_id}"


def trial_dirname(t: Any) -> str:
    """Short trial folder names (cell names may hold '/', ',' or '=')."""
    return f"trial_{t.trial_id}"


# ----------------------------------------------------------------------------------
# Driver side
# ----------------------------------------------------------------------------------
class MlflowStatus(Callback):
    """Ends the MLflow run of a trial Tune stopped early (ASHA) as KILLED, of an errored
    one as FAILED; a trial that finished has already ended its run."""

    def __init__(self, tracking_uri: str, experiment_id: str) -> None:
        self.uri, self.exp_id = tracking_uri, experiment_id

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial.config, "KILLED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._end(trial.config, "FAILED")

    def _end(self, config: dict[str, Any], status: str) -> None:
        from mlflow.tracking import MlflowClient

        try:
            client = MlflowClient(self.uri)
            query = f"tags.`lbi.trial_key` = '{trial_key(config)}'"
            for r in client.search_runs([self.exp_id], filter_string=query):
                if r.info.status == "RUNNING":
                    client.set_terminated(r.info.run_id, status)
        except Exception as e:  # bookkeeping only: never fail the sweep for it
            print(f"sweep: could not mark a trial's MLflow run {status}: {e}")


# Telemetry off in the driver and in every worker (a remote cluster gets them explicitly).
QUIET_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "TQDM_DISABLE": "1",
}


def init_ray(opts: RunOptions) -> None:
    """Join ``opts.address`` or ``RAY_ADDRESS`` if set, else start a local cluster.

    On a cluster, every node must see the same ``--out`` folder, the stores and the
    tracking URI (shared file system or an MLflow server), and have ``lbi`` installed.
    """
    env = {k: os.environ.get(k, v) for k, v in QUIET_ENV.items()}
    os.environ.update(env)
    address = opts.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env={"env_vars": env})
    else:
        ray.init(
            num_cpus=opts.num_cpus or os.cpu_count(),
            include_dashboard=False,
            _temp_dir=opts.ray_tmp,
            configure_logging=False,
        )


class SweepError(ValueError):
    """A sweep cannot run as asked (the message says why and what to do)."""


def check_resumable(spec: SweepSpec, spec_file: Path) -> None:
    """``--resume`` continues the stored Tune experiment: refuse if it is another grid."""
    if not spec_file.exists():
        return
    stored, now = json.loads(spec_file.read_text()), spec_record(spec)
    if (stored["cells"], stored["seeds"]) != (now["cells"], now["seeds"]):
        raise SweepError(
            f"{spec_file}: --resume continues the stored sweep, whose cells or seeds differ "
            "from the ones asked for; drop --resume to start a new sweep"
        )


def run_sweep(
    spec: SweepSpec,
    base: Base,
    opts: RunOptions,
    *,
    search: SearchSpec | None = None,
    params_file: Path | None = None,
) -> Any:
    """Run ``spec`` (a grid of cells x seeds, or ``search``) on Ray Tune; return the ResultGrid.

    Call :func:`init_ray` first. Creates the MLflow experiment ``lbi-sweep-<name>`` here,
    before any trial starts; writes ``<out>/<name>/{results,summary}.csv`` and
    ``spec.json``. ``opts.resume`` restores the sweep's Tune experiment
    (``<out>/ray/<name>``) if there is one; otherwise a previous one is replaced (trial
    checkpoints, the stage-1 cache and MLflow runs are kept).
    """
    from lbi.data.store import open_store
    from lbi.tracking import base_tags, file_md5, setup_mlflow, tracking_uri

    out = Path(opts.out_dir).resolve()
    resume = opts.resume and tune.Tuner.can_restore(out / "ray" / spec.name)
    if resume:
        check_resumable(spec, out / spec.name / "spec.json")
    # Validate every cell (and searched key) now: a typo fails here, not in trial 17.
    base_d = base_to_dict(base)
    for c in spec.cells:
        resolve(base_d, c.overrides, spec.seeds[0])
    if search is not None:
        sample = {k: v.sample() if hasattr(v, "sample") else v for k, v in search.space.items()}
        resolve(base_d, {**spec.cells[0].overrides, **sample}, spec.seeds[0])
    uri = tracking_uri()
    exp_name = f"lbi-sweep-{spec.name}"
    exp_id = setup_mlflow(exp_name, uri)  # driver first: a fresh SQLite store races
    store = open_store(base.store_in)
    tags = base_tags(
        dataset=store.dataset,
        synthetic=store.synthetic,
        source=spec.source,
        stage=f"sweep:{spec.name}",
    )
    if params_file is not None:
        tags.update(
            {"dvc.params_md5": file_md5(Path(params_file)), "lbi.params_file": str(params_file)}
        )
    gpus = opts.gpus_per_trial
    if gpus is None:
        gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
    space: dict[str, Any] = {
        "sweep": spec.name,
        "table": spec.table,
        "source": spec.source,
        "base": base_d,
        "fingerprint": fingerprint(base, spec.source),
        "runtime": {
            "out_dir": str(out),
            "tracking_uri": uri,
            "experiment_id": exp_id,
            "tags": tags,
            "cpus_per_trial": opts.cpus_per_trial,
        },
    }
    if search is None:
        space["cell"] = tune.grid_search([dataclasses.asdict(c) for c in spec.cells])
        space["seed"] = tune.grid_search(list(spec.seeds))
        tune_config = tune.TuneConfig(
            max_concurrent_trials=opts.max_concurrent or None,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_dirname,
        )
    else:
        space["cell"] = dataclasses.asdict(spec.cells[0])
        space["seed"] = spec.seeds[0]
        space["search"] = dict(search.space)
        epochs = _total_epochs(spec.cells[0].mode, base)
        searcher: Any = OptunaSearch(seed=search.seed)
        if opts.max_concurrent:
            searcher = ConcurrencyLimiter(searcher, max_concurrent=opts.max_concurrent)
        tune_config = tune.TuneConfig(
            metric=search.metric,
            mode=search.mode,
            search_alg=searcher,
            scheduler=ASHAScheduler(
                time_attr="epoch_global",
                max_t=epochs + 1,  # +1: ASHA stops at max_t, before the final evaluation
                grace_period=min(search.grace_period, epochs),
                reduction_factor=search.reduction_factor,
            ),
            num_samples=search.num_samples,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_dirname,
        )
    trainable = tune.with_resources(trial, {"cpu": opts.cpus_per_trial, "gpu": gpus})
    run_config = tune.RunConfig(
        name=spec.name,
        storage_path=str(out / "ray"),
        failure_config=tune.FailureConfig(max_failures=opts.max_failures),
        callbacks=[MlflowStatus(uri, exp_id)],
        verbose=opts.verbose,
    )
    exp_dir, spec_file = out / "ray" / spec.name, out / spec.name / "spec.json"
    if resume:
        print(f"sweep {spec.name}: resuming {exp_dir}")
        tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_errored=True)
    else:
        if exp_dir.exists():
            shutil.rmtree(exp_dir)  # Tune state only; checkpoints and MLflow runs stay
        tuner = tune.Tuner(
            trainable, param_space=space, tune_config=tune_config, run_config=run_config
        )
    save_json(spec_file, spec_record(spec))
    grid = tuner.fit()
    df = results_frame(grid)
    write_results(spec, df, out / spec.name)
    return grid


def _total_epochs(mode: str, base: Base) -> int:
    e1, e2 = base.train_stage1.epochs, base.train_stage2.epochs
    return e1 if mode == "stage1" else e1 + e2

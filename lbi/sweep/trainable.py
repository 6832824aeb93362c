"""Inside a Ray Tune trial: train with the pipeline's loop, evaluate, log, report."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from lbi.config import to_dict
from lbi.model import ModelConfig
from lbi.sweep.spec import (
    finetunes_stage1,
    resolve,
    stage1_key,
    stage1_model_config,
    trial_key,
    trial_overrides,
)
from lbi.train import TrainConfig


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


TRIALS = "trials"  # <out>/trials/<trial key>/: one folder per trial, shared by all sweeps


def adopt_legacy_trial(trial_dir: Path) -> None:
    """Move a trial folder of the older per-sweep layout (``<out>/<sweep>/ckpt/<key>``) to
    ``trial_dir`` (``<out>/trials/<key>``) when that does not exist yet.

    The key hashes what a trial trains (resolved config, mode, source, data and code
    fingerprints), not the sweep that asked for it, so a trial finished by one sweep
    (e.g. ``compare_lifter``'s LBI) is resumed, not retrained, by another (Table 4's
    ``progressive_ft``). Call under the trial's lock.
    """
    if trial_dir.exists():
        return
    out = trial_dir.parent.parent
    for legacy in sorted(out.glob(f"*/ckpt/{trial_dir.name}")):
        if legacy.is_dir():
            trial_dir.parent.mkdir(parents=True, exist_ok=True)
            legacy.rename(trial_dir)  # same file system: atomic
            return


class EpochReporter:
    """Per-epoch sink for ``train_phase``: logs to MLflow and reports to Ray Tune.

    Called as ``train_phase(on_epoch=reporter)`` after each epoch. Counts epochs over
    phases (``epoch_global``) and replays
    epochs a phase did not run here (resumed from ``last.pt``, or cached).
    """

    def __init__(self, mlflow_module: Any, report: Any, logged_steps: int = 0) -> None:
        self.mlflow, self.report = mlflow_module, report
        self.logged_steps = logged_steps  # steps an earlier attempt logged to this MLflow run
        self.offset = 0  # epochs of finished phases
        self.done = 0  # epochs of the current phase reported
        self.phase_index = 0
        self.ckpt_dir: Path | None = None
        self.last: dict[str, float] = {}

    def start_phase(self, ckpt_dir: Path | None) -> None:
        self.ckpt_dir, self.done = ckpt_dir, 0
        self.phase_index += 1

    def __call__(self, step: int, metrics: dict[str, float]) -> None:
        if step > self.done + 1 and self.ckpt_dir is not None:  # resumed mid-phase
            from lbi.train import load_checkpoint

            history = load_checkpoint(self.ckpt_dir / "last.pt")["history"]
            for h in history[self.done : step - 1]:
                self._emit(h)
        self._emit(metrics)

    def end_phase(self, history: list[dict[str, float]]) -> None:
        for h in history[self.done :]:  # epochs not run here (cached / already finished)
            self._emit(h)
        self.offset += len(history)

    def _emit(self, metrics: dict[str, float]) -> None:
        self.done += 1
        m = {k: float(v) for k, v in metrics.items() if k != "epoch"}
        step = self.offset + self.done
        if step > self.logged_steps:
            self.mlflow.log_metrics({**m, "phase_index": float(self.phase_index)}, step=step)
        self.last = m
        self.report({**m, "epoch_global": step, "phase_index": self.phase_index})


def _train_stage1(cfg: dict[str, Any], ds: Any, folder: Path, rep: EpochReporter) -> Path:
    """``<folder>/stage1.pt`` from the shared cache, trained under a lock if absent.

    Trials waiting on the lock replay the history of the one that trained it.
    """
    from lbi.experiment import train_phase
    from lbi.io import save_json
    from lbi.model import build_model
    from lbi.train import load_checkpoint, seed_everything

    out = folder / "stage1.pt"
    with file_lock(folder.with_suffix(".lock")):
        if out.exists():
            rep.start_phase(None)
            rep.end_phase(load_checkpoint(out)["history"])
            return out
        t1: TrainConfig = cfg["train_stage1"]
        m1 = stage1_model_config(cfg["model"])
        seed_everything(t1.seed)  # the initial weights depend on the seed only
        model = build_model(m1)
        rep.start_phase(folder / "ckpt")
        res = train_phase(
            model, "stage1", ds, t1, folder / "ckpt", out, on_epoch=rep, progress=False
        )
        rep.end_phase(res.history)
        save_json(folder / "key.json", {"model": to_dict(m1), "train": to_dict(t1)})
    return out


def _stage2_model(stage1_ckpt: Path, m: ModelConfig, seed: int) -> torch.nn.Module:
    """The stage-2 model: the pipeline's ``stage2_model_from_stage1`` when the depth matches
    the cached stage 1; else a fresh (seeded) stage 2 on the cached stage-1 weights."""
    from lbi.experiment import stage2_model_from_stage1
    from lbi.model import build_model
    from lbi.train import load_checkpoint, seed_everything

    st = load_checkpoint(stage1_ckpt)
    if st["model_args"]["stage2_layers"] == m.stage2_layers:
        return stage2_model_from_stage1(stage1_ckpt, m.retention, seed=seed)
    seed_everything(seed)
    model = build_model(m)
    stage2 = ("stage2.", "refined_head.")
    weights = {k: v for k, v in st["model"].items() if not k.startswith(stage2)}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    bad = [k for k in missing if not k.startswith(stage2)] + list(unexpected)
    if bad:
        raise RuntimeError(f"{stage1_ckpt}: stage-1 weights do not fit {m}: {bad[:5]}")
    return model


def evaluate_stage1(
    model: torch.nn.Module, ds: Any, base: dict[str, Any], device: str
) -> dict[str, float]:
    """Coarse-pose metrics (pipeline keys ``{test,cross}_coarse_*``) and stage-1 attention."""
    return _stage1_output_metrics(model, ds, base, device, "coarse", with_attention=True)


def _stage1_output_metrics(
    model: torch.nn.Module,
    ds: Any,
    base: dict[str, Any],
    device: str,
    name: str,
    *,
    with_attention: bool = False,
) -> dict[str, float]:
    """Flat ``{test,cross}_<name>_*`` metrics of the model's ``stage=1`` pose (an LBI's
    coarse pose, a lifter's only pose), plus ``*_stage1_*`` attention if asked."""
    from lbi.evaluate import attention_metrics, cross_metrics, indomain_metrics, run_model

    flat: dict[str, float] = {}
    for split, d in (("test", ds.test), ("cross", ds.cross)):
        pred = run_model(
            model,
            d,
            stage=1,
            flip_test=base["flip_test"],
            batch_size=base["eval_batch_size"],
            device=device,
            with_attention=with_attention,  # from the un-mirrored pass
        )
        pose = pred.poses["coarse"]
        m = indomain_metrics(pose, d)[0] if split == "test" else cross_metrics(pose, d)
        flat.update({f"{split}_{name}_{k}": v for k, v in m.items()})
        if with_attention:
            att = attention_metrics(pred, d, base["attention_radius_px"])
            flat.update({f"{split}_stage1_{k}": v for k, v in att.items()})
    return flat


def _train_lifter(
    cfg: dict[str, Any], ds: Any, base: dict[str, Any], rep: EpochReporter, trial_dir: Path
) -> dict[str, float]:
    """The 2D-only baseline (``baseline_model`` / ``baseline_train``), as the pipeline's
    ``train_baseline`` stage trains it; metrics under the pipeline's ``*_baseline_*`` keys."""
    from lbi.experiment import train_phase
    from lbi.model import build_model
    from lbi.train import resolve_device, seed_everything

    tb = cfg["baseline_train"]
    seed_everything(tb.seed)
    model = build_model(cfg["baseline_model"])
    ds.train.flip = tb.flip_augment
    rep.start_phase(trial_dir / "lifter")
    res = train_phase(
        model, "lifter", ds, tb, trial_dir / "lifter", trial_dir / "lifter.pt", on_epoch=rep,
        progress=False,
    )  # fmt: skip
    rep.end_phase(res.history)
    return _stage1_output_metrics(model, ds, base, str(resolve_device(tb.device)), "baseline")


def _find_run(client: Any, exp_id: str, key: str, trial_id: str) -> str | None:
    """The unfinished MLflow run this trial continues: its own (a retry, or a sweep
    restored after an interruption, which may have ended it KILLED), else one of the same
    config left RUNNING or FAILED by a crashed sweep."""
    runs = client.search_runs(
        [exp_id], filter_string=f"tags.`lbi.trial_key` = '{key}'", max_results=50
    )

    def own(r: Any) -> bool:
        return r.data.tags.get("lbi.tune_trial_id") == trial_id

    for r in sorted(runs, key=lambda r: not own(r)):  # its own run first
        if r.info.status in ("RUNNING", "FAILED") or (own(r) and r.info.status == "KILLED"):
            return r.info.run_id
    return None


def trial(config: dict[str, Any]) -> None:
    """One (cell, seed): train with ``train_phase``, evaluate, log to MLflow, report to Tune.

    The MLflow run ends FINISHED, KILLED (stopped early by the scheduler: Tune ends the
    training thread with ``SystemExit``) or FAILED (an error; a retry continues the run).
    """
    import mlflow
    from mlflow.tracking import MlflowClient
    from ray import tune

    from lbi.experiment import DataPaths, make_datasets
    from lbi.tracking import flatten

    rt, cell, seed = config["runtime"], config["cell"], int(config["seed"])
    torch.set_num_threads(max(1, int(rt["cpus_per_trial"])))
    base = config["base"]
    cfg = resolve(base, trial_overrides(config), seed)
    dp = DataPaths(Path(base["store_in"]), Path(base["store_cross"]), Path(base["detections"]))
    t1 = cfg["train_stage1"]  # the pipeline's augmentation settings, same as train_stage1
    ds = make_datasets(
        dp,
        config["source"],
        flip=t1.flip_augment,
        seed=seed,
        background_augment=t1.background_augment,
        color_augment=t1.color_augment,
    )
    for m in ("model", "baseline_model"):
        cfg[m] = dataclasses.replace(cfg[m], num_joints_in=ds.train.num_joints_in)
    key = trial_key(config)

    mlflow.set_tracking_uri(rt["tracking_uri"])
    client = MlflowClient()
    trial_id = str(tune.get_context().get_trial_id())
    run_id = _find_run(client, rt["experiment_id"], key, trial_id)
    tags = {
        **rt["tags"],
        "lbi.sweep": config["sweep"],
        "lbi.table": cell.get("table") or config["table"],
        "lbi.row": cell.get("row") or cell["name"],
        "lbi.column": cell["column"],
        "lbi.cell": cell["name"],
        "lbi.mode": cell["mode"],
        "lbi.seed": str(seed),
        "lbi.source_2d": config["source"],
        "lbi.trial_key": key,
        "lbi.tune_trial_id": trial_id,
        "lbi.finetune_stage1": str(finetunes_stage1(config)).lower(),
    }
    if run_id is None:
        mlflow.start_run(
            experiment_id=rt["experiment_id"], run_name=f"{cell['name']}-s{seed}", tags=tags
        )
        if cell["mode"] == "lifter":
            params = {
                "model": to_dict(cfg["baseline_model"]),
                "train": to_dict(cfg["baseline_train"]),
            }
        else:
            params = {
                "model": to_dict(cfg["model"]),
                "train_stage1": to_dict(cfg["train_stage1"]),
                "train_stage2": to_dict(cfg["train_stage2"]),
            }
        params |= {
            "mode": cell["mode"],
            "source": config["source"],
            "seed": seed,
            "overrides": trial_overrides(config),
        }
        mlflow.log_params(flatten(params))
        logged = 0
    else:
        mlflow.start_run(run_id=run_id)
        logged = max((m.step for m in client.get_metric_history(run_id, "phase_index")), default=0)
    s1_key = stage1_key(cfg, config["source"], config["fingerprint"])
    if cell["mode"] in ("progressive", "stage1"):
        mlflow.set_tag("lbi.stage1_key", s1_key)
    status = "FAILED"
    try:
        out = Path(rt["out_dir"])
        trial_dir = out / TRIALS / key
        with file_lock(trial_dir.with_suffix(".lock")):
            adopt_legacy_trial(trial_dir)
            rep = EpochReporter(mlflow, tune.report, logged)
            metrics = _train_and_evaluate(
                cfg, cell["mode"], ds, base, rep, trial_dir, out / "stage1_cache" / s1_key
            )
            mlflow.log_metrics(metrics)
            status = "FINISHED"
            tune.report({**rep.last, **metrics, "epoch_global": rep.offset, "final": 1.0})
    except SystemExit:
        status = "KILLED"
        raise
    finally:
        mlflow.end_run(status)


def _train_and_evaluate(
    cfg: dict[str, Any],
    mode: str,
    ds: Any,
    base: dict[str, Any],
    rep: EpochReporter,
    trial_dir: Path,
    stage1_dir: Path,
) -> dict[str, float]:
    """Train the phases of ``mode`` (stage 1 from the shared ``stage1_dir``); return the
    final metrics."""
    from lbi.evaluate import evaluate_source
    from lbi.experiment import train_phase
    from lbi.model import build_model
    from lbi.train import load_model, resolve_device, seed_everything

    if mode == "lifter":
        return _train_lifter(cfg, ds, base, rep, trial_dir)
    t1, t2 = cfg["train_stage1"], cfg["train_stage2"]
    device = str(resolve_device(t1.device))
    if mode in ("progressive", "stage1"):
        s1 = _train_stage1(cfg, ds, stage1_dir, rep)
        if mode == "stage1":
            return evaluate_stage1(load_model(s1)[0], ds, base, device)
        model = _stage2_model(s1, cfg["model"], t2.seed)
        ds.train.flip = t2.flip_augment
        rep.start_phase(trial_dir / "stage2")
        res = train_phase(
            model,
            t2.phase,  # stage 1 frozen, or trained on (train_stage2.finetune_stage1)
            ds,
            t2,
            trial_dir / "stage2",
            trial_dir / "stage2.pt",
            on_epoch=rep,
            progress=False,
            extra_state={"retention": cfg["model"].retention},
        )
    else:  # end to end for the progressive budget, with the stage-1 optimiser settings
        te = dataclasses.replace(t1, epochs=t1.epochs + t2.epochs)
        seed_everything(te.seed)
        model = build_model(cfg["model"])
        rep.start_phase(trial_dir / mode)
        res = train_phase(
            model,
            mode,
            ds,
            te,
            trial_dir / mode,
            trial_dir / f"{mode}.pt",
            on_epoch=rep,
            progress=False,
        )
    rep.end_phase(res.history)
    metrics, _, _ = evaluate_source(
        model,
        None,
        ds.test,
        ds.cross,
        flip_test=base["flip_test"],
        batch_size=base["eval_batch_size"],
        radius_px=base["attention_radius_px"],
        device=device,
    )
    return metrics

"""The units of work, one function each: the pipeline's stages and a sweep trial's steps.

``pipeline/<stage>.py`` parses its arguments, loads ``params.yaml`` and calls one of these;
a sweep trial (:mod:`lbi.sweep.trial`) resolves params + its overrides and calls the same
functions in order, with the outputs pointed at the trial's folder. Everything that
decides the numbers happens here, once: seeding, datasets (each training stage augments
as its own params section says), model construction, the checkpoint/resume folder, the
MLflow run of the stage, and the files written.

=================  ============================================  ===========================
function           reads                                          writes (``StagePaths``)
=================  ============================================  ===========================
pretrain2d         stores, ``pretrain2d``, ``model.backbone``    ``pretrain2d/``, store_pose2d
train_stage1       detections, encoder init, ``model``,          ``stage1.pt``
                   ``train_stage1``
prune              ``stage1.pt``, ``prune``                      ``prune/<source>/``
train_stage2       ``stage1.pt``, ``prune.retention``,           ``stage2.pt``
                   ``train_stage2``
train_end_to_end   encoder init, ``model``, ``train_stage1``,     ``e2e_fine.pt``/``e2e_both.pt``
                   ``train_stage2.epochs``, ``prune``
train_lifter       detections, ``lifter``                        ``lifter.pt``
evaluate           the models of ``modes``, ``evaluate``         metrics, eval/<source>/
=================  ============================================  ===========================

``tracker`` (default: :func:`pipeline_tracker`, a stage run nested under the pipeline's
MLflow run) is how a stage logs: ``tracker(stage, source, ds, params)`` is a context
manager yielding an object with ``log_metrics(metrics, step=None)``,
``log_artifact(path, artifact_path=None)``, ``log_dataset(ds, context)`` and
``log_model(model, example)`` (:class:`lbi.tracking.RunLogger`); a sweep trial passes its
own. With ``records``, evaluate hands its records to ``log_evaluations(records,
datasets)`` (one run per model, the same metric names) instead of ``log_metrics``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lbi.config import ConfigError, to_dict
from lbi.experiment import (
    MODEL_FILES,
    Datasets,
    StagePaths,
    cross_val_dataset,
    encoder_init,
    fingerprints,
    load_model_file,
    make_datasets,
    make_record,
    stage2_model_from_stage1,
    train_phase,
    weights_digest,
)
from lbi.model import ModelConfig
from lbi.params import Params, check_crop_sizes
from lbi.tracking import model_params
from lbi.train import VAL_EVERY, FitResult, TrainConfig

Tracker = Callable[[str, str, Datasets, dict[str, Any]], AbstractContextManager[Any]]
PIPELINE_MODES = ("progressive", "lifter")  # what the pipeline's evaluate stage evaluates
log = logging.getLogger("lbi")


@contextmanager
def pipeline_tracker(
    stage: str, source: str, ds: Datasets, params: dict[str, Any]
) -> Iterator[Any]:
    """The stage's MLflow run, nested under the pipeline's (:func:`lbi.tracking.stage_run`)."""
    from lbi.tracking import stage_run

    src = None if source == stage else source  # pretrain2d: no 2D source
    with stage_run(stage, dataset=ds.dataset, synthetic=ds.synthetic, source=src,
                   params=params, run_name=stage if src is None else f"{stage}@{src}") as mlf:  # fmt: skip
        yield mlf


def _train(
    stage: str,
    phase: str,
    name: str,
    source: str,
    model_fn: Callable[[Datasets], Any],
    cfg: TrainConfig,
    paths: StagePaths,
    ds: Datasets,
    log_params: dict[str, Any],
    *,
    tracker: Tracker | None,
    progress: bool,
    extra_state: dict[str, Any] | None = None,
    epoch_offset: int = 0,
    val_every: int = VAL_EVERY,
) -> FitResult:
    """The body every training stage shares: the model (initial weights from ``cfg.seed``
    only), the MLflow run, the loop (resuming from ``paths.ckpt``; validating every
    ``val_every``-th epoch and the last), the model file and the per-epoch curve."""
    from lbi.io import save_json
    from lbi.tracking import model_example
    from lbi.train import load_model, seeded

    with seeded(cfg.seed):
        model = model_fn(ds)
    with (tracker or pipeline_tracker)(stage, source, ds, log_params) as mlf:
        res = train_phase(model, phase, ds, cfg, paths.ckpt(name, source),
                          paths.model(name, source), mlflow_module=mlf, progress=progress,
                          extra_state=extra_state, epoch_offset=epoch_offset,
                          val_every=val_every)  # fmt: skip
        mlf.log_artifact(str(res.checkpoint), artifact_path="checkpoints")
        mlf.log_dataset(ds.train, "training")
        trained, _ = load_model(res.checkpoint)
        mlf.log_model(trained, model_example(trained, ds.test), name=name)
    # epoch_total: one axis for a model's phases (stage 2 continues stage 1's epochs)
    curve = [{**h, "epoch_total": float(epoch_offset + h["epoch"])} for h in res.history]
    save_json(paths.curve(name, source), curve)
    return res


# ----------------------------------------------------------------------------------
# pretrain2d
# ----------------------------------------------------------------------------------
def _clear_pose2d_store(store_dir: Path) -> None:
    """Remove the files a previous ``pretrain2d`` wrote in ``store_dir`` (a pose2d store:
    ``meta.json``, ``<split>.npz``, ``<split>_crops.npy``, ``<split>_fgmask.npy``); refuse
    when it holds anything else, rather than delete what the stage did not write."""
    store_dir.mkdir(parents=True, exist_ok=True)
    entries = sorted(store_dir.iterdir())
    meta = store_dir / "meta.json"
    splits: list[str] = []
    if meta.exists():
        try:
            m = json.loads(meta.read_text())
            from lbi.data.pose2d_set import POSE2D_DATASET

            if m.get("dataset") == POSE2D_DATASET:
                splits = list(m.get("splits", {}))
        except (ValueError, OSError):
            splits = []
    own = {meta.name} if splits else set()
    own |= {f"{s}{suffix}" for s in splits for suffix in (".npz", "_crops.npy", "_fgmask.npy")}
    foreign = [e for e in entries if e.name not in own and not e.name.startswith(".")]
    if foreign:
        raise ConfigError(
            f"paths.store_pose2d = {store_dir} holds files the pretrain2d stage did not write "
            f"(e.g. {foreign[0].name}); point paths.store_pose2d at an empty folder or a "
            "pretrain2d store, or empty it yourself"
        )
    for e in entries:
        if e.is_file() and e.name in own:
            e.unlink()


def pretrain2d(p: Params, paths: StagePaths, *, tracker: Tracker | None = None,
               progress: bool = False) -> dict[str, Any]:  # fmt: skip
    """Render the 2D set and pretrain the encoder on it; write ``backbone.pt`` (timm names)
    and ``backbone.json``; returns the latter. ``pretrain2d.enabled: false``: writes only
    ``backbone.json`` naming ``model.pretrained`` (and an empty ``store_pose2d``)."""
    check_crop_sizes(p, stores=False)  # the pose2d store is rebuilt here
    from lbi.data.dataset import PoseDataset
    from lbi.data.pose2d_set import POSE2D_DATASET, Pose2DSetConfig, generate_pose2d_set
    from lbi.io import save_json, save_torch
    from lbi.model import ModelConfig, build_model
    from lbi.train import load_model

    out, cfg, store_dir = paths.pretrain2d, p.pretrain2d, paths.store_pose2d
    out.mkdir(parents=True, exist_ok=True)
    _clear_pose2d_store(store_dir)
    if not cfg.enabled:
        info: dict[str, Any] = {"enabled": False, "pretrained": p.model.pretrained}
        save_json(out / "backbone.json", info)
        return info
    set_cfg = Pose2DSetConfig(takes_per_clip=cfg.takes_per_clip, views=cfg.views)
    summary = generate_pose2d_set(p.embedded, set_cfg, store_dir, progress=progress)
    t = cfg.train
    ds = Datasets(
        train=PoseDataset(store_dir, "train", flip=t.flip_augment, seed=t.seed,
                          background_augment=t.background_augment, color_augment=t.color_augment),
        test=PoseDataset(paths.store_in, p.data.test_split),
        cross=PoseDataset(paths.store_cross, p.data.cross_split),
        cross_val=cross_val_dataset(paths.store_cross),  # curves: the wild val split
        source="gt", synthetic=True, dataset=POSE2D_DATASET,
    )  # fmt: skip
    mcfg = ModelConfig(
        arch="keypoints2d", backbone=p.model.backbone, input_hw=p.model.input_hw, dim=cfg.head_dim
    )
    kp = dataclasses.replace(paths, models=out.parent)  # <models>/pretrain2d/keypoints2d.pt
    log_params = {"model": model_params(mcfg), "train": to_dict(t), "pose2d_set": to_dict(set_cfg)}
    res = _train("pretrain2d", "pose2d", "keypoints2d", out.name, lambda _ds: build_model(mcfg),
                 t, kp, ds, log_params, tracker=tracker, progress=progress)  # fmt: skip
    model, _ = load_model(res.checkpoint)
    save_torch(out / "backbone.pt", model.encoder.backbone.state_dict())
    last = res.history[-1]
    info = {
        "enabled": True, "backbone": p.model.backbone, "file": str(out / "backbone.pt"),
        "checkpoint": str(res.checkpoint), "train_samples": summary["train"],
        "val_test_error_px": last.get("val_test_error_px"),
        "val_cross_error_px": last.get("val_cross_error_px"), "synthetic": True,
    }  # fmt: skip
    save_json(out / "backbone.json", info)
    return info


# ----------------------------------------------------------------------------------
# LBI: stage 1, prune, stage 2; end to end
# ----------------------------------------------------------------------------------
def _encoder_init(p: Params, paths: StagePaths) -> str | None:
    init = encoder_init(p, paths)
    if init is not None and not Path(init).is_file():
        raise FileNotFoundError(
            f"encoder weights {init} not found: run `dvc repro pretrain2d` (pretrain2d.enabled) "
            "or fix model.pretrained in params.yaml"
        )
    return init


def stage1_model_config(m: ModelConfig, joints_in: int, init: str | None) -> ModelConfig:
    """The model stage 1 trains: ``model`` with the source's joint count, the encoder init,
    and the default AFSM retention (stage 1 has no AFSM; ``prune.retention`` is stage 2's,
    so changing it neither retrains stage 1 nor splits a sweep's shared stage 1)."""
    return dataclasses.replace(m, num_joints_in=joints_in, pretrained=init,
                               retention=ModelConfig().retention)  # fmt: skip


def train_stage1(p: Params, source: str, paths: StagePaths, *, tracker: Tracker | None = None,
                 progress: bool = False, val_every: int = VAL_EVERY) -> FitResult:  # fmt: skip
    """Encoder + stage 1 (TL, PGTL, TL) to the coarse pose: ``paths.model("stage1", source)``.

    The encoder starts from :func:`lbi.experiment.encoder_init`; resumes from
    ``paths.ckpt("stage1", source)``; a finished one is returned without training again.
    """
    check_crop_sizes(p)  # before any training: a wrong crop size fails now
    from lbi.model import build_model

    init = _encoder_init(p, paths)
    t = p.train_stage1
    ds = make_datasets(paths, source, t)

    def model_for(ds: Datasets) -> Any:  # the input joint count comes from the source
        return build_model(stage1_model_config(p.model, ds.train.num_joints_in, init))

    log_params = {"model": model_params(p.model), "train": to_dict(t), "source": source,
                  "encoder_init": init}  # fmt: skip
    extra = {"encoder_init": weights_digest(Path(init)) if init else None}  # new init: no resume
    return _train("train_stage1", "stage1", "stage1", source, model_for, t, paths, ds,
                  log_params, tracker=tracker, progress=progress, extra_state=extra,
                  val_every=val_every)  # fmt: skip


def prune(p: Params, source: str, paths: StagePaths, *,
          tracker: Tracker | None = None) -> dict[str, Any]:  # fmt: skip
    """Adaptive Feature Selection at ``prune.retention``: kept-token indices of the trained
    stage 1 on the test sets (``kept.npz``) and their statistics (``afsm.json``: retention,
    kept tokens, background shares); returns the statistics."""
    check_crop_sizes(p)  # before any training: a wrong crop size fails now
    from lbi.evaluate import fg_background_share, run_model
    from lbi.io import save_json, save_npz

    r = p.prune.retention
    model = stage2_model_from_stage1(paths, source, r)
    ds = make_datasets(paths, source)
    stats: dict[str, Any] = {"retention": r, "source": source}
    kept_arrays = {}
    with (tracker or pipeline_tracker)("prune", source, ds, {"prune.retention": r}) as mlf:
        for split, d in (("test", ds.test), ("cross", ds.cross)):
            pred = run_model(model, d, stage=2, flip_test=False, batch_size=p.evaluate.batch_size)
            kept = pred.kept_idx  # (N, K)
            assert kept is not None
            kept_arrays[split] = kept.astype(np.int32)
            fh, fw = model.feat_hw  # token grid (the encoder's stride, from ModelConfig)
            hw_tokens = fh * fw
            stats[f"{split}_kept_tokens"] = int(kept.shape[1])
            stats["hw_tokens"] = hw_tokens
            mask = d.store.fgmask(d.split)
            if mask is not None:
                # Share of kept tokens that are background (uniform attention over kept).
                onehot = np.zeros((len(kept), 1, hw_tokens), dtype=np.float32)
                np.put_along_axis(onehot[:, 0], kept, 1.0, axis=1)
                bg = fg_background_share(onehot, mask, (fh, fw))
                stats[f"{split}_kept_background_pct"] = 100.0 * float(bg.mean())
                allbg = fg_background_share(np.ones_like(onehot), mask, (fh, fw))
                stats[f"{split}_all_tokens_background_pct"] = 100.0 * float(allbg.mean())
        mlf.log_metrics({k: float(v) for k, v in stats.items()
                         if isinstance(v, int | float) and k != "retention"})  # fmt: skip
    dst = paths.prune / source
    save_npz(dst / "kept.npz", **kept_arrays)
    save_json(dst / "afsm.json", stats)
    return stats


def train_stage2(p: Params, source: str, paths: StagePaths, *, tracker: Tracker | None = None,
                 progress: bool = False, val_every: int = VAL_EVERY) -> FitResult:  # fmt: skip
    """Stage 2 on the AFSM-kept tokens (``prune.retention``), from the trained stage 1,
    frozen or trained on (``train_stage2.finetune_stage1``)."""
    check_crop_sizes(p)  # before any training: a wrong crop size fails now
    r, stage1 = p.prune.retention, paths.model("stage1", source)
    if not stage1.is_file():
        raise FileNotFoundError(f"{stage1}: missing; run `dvc repro train_stage1@{source}`")
    t = p.train_stage2
    ds = make_datasets(paths, source, t)
    log_params = {"model": model_params(p.model), "train": to_dict(t), "source": source,
                  "prune.retention": r}  # fmt: skip
    extra = {"retention": r, "stage1_weights": weights_digest(stage1)}  # not its history
    return _train("train_stage2", t.phase, "stage2", source,
                  lambda _ds: stage2_model_from_stage1(paths, source, r, seed=t.seed), t, paths, ds,
                  log_params, tracker=tracker, progress=progress, extra_state=extra,
                  epoch_offset=p.train_stage1.epochs, val_every=val_every)  # fmt: skip


def train_end_to_end(p: Params, source: str, paths: StagePaths, phase: str, *,
                     tracker: Tracker | None = None, progress: bool = False,
                     val_every: int = VAL_EVERY) -> FitResult:  # fmt: skip
    """End to end (``phase`` ``e2e_fine``: loss on the refined pose, ``e2e_both``: on both)
    for the progressive budget (stage-1 + stage-2 epochs) with the stage-1 optimiser
    settings (paper Table 4): ``paths.model(phase, source)``."""
    check_crop_sizes(p)  # before any training: a wrong crop size fails now
    from lbi.model import build_model

    if phase not in ("e2e_fine", "e2e_both"):
        raise ValueError(f"phase {phase!r}: expected e2e_fine or e2e_both")
    init = _encoder_init(p, paths)
    t = dataclasses.replace(p.train_stage1, epochs=p.train_stage1.epochs + p.train_stage2.epochs)
    ds = make_datasets(paths, source, t)

    def model_for(ds: Datasets) -> Any:
        return build_model(dataclasses.replace(
            p.model, num_joints_in=ds.train.num_joints_in, pretrained=init,
            retention=p.prune.retention))  # fmt: skip

    log_params = {"model": model_params(p.model), "train": to_dict(t), "source": source,
                  "prune.retention": p.prune.retention}  # fmt: skip
    return _train(f"train_{phase}", phase, phase, source, model_for, t, paths, ds, log_params,
                  tracker=tracker, progress=progress, val_every=val_every)  # fmt: skip


# ----------------------------------------------------------------------------------
# The 2D-only lifter
# ----------------------------------------------------------------------------------
def train_lifter(p: Params, source: str, paths: StagePaths, *, tracker: Tracker | None = None,
                 progress: bool = False, val_every: int = VAL_EVERY) -> FitResult:  # fmt: skip
    """The 2D-only lifter (``lifter``), same loop and budget as LBI: ``lifter.pt``.
    Warns when ``lifter.train.epochs`` is not LBI's budget (stage-1 + stage-2 epochs)."""
    from lbi.model import build_model

    t = p.lifter.train
    budget = p.train_stage1.epochs + p.train_stage2.epochs
    if t.epochs != budget:  # allowed (e.g. a budget study), but not the default comparison
        log.warning(
            "lifter.train.epochs is %d but LBI trains %d (train_stage1.epochs + "
            "train_stage2.epochs): the lifter does not get LBI's budget; set "
            "lifter.train.epochs: %d in params.yaml for the same-budget comparison",
            t.epochs, budget, budget,
        )  # fmt: skip
    ds = make_datasets(paths, source, t)

    def model_for(ds: Datasets) -> Any:
        return build_model(
            dataclasses.replace(p.lifter.model, num_joints_in=ds.train.num_joints_in)
        )

    log_params = {"model": model_params(p.lifter.model), "train": to_dict(t), "source": source}
    return _train("train_lifter", "lifter", "lifter", source, model_for, t, paths, ds,
                  log_params, tracker=tracker, progress=progress, val_every=val_every)  # fmt: skip


# ----------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------
def _examples(p: Params, ds: Datasets, outputs: dict[str, Any]) -> dict[str, np.ndarray]:
    """Attention maps and kept tokens of a few samples, and the joint-to-joint-area matrix."""
    import torch

    from lbi.model.analysis import default_radius, joint_area_attention

    examples: dict[str, np.ndarray] = {}
    radius = p.evaluate.attention_radius_px or default_radius(ds.test.crop_hw)
    for split, d in (("test", ds.test), ("cross", ds.cross)):
        att = outputs[split]["stage1"].attention  # (N, J, HW), already computed
        kept = outputs[split]["lbi"].kept_idx  # (N, K)
        idx = np.linspace(0, len(d) - 1, num=min(8, len(d))).astype(int)
        examples[f"{split}_index"] = idx
        examples[f"{split}_crops"] = np.asarray(d.crops[idx])
        examples[f"{split}_pose2d_px"] = d.pose2d_px[idx]
        examples[f"{split}_attention"] = att[idx]
        examples[f"{split}_kept_idx"] = kept[idx]
        mat = joint_area_attention(torch.from_numpy(att), torch.from_numpy(d.pose2d_px),
                                   p.model.feat_hw, d.crop_hw, radius)  # fmt: skip
        examples[f"{split}_joint_area"] = np.asarray(mat)
    return examples


def evaluate(
    p: Params,
    source: str,
    paths: StagePaths,
    *,
    modes: tuple[str, ...] = PIPELINE_MODES,
    tracker: Tracker | None = None,
    records: bool = True,
) -> dict[str, dict[str, float]]:
    """Evaluate the models of ``modes`` (a mode's model: ``progressive`` ``stage2.pt``,
    ``stage1`` ``stage1.pt`` (coarse pose), ``e2e_*`` its end-to-end model, ``lifter``
    ``lifter.pt``) by the paper's protocols; returns their flat metrics by mode.

    Writes ``paths.metrics/<source>.json`` (every mode's metrics, units in keys),
    ``paths.eval/<source>/tables.json`` (per-action Protocol 1/2) and, with an LBI mode,
    ``examples.npz`` (for the report's figures); with ``records``, the pipeline's run
    records ``paths.eval/<source>/records.jsonl`` (sweep ``pipeline``, one per mode).
    """
    check_crop_sizes(p)  # before any training: a wrong crop size fails now
    from lbi.evaluate import evaluate_source, stage1_metrics
    from lbi.io import save_json, save_npz
    from lbi.train import resolve_device

    e = p.evaluate
    models = {m: load_model_file(paths, MODEL_FILES[m], source) for m in modes}
    ds = make_datasets(paths, source)
    kw = {"flip_test": e.flip_test, "batch_size": e.batch_size, "radius_px": e.attention_radius_px}
    out: dict[str, dict[str, float]] = {}
    tables: dict[str, Any] = {"source": source, "dataset": ds.dataset, "synthetic": ds.synthetic,
                              "source_method": ds.test.source_meta.get("method")}  # fmt: skip
    examples: dict[str, np.ndarray] = {}
    with (tracker or pipeline_tracker)("evaluate", source, ds,
                                       {"evaluate.flip_test": e.flip_test}) as mlf:  # fmt: skip
        for mode, (model, st) in models.items():
            dev = str(
                resolve_device((p.lifter.train if mode == "lifter" else p.train_stage1).device)
            )
            if mode == "stage1":
                out[mode] = stage1_metrics(model, ds.test, ds.cross, device=dev, **kw)
                continue
            lbi, lifter = (None, model) if mode == "lifter" else (model, None)
            flat, tab, outputs = evaluate_source(lbi, lifter, ds.test, ds.cross, device=dev, **kw)
            out[mode] = flat
            tables.setdefault("per_action", {}).update(tab["per_action"])
            tables.update({k: v for k, v in tab.items() if k.endswith("_n")})
            if lbi is not None:
                tables.update({"retention": st["model_args"].get("retention"),
                               "stage2_phase": st.get("phase")})  # fmt: skip
                examples = examples or _examples(p, ds, outputs)
        flat_all = {k: v for m in out.values() for k, v in m.items()}
        mlf.log_dataset(ds.test, "evaluation")
        mlf.log_dataset(ds.cross, "evaluation")
        recs = pipeline_records(p, source, paths, out, ds) if records else []
        if recs:  # one run per model, the same metric names
            mlf.log_evaluations(recs, datasets=(ds.test, ds.cross))
        else:
            mlf.log_metrics(flat_all)
        dst = paths.eval / source
        save_json(dst / "tables.json", tables)
        if examples:
            save_npz(dst / "examples.npz", **examples)
        mlf.log_artifact(str(dst / "tables.json"))
    save_json(paths.metrics / f"{source}.json", flat_all)
    if records:
        from lbi.record import write_records

        write_records(paths.eval / source / "records.jsonl", recs)
    return out


def pipeline_records(p: Params, source: str, paths: StagePaths,
                     metrics: dict[str, dict[str, float]], ds: Datasets) -> list[Any]:  # fmt: skip
    """One :class:`~lbi.record.RunRecord` per evaluated mode (sweep ``pipeline``; LBI
    coarse + refined as mode ``progressive``)."""
    recs = []
    rows = {"progressive": "LBI", "lifter": "2D-only lifter"}
    for mode, m in metrics.items():
        code_fp, data_fp = fingerprints(p, mode, source, paths)
        rec = make_record(
            p, mode=mode, source=source, metrics=m, code_fp=code_fp, data_fp=data_fp,
            dataset=ds.dataset, synthetic=ds.synthetic,
            sweep="pipeline", table="pipeline", row=rows.get(mode, mode), column=source,
            cell=mode)  # fmt: skip
        # A DVC output must not depend on the commit (the lock is committed after the run):
        # the code fingerprint says what ran; the commit holding dvc.lock says when.
        recs.append(dataclasses.replace(rec, git_commit=""))
    return recs

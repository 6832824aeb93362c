"""The one training loop: both LBI stages, the end-to-end variants, the baselines, sweeps.

``fit`` trains a model for one *phase*:

- ``stage1``   encoder + stage 1 to the coarse pose (paper: first 20 epochs)
- ``stage2``   stage 1 frozen (no gradients, eval mode), stage 2 to the refined pose
- ``e2e_fine`` end to end, loss on the refined pose only      (paper Table 4, row 1)
- ``e2e_both`` end to end, loss on coarse + refined            (paper Table 4, row 2)
- ``lifter``   2D-only baselines (single output)
- ``pose2d``   encoder pretraining on 2D keypoints (:mod:`lbi.model.keypoints2d`; L1 in
  crop px, validation error in px)

Paper defaults: Adam, lr 1e-3 decayed x0.9 every 4 epochs, batch 128, MSE on
root-relative 3D joints (we compute it in metres: mm / 1000). bf16 autocast on CUDA,
gradient clipping, per-epoch validation (MPJPE, mm) on named validation sets, and an
atomic checkpoint every epoch with optimizer, scheduler and RNG state. A killed run
resumes from ``<ckpt_dir>/last.pt`` and finishes with the same weights as an
uninterrupted run (data order and flips depend only on (seed, epoch)). With ``ema_decay``
> 0 an exponential moving average of the weights (:mod:`lbi.ema`) is validated, saved in
``model.pt`` and carried in ``last.pt``.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from lbi.config import check_choice, check_range
from lbi.data.dataset import collate_batch
from lbi.ema import WeightAverage
from lbi.io import save_torch

log = logging.getLogger(__name__)

PHASES = ("stage1", "stage2", "e2e_fine", "e2e_both", "lifter", "pose2d")
CKPT_FORMAT = "lbi-ckpt/1"
VAL_EVERY = 1  # the pipeline validates every epoch; sweep trials less often (RunOptions.val_every)


class CheckpointError(RuntimeError):
    """A checkpoint is unreadable, foreign, or of another phase/configuration."""


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (``params.yaml`` sections ``train_stage1`` / ``train_stage2``)."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay: float = 0.9
    lr_decay_every: int = 4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    num_workers: int = 0
    flip_augment: bool = True
    background_augment: float = 0.0  # P(background -> random texture); synthetic stores only
    color_augment: float = 0.0  # P(photometric jitter: gamma, contrast, saturation, gain, noise)
    freeze_backbone: bool = False  # keep the (pretrained) encoder backbone fixed, BN in eval
    ema_decay: float = 0.0  # >0: validate and save an EMA of the weights (lbi/ema.py)
    amp: bool = True  # bf16 autocast on CUDA only; ignored on CPU
    device: str = "auto"  # "auto" | "cpu" | "cuda"
    max_batches_per_epoch: int = 0  # 0 = whole epoch; >0 caps it (smoke runs, sweeps)
    val_batch_size: int = 256

    def __post_init__(self) -> None:
        check_range("epochs", self.epochs, 1)
        check_range("batch_size", self.batch_size, 1)
        check_range("lr", self.lr, 0.0, lo_open=True)
        check_range("lr_decay", self.lr_decay, 0.0, 1.0, lo_open=True)
        check_range("lr_decay_every", self.lr_decay_every, 1)
        check_range("weight_decay", self.weight_decay, 0.0)
        check_range("grad_clip", self.grad_clip, 0.0)
        check_range("num_workers", self.num_workers, 0)
        check_range("background_augment", self.background_augment, 0.0, 1.0)
        check_range("color_augment", self.color_augment, 0.0, 1.0)
        check_range("ema_decay", self.ema_decay, 0.0, 0.99999)
        check_range("max_batches_per_epoch", self.max_batches_per_epoch, 0)
        check_range("val_batch_size", self.val_batch_size, 1)
        check_choice("device", self.device, ("auto", "cpu", "cuda"))


@dataclass
class FitResult:
    """What :func:`fit` returns: per-epoch history and the final checkpoint path."""

    history: list[dict[str, float]] = field(default_factory=list)
    checkpoint: Path | None = None
    resumed_from_epoch: int = 0
    seconds: float = 0.0


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda if available else cpu."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "train.device is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'"
        )
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (called by the loop, never on import)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block (e.g. model construction) under torch seed ``seed``, restoring the RNG after.

    Initial weights must depend on the seed only: ``fit`` seeds *after* the model exists.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _outputs_for_phase(phase: str) -> tuple[int, tuple[str, ...]]:
    """(forward stage, supervised outputs) for a phase."""
    return {
        "stage1": (1, ("coarse",)),
        "lifter": (1, ("coarse",)),
        "pose2d": (1, ("pose2d_px",)),
        "stage2": (2, ("refined",)),
        "e2e_fine": (2, ("refined",)),
        "e2e_both": (2, ("coarse", "refined")),
    }[phase]


def trainable_parameters(
    model: nn.Module, phase: str, freeze_backbone: bool = False
) -> list[nn.Parameter]:
    """Parameters optimised in ``phase``; stage 2 freezes stage 1 first.

    ``freeze_backbone``: the encoder backbone's parameters are left out (models with an
    ``encoder``; the loop also keeps its BatchNorm statistics fixed, see :func:`fit`).
    """
    if phase == "stage2":
        model.freeze_stage1()  # type: ignore[operator]
        return [p for p in model.stage2_parameters() if p.requires_grad]  # type: ignore[operator]
    fixed: set[int] = set()
    if freeze_backbone:
        fixed = {id(p) for p in _backbone(model).parameters()}
    return [p for p in model.parameters() if p.requires_grad and id(p) not in fixed]


def _backbone(model: nn.Module) -> nn.Module:
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        raise ValueError(
            f"freeze_backbone: {type(model).__name__} has no image encoder; set freeze_backbone: false"
        )
    return encoder.backbone


def phase_loss(
    phase: str, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]
) -> torch.Tensor:
    """The supervised loss of ``phase``: pose MSE (m²) summed over its outputs, or 2D L1 (px)."""
    _, supervised = _outputs_for_phase(phase)
    if phase == "pose2d":
        from lbi.model.keypoints2d import keypoint_loss_px

        return keypoint_loss_px(out["pose2d_px"], batch["pose2d_px"])
    return sum(pose_loss(out[k], batch["pose3d"]) for k in supervised)  # type: ignore[return-value]


def pose_loss(pred_mm: torch.Tensor, target_mm: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 3: sum over joints of squared error, averaged over the batch; in metres²."""
    d = (pred_mm.float() - target_mm.float()) / 1000.0  # (B, J, 3) m
    return d.pow(2).sum(dim=(-1, -2)).mean()


def _to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


def _make_optimizer(
    params: list[nn.Parameter], cfg: TrainConfig, device: torch.device
) -> torch.optim.Optimizer:
    """Adam; on CPU its fused kernel (one pass per parameter instead of a dozen elementwise
    ops, each a threaded region). A resumed checkpoint restores the saved ``fused`` flag."""
    fused = True if device.type == "cpu" else None
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)


def _without_unused_images(model: nn.Module, ds: Dataset) -> Dataset:
    """``ds`` without image crops when ``model`` never reads them (``uses_image = False``,
    the 2D lifters): no crop reads, copies or image augmentation in the hot loop."""
    if getattr(model, "uses_image", True) or not hasattr(ds, "without_images"):
        return ds
    return ds.without_images()  # type: ignore[no-any-return]


def _epoch_loader(
    ds: Dataset, cfg: TrainConfig, epoch: int, shuffle: bool, batch_size: int
) -> DataLoader:
    """Data order depends only on (seed, epoch): what makes resume exact."""
    if hasattr(ds, "set_epoch"):
        ds.set_epoch(epoch)  # type: ignore[attr-defined]
    g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=g if shuffle else None,
        num_workers=cfg.num_workers,
        collate_fn=collate_batch,
        persistent_workers=False,
        pin_memory=torch.cuda.is_available(),
    )


def evaluate_mpjpe(
    model: nn.Module,
    ds: Dataset,
    *,
    stage: int,
    output: str,
    cfg: TrainConfig,
    device: torch.device,
) -> float:
    """Frame-wise mean Protocol-1 MPJPE (mm) of ``output`` on ``ds``."""
    from lbi.evaluate import run_model
    from lbi.metrics import mpjpe

    pred = run_model(
        model, ds, stage=stage, flip_test=False, batch_size=cfg.val_batch_size, device=device,
        amp=cfg.amp,
    ).poses[output]  # fmt: skip
    gt = ds.pose3d  # type: ignore[attr-defined]
    return float(mpjpe(torch.from_numpy(pred), torch.from_numpy(gt)).mean())


def evaluate_px(model: nn.Module, ds: Dataset, *, cfg: TrainConfig, device: torch.device) -> float:
    """Mean 2D joint error (Euclidean, crop px) of a ``pose2d``-phase model on ``ds``."""
    from lbi.evaluate import run_model

    pred = run_model(
        model, ds, stage=1, flip_test=False, batch_size=cfg.val_batch_size, device=device,
        amp=cfg.amp,
    ).poses["pose2d_px"]  # fmt: skip
    gt = ds.pose2d_px  # type: ignore[attr-defined]
    return float(np.linalg.norm(pred - gt, axis=-1).mean())


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` atomically; same state -> same bytes (:func:`lbi.io.save_torch`)."""
    save_torch(path, state)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load an lbi checkpoint with ``weights_only=True``; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: checkpoint not found (run the training stage that writes it)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # re-raised with the file name, on one line
        why = (str(e).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path}: cannot load checkpoint ({type(e).__name__}: {why})") from e
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
        raise CheckpointError(
            f"{path}: not an lbi checkpoint (format {state.get('format') if isinstance(state, dict) else None!r})"
        )
    return state


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    st = {
        "torch": torch.get_rng_state(),
        "numpy": [int(x) for x in np_state[1]],
        "numpy_pos": int(np_state[2]),
        "python": list(random.getstate()[1]),
    }
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    """Restore :func:`_rng_state`; its tensors may have been loaded onto the GPU
    (``map_location``) but generator states are CPU byte tensors."""
    torch.set_rng_state(st["torch"].cpu())
    np.random.set_state(
        ("MT19937", np.array(st["numpy"], dtype=np.uint32), st["numpy_pos"], 0, 0.0)
    )
    random.setstate((3, tuple(st["python"]), None))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in st["cuda"]])


def _resumable(last: Path, device: torch.device) -> dict[str, Any] | None:
    """The state in ``last`` to resume from, or None. An unreadable ``last.pt`` (a kill
    mid-write on a file system without atomic rename, a full disk) is moved aside to
    ``last.corrupt.pt`` with a warning, and training starts afresh."""
    if not last.exists():
        return None
    try:
        return load_checkpoint(last, map_location=device)
    except CheckpointError as e:
        aside = last.with_suffix(".corrupt.pt")
        last.replace(aside)
        log.warning("%s; moved it to %s and starting this phase afresh", e, aside)
        return None


@contextmanager
def checkpoint_lock(ckpt_dir: Path) -> Iterator[None]:
    """Hold ``<ckpt_dir>/.lock`` (``flock``; released when the process dies) so that two
    trainings never share one checkpoint folder; the second fails at once, naming it."""
    import fcntl

    ckpt_dir.mkdir(parents=True, exist_ok=True)
    with open(ckpt_dir / ".lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CheckpointError(
                f"{ckpt_dir}: another training is using this checkpoint folder; wait for it "
                "to finish (or stop it) before starting this one"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fit(
    model: nn.Module,
    phase: str,
    train_ds: Dataset,
    cfg: TrainConfig,
    ckpt_dir: str | Path,
    *,
    val_sets: dict[str, Dataset] | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = True,
    extra_state: dict[str, Any] | None = None,
    val_every: int = VAL_EVERY,
) -> FitResult:
    """Train ``model`` for ``phase``; checkpoint every epoch; resume if ``last.pt`` exists.

    ``val_sets`` maps names (e.g. ``"test"``, ``"cross"``) to datasets; every ``val_every``-th
    epoch and the last log ``val_<name>_mpjpe_mm`` of the supervised output (the refined pose
    when there is one). Validation leaves the RNG as it found it: the weights never depend on
    ``val_sets`` or ``val_every`` (sweep trials validate less often than the pipeline).
    ``on_epoch(epoch, metrics)`` is called after each epoch (e.g. MLflow logging).
    Writes ``<ckpt_dir>/last.pt`` (resumable) and ``<ckpt_dir>/model.pt`` (final).
    """
    check_choice("phase", phase, PHASES)
    ckpt_dir = Path(ckpt_dir)
    with checkpoint_lock(ckpt_dir):
        return _fit(model, phase, train_ds, cfg, ckpt_dir, val_sets=val_sets, on_epoch=on_epoch,
                    progress=progress, extra_state=extra_state, val_every=val_every)  # fmt: skip


def _fit(
    model: nn.Module,
    phase: str,
    train_ds: Dataset,
    cfg: TrainConfig,
    ckpt_dir: Path,
    *,
    val_sets: dict[str, Dataset] | None,
    on_epoch: Callable[[int, dict[str, float]], None] | None,
    progress: bool,
    extra_state: dict[str, Any] | None,
    val_every: int = VAL_EVERY,
) -> FitResult:
    if val_every < 1:
        raise ValueError(f"val_every={val_every}: validate every n >= 1 epochs (and the last)")
    t0 = time.time()
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    model.to(device)
    params = trainable_parameters(model, phase, cfg.freeze_backbone)
    if not params:
        raise RuntimeError(f"phase '{phase}': the model has no trainable parameters")
    opt = _make_optimizer(params, cfg, device)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=cfg.lr_decay_every, gamma=cfg.lr_decay)
    stage, supervised = _outputs_for_phase(phase)
    use_amp = cfg.amp and device.type == "cuda"
    ema = WeightAverage(model, cfg.ema_decay) if cfg.ema_decay > 0 else None
    result = FitResult()
    start_epoch = 0
    last = ckpt_dir / "last.pt"
    st = _resumable(last, device)
    if st is not None:
        if st.get("phase") != phase or st.get("model_args") != getattr(model, "model_args", None):
            raise CheckpointError(
                f"{last}: checkpoint is for phase {st.get('phase')!r} with other model arguments; "
                "delete it or use another checkpoint folder"
            )
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        sched.load_state_dict(st["scheduler"])
        _set_rng_state(st["rng"])
        if ema is not None:
            if st.get("ema") is None:
                raise CheckpointError(
                    f"{last}: checkpoint has no EMA state but ema_decay={cfg.ema_decay}; "
                    "delete it or set ema_decay: 0.0"
                )
            ema.load_state_dict(st["ema"])
        start_epoch = int(st["epoch"])
        result.history = list(st["history"])
        result.resumed_from_epoch = start_epoch
        log.info("resumed %s from %s at epoch %d", phase, last, start_epoch)

    n_train = len(train_ds)  # type: ignore[arg-type]
    train_ds = _without_unused_images(model, train_ds)
    val_sets = {k: _without_unused_images(model, v) for k, v in (val_sets or {}).items()}
    for epoch in range(start_epoch, cfg.epochs):
        model.train()
        if cfg.freeze_backbone:
            _backbone(model).eval()  # fixed BatchNorm statistics too
        loader = _epoch_loader(train_ds, cfg, epoch, shuffle=True, batch_size=cfg.batch_size)
        n_batches = (
            len(loader)
            if cfg.max_batches_per_epoch == 0
            else min(len(loader), cfg.max_batches_per_epoch)
        )
        bar = tqdm(
            total=n_batches,
            desc=f"{phase} epoch {epoch + 1}/{cfg.epochs}",
            disable=not progress,
            leave=False,
        )
        te, seen, loss_sum = time.time(), 0, 0.0
        for bi, batch in enumerate(loader):
            if bi >= n_batches:
                break
            b = _to_device(batch, device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                out = model(b["image"], b["pose2d"], stage=stage)
            loss = phase_loss(phase, out, b)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"phase {phase}, epoch {epoch + 1}, batch {bi}: loss is {loss.item()}"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            opt.step()
            if ema is not None:
                ema.update(model)
            bs = b["pose3d"].shape[0]
            seen += bs
            loss_sum += float(loss.detach()) * bs
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", sps=f"{seen / (time.time() - te):.0f}")
            bar.update(1)
        bar.close()
        sched.step()
        secs = time.time() - te
        # The history (checkpoints, plots: DVC-hashed) holds only what the seed decides;
        # throughput goes to the on_epoch sink (MLflow, Ray) alone.
        metrics = {
            "epoch": float(epoch + 1),
            ("train_loss_px" if phase == "pose2d" else "train_loss_m2"): loss_sum / max(seen, 1),
            "lr": opt.param_groups[0]["lr"],
        }
        due = (epoch + 1) % val_every == 0 or epoch + 1 == cfg.epochs
        rng = torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])
        with rng, ema.applied(model) if ema is not None else nullcontext():
            for name, vds in (val_sets or {}).items() if due else ():
                if phase == "pose2d":
                    metrics[f"val_{name}_error_px"] = evaluate_px(
                        model, vds, cfg=cfg, device=device
                    )
                    continue
                metrics[f"val_{name}_mpjpe_mm"] = evaluate_mpjpe(
                    model, vds, stage=stage, output=supervised[-1], cfg=cfg, device=device
                )
        result.history.append(metrics)
        log.info(
            "%s epoch %d/%d %s",
            phase,
            epoch + 1,
            cfg.epochs,
            {k: round(v, 4) for k, v in metrics.items()},
        )
        state = {
            "format": CKPT_FORMAT,
            "phase": phase,
            "epoch": epoch + 1,
            "model_args": getattr(model, "model_args", None),
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": _rng_state(),
            "ema": None if ema is None else ema.state_dict(),
            "history": result.history,
            "n_train": n_train,
            **(extra_state or {}),
        }
        save_checkpoint(last, state)
        if on_epoch is not None:
            on_epoch(epoch + 1, {**metrics, "train_samples_per_s": seen / max(secs, 1e-9)})
    if ema is not None:  # the model leaves fit() holding the averaged weights
        model.load_state_dict(ema.state)
    final = {
        "format": CKPT_FORMAT,
        "phase": phase,
        "epoch": cfg.epochs,
        "model_args": getattr(model, "model_args", None),
        "model": model.state_dict(),
        "history": result.history,
        **(extra_state or {}),
    }
    result.checkpoint = ckpt_dir / "model.pt"
    save_checkpoint(result.checkpoint, final)
    result.seconds = time.time() - t0
    if not math.isfinite(result.seconds):
        result.seconds = 0.0
    return result


def load_model(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    *,
    phases: tuple[str, ...] | None = None,
    fix: str = "rerun the stage that writes it",
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model from a checkpoint's stored construction arguments and load its weights.

    With ``phases`` the file must hold a model trained in one of them: another phase's
    model (``stage2.pt`` copied over ``stage1.pt``, a lifter in place of stage 1) is a
    :class:`CheckpointError` naming the file, what it holds, what was expected and ``fix``.
    """
    from lbi.model import ModelConfig, build_model

    try:
        st = load_checkpoint(path, map_location)
    except CheckpointError as e:
        raise CheckpointError(f"{e}; {fix}") from e.__cause__
    if phases is not None and st.get("phase") not in phases:
        arch = (st.get("model_args") or {}).get("arch")
        want = " or ".join(repr(p) for p in phases)
        raise CheckpointError(
            f"{path}: holds a model of phase {st.get('phase')!r} (arch {arch!r}) but a model "
            f"of phase {want} was expected here; {fix}"
        )
    if st.get("model_args") is None:
        raise CheckpointError(f"{path}: checkpoint has no model_args; cannot rebuild the model")
    model = build_model(ModelConfig.from_dict(st["model_args"]))
    model.load_state_dict(st["model"])
    return model, st

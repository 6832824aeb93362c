"""Glue shared by the pipeline stages and the sweeps: datasets, one phase of training.

Both ``pipeline/train_*.py`` and ``sweeps/`` call :func:`make_datasets` and
:func:`train_phase`, which call the one loop in :mod:`lbi.train`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lbi.data.dataset import PoseDataset
from lbi.data.store import detections_path, open_store
from lbi.train import FitResult, TrainConfig, fit, load_model


@dataclass(frozen=True)
class DataPaths:
    """Where the stores and the detections of one source live."""

    store_in: Path
    store_cross: Path
    detections: Path  # folder holding <source>/keypoints2d_<dataset>_<source>.npz

    @classmethod
    def from_params(cls, paths: Any) -> DataPaths:
        return cls(Path(paths.store_in), Path(paths.store_cross), Path(paths.detections))

    def detections_file(self, store_dir: Path, source: str) -> Path:
        return detections_path(self.detections / source, open_store(store_dir).dataset, source)


@dataclass
class Datasets:
    """Train / in-domain test / cross-domain test datasets for one 2D source."""

    train: PoseDataset
    test: PoseDataset
    cross: PoseDataset
    source: str
    synthetic: bool
    dataset: str


def make_datasets(
    dp: DataPaths,
    source: str,
    *,
    train_split: str = "train",
    test_split: str = "test",
    cross_split: str = "test",
    flip: bool = True,
    seed: int = 0,
    background_augment: float = 0.0,
    color_augment: float = 0.0,
) -> Datasets:
    """Datasets for a model trained on ``source`` detections.

    The cross-domain set uses ground-truth 2D (the convention for 3DHP cross-dataset
    evaluation, paper Table 3), reduced to the SH layout when the source has 16 joints.
    """
    det_in = dp.detections_file(dp.store_in, source)
    train = PoseDataset(
        dp.store_in,
        train_split,
        det_in,
        flip=flip,
        seed=seed,
        background_augment=background_augment,
        color_augment=color_augment,
    )
    test = PoseDataset(dp.store_in, test_split, det_in)
    cross = PoseDataset(
        dp.store_cross,
        cross_split,
        dp.detections_file(dp.store_cross, "gt"),
        joints_in=train.num_joints_in,
    )
    store = open_store(dp.store_in)
    return Datasets(train, test, cross, source, store.synthetic, store.dataset)


def train_phase(
    model: nn.Module,
    phase: str,
    ds: Datasets,
    cfg: TrainConfig,
    ckpt_dir: Path,
    out_path: Path,
    *,
    mlflow_module: Any | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = True,
    extra_state: dict[str, Any] | None = None,
) -> FitResult:
    """Train one phase with validation on test and cross sets; copy the final model to ``out_path``.

    After each epoch the metrics go to ``mlflow_module.log_metrics`` (an MLflow run) and to
    ``on_epoch(epoch, metrics)`` (e.g. a sweep's reporter).

    ``ckpt_dir`` holds the resumable ``last.pt`` (kept outside DVC outputs so that a killed
    stage resumes); a stale checkpoint of another configuration is moved aside.
    """
    ckpt_dir = Path(ckpt_dir)
    key = {
        "train": dataclasses.asdict(cfg),
        "data": ds.train.fingerprint(),  # other data with the same N -> start afresh
        "source": ds.source,
        **(extra_state or {}),
    }
    last = ckpt_dir / "last.pt"
    if last.exists():
        st = torch.load(last, map_location="cpu", weights_only=True)
        if st.get("resume_key") != _plain(key) or st.get("model_args") != getattr(
            model, "model_args", None
        ):
            last.rename(last.with_suffix(".stale.pt"))

    def after_epoch(epoch: int, metrics: dict[str, float]) -> None:
        if mlflow_module is not None:
            mlflow_module.log_metrics(
                {k: v for k, v in metrics.items() if k != "epoch"}, step=epoch
            )
        if on_epoch is not None:
            on_epoch(epoch, metrics)

    result = fit(
        model,
        phase,
        ds.train,
        cfg,
        ckpt_dir,
        val_sets={"test": ds.test, "cross": ds.cross},
        on_epoch=after_epoch,
        progress=progress,
        extra_state={"resume_key": _plain(key)},
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    from lbi.io import atomic_path

    with atomic_path(out_path) as tmp:
        tmp.write_bytes(Path(result.checkpoint).read_bytes())  # type: ignore[arg-type]
    result.checkpoint = out_path
    return result


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def stage2_model_from_stage1(stage1_ckpt: Path, retention: float, seed: int = 0) -> nn.Module:
    """Rebuild the stage-1 model from its checkpoint with AFSM retention ``retention``.

    Stage-2 layers are initialised under ``seed`` (everything else comes from the checkpoint).
    """
    from lbi.model import ModelConfig, build_model
    from lbi.train import seeded

    model1, st = load_model(stage1_ckpt)
    args = dict(st["model_args"])
    args["retention"] = float(retention)
    with seeded(seed):
        model = build_model(ModelConfig.from_dict(args))
    model.load_state_dict(model1.state_dict())  # same architecture; r only changes AFSM's k
    return model

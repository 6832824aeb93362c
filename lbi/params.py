"""``params.yaml``: the whole file as one frozen dataclass of per-section dataclasses.

Each section is owned by the module that uses it (grep the section name to find it):

=============  ===========================================  ==========================
section        dataclass                                    read by stage(s)
=============  ===========================================  ==========================
paths          :class:`Paths` (below)                       all (via ``dvc.yaml``)
data           :class:`DataConfig` (below)                  fetch, preprocess, detect2d
embedded       :class:`lbi.data.embedded.EmbeddedConfig`    fetch, preprocess
h36m           :class:`lbi.data.h36m.H36MConfig`            fetch, preprocess, detect2d
mpi3dhp        :class:`lbi.data.mpi3dhp.MPI3DHPConfig`      fetch, preprocess, detect2d
detect2d       :class:`Detect2DConfig` (below)              detect2d
pretrain2d     :class:`Pretrain2DConfig` (below)            pretrain2d, train_stage1
model          :class:`lbi.model.ModelConfig`               pretrain2d, train_stage1
train_stage1   :class:`lbi.train.TrainConfig`               train_stage1
prune          :class:`PruneConfig` (below)                 prune
train_stage2   :class:`Stage2TrainConfig` (below)           train_stage2
lifter         :class:`LifterConfig` (below)                train_lifter
evaluate       :class:`EvalConfig` (below)                  evaluate
=============  ===========================================  ==========================

Defaults live in one place: ``Params()`` (the dataclass defaults, including the
per-section ``default_factory`` values below) equals the repository's ``params.yaml``, and
``tests/test_config.py`` keeps it so. A params file must still spell out every section and
key (:func:`load_params`): a missing one is an error naming it, never a silent default.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbi.config import ConfigError, check_choice, check_range, from_dict, load_yaml
from lbi.data.embedded import EmbeddedConfig
from lbi.data.h36m import H36MConfig
from lbi.data.mpi3dhp import MPI3DHPConfig
from lbi.model import ModelConfig
from lbi.train import TrainConfig

DATASETS = ("embedded", "h36m")
SOURCES = ("gt", "cpn", "sh")


@dataclass(frozen=True)
class Paths:
    """Every artefact path, defined once; ``dvc.yaml`` interpolates these (``${paths.x}``)."""

    raw: str = "data/raw"
    store_in: str = "data/store/indomain"
    store_cross: str = "data/store/cross"
    store_pose2d: str = "data/store/pose2d"  # the embedded 2D pretraining set
    detections: str = "data/detections"
    models: str = "data/models"
    checkpoints: str = "data/checkpoints"
    prune: str = "data/prune"
    eval: str = "data/eval"
    metrics: str = "metrics"
    plots: str = "plots"
    reports: str = "reports"


@dataclass(frozen=True)
class DataConfig:
    """Which dataset the pipeline runs on and which 2D sources it produces/trains with."""

    dataset: str = "embedded"  # embedded (synthetic, default) | h36m (+ MPI-INF-3DHP for cross)
    sources: tuple[str, ...] = ("gt", "cpn", "sh")  # detect2d produces these
    train_sources: tuple[str, ...] = ("gt",)  # one model per source (paper Table 2 rows)
    train_split: str = "train"
    test_split: str = "test"
    cross_split: str = "test"

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, DATASETS)
        for s in (*self.sources, *self.train_sources):
            check_choice("sources", s, SOURCES)
        missing = set(self.train_sources) - set(self.sources)
        if missing:
            raise ValueError(
                f"'train_sources' {sorted(missing)} are not in 'sources' {list(self.sources)}"
            )


@dataclass(frozen=True)
class Detect2DConfig:
    """Synthetic detector noise seed (embedded only; real data use the published files)."""

    seed: int = 0


@dataclass(frozen=True)
class Pretrain2DConfig:
    """Encoder pretraining on a diverse 2D keypoint set (the embedded stand-in for COCO).

    ``enabled`` (embedded only): stage 1 starts from the backbone this stage trains, and
    ``model.pretrained`` must be null. On real data set ``enabled: false`` and point
    ``model.pretrained`` at the COCO pose-HRNet file, as the paper does.
    """

    enabled: bool = True  # the embedded default; real data: false + model.pretrained
    takes_per_clip: int = 1  # of each training clip x training subject (lbi.data.pose2d_set)
    views: int = 4  # random cameras per take
    head_dim: int = 64  # width of the heatmap head (discarded: only the backbone is kept)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(lr_decay=0.8, lr_decay_every=2))

    def __post_init__(self) -> None:
        check_range("takes_per_clip", self.takes_per_clip, 1, 50)
        check_range("views", self.views, 1, 32)
        check_range("head_dim", self.head_dim, 1, 4096)


@dataclass(frozen=True)
class PruneConfig:
    """Adaptive Feature Selection: keep the top ``retention`` of image tokens (paper: 0.3).

    The one place the retention is set: the stages build stage 2's
    :class:`lbi.model.ModelConfig` with ``retention=prune.retention``.
    """

    retention: float = 0.3

    def __post_init__(self) -> None:
        check_range("retention", self.retention, 0.0, 1.0, lo_open=True)


@dataclass(frozen=True)
class Stage2TrainConfig(TrainConfig):
    """``train_stage2``: the loop's settings, and what stage 2 does with stage 1.

    ``finetune_stage1: false`` freezes stage 1, the paper's progressive schedule (phase
    ``stage2`` of :func:`lbi.train.fit`); ``true`` trains it on with stage 2, the loss on
    the coarse and the refined pose (phase ``e2e_both``, started from the trained stage 1).
    """

    finetune_stage1: bool = True
    # stage 2's own defaults (the fields of TrainConfig it sets differently)
    epochs: int = 15
    lr_decay: float = 0.8  # x0.8 every epoch: fine-tuning anneals (paper: x0.9 / 4 epochs)
    lr_decay_every: int = 1
    background_augment: float = 0.5

    @property
    def phase(self) -> str:
        """The :func:`lbi.train.fit` phase stage 2 trains as."""
        return "e2e_both" if self.finetune_stage1 else "stage2"


@dataclass(frozen=True)
class LifterConfig:
    """The 2D-only lifter trained by the same loop and budget as LBI (stage ``train_lifter``).

    ``train.epochs`` defaults to LBI's budget, ``train_stage1.epochs + train_stage2.epochs``.
    """

    model: ModelConfig = field(default_factory=lambda: ModelConfig(arch="lifter_graformer"))
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=35))


@dataclass(frozen=True)
class EvalConfig:
    """Evaluation options."""

    flip_test: bool = True
    batch_size: int = 256
    attention_radius_px: float = 0.0  # 0 = the paper's 30 px at 256x192, scaled to the crop

    def __post_init__(self) -> None:
        check_range("batch_size", self.batch_size, 1)
        check_range("attention_radius_px", self.attention_radius_px, 0.0)


@dataclass(frozen=True)
class Params:
    """The whole ``params.yaml``."""

    paths: Paths = field(default_factory=Paths)
    data: DataConfig = field(default_factory=DataConfig)
    embedded: EmbeddedConfig = field(default_factory=EmbeddedConfig)
    h36m: H36MConfig = field(default_factory=H36MConfig)
    mpi3dhp: MPI3DHPConfig = field(default_factory=MPI3DHPConfig)
    detect2d: Detect2DConfig = field(default_factory=Detect2DConfig)
    pretrain2d: Pretrain2DConfig = field(default_factory=Pretrain2DConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train_stage1: TrainConfig = field(default_factory=lambda: TrainConfig(background_augment=0.5))
    prune: PruneConfig = field(default_factory=PruneConfig)
    train_stage2: Stage2TrainConfig = field(default_factory=Stage2TrainConfig)
    lifter: LifterConfig = field(default_factory=LifterConfig)
    evaluate: EvalConfig = field(default_factory=EvalConfig)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Load and validate the whole params file.

    Unknown, missing and duplicate keys anywhere are errors naming the file and the dotted
    key (a missing one says what to add); so are wrong types, out-of-range values and a
    file that is not UTF-8 YAML.
    """
    data = load_yaml(path)
    _retention_from_prune(data, path)
    params = from_dict(Params, data, where=str(path), complete=True)
    if params.pretrain2d.enabled and params.model.pretrained is not None:
        raise ConfigError(
            f"{path}: pretrain2d.enabled is true and model.pretrained is set "
            f"({params.model.pretrained}); stage 1 starts from one of them: set "
            "pretrain2d.enabled: false to use your weight file, or model.pretrained: null"
        )
    if params.pretrain2d.enabled and params.data.dataset != "embedded":
        raise ConfigError(
            f"{path}: pretrain2d.enabled needs data.dataset: embedded (the 2D set is rendered "
            "from its mocap); on real data set pretrain2d.enabled: false and model.pretrained "
            "to the COCO pose-HRNet file"
        )
    return params


def _retention_from_prune(data: dict[str, Any], path: str | Path) -> None:
    """Fill ``model.retention`` / ``lifter.model.retention`` from ``prune.retention``.

    The retention has one key, ``prune.retention``; the model sections must not repeat it.
    """
    if "prune" not in data:
        return  # from_dict names the missing section
    prune = from_dict(PruneConfig, data["prune"], where=str(path), prefix="prune.", complete=True)
    lifter = data.get("lifter")
    for key, sec in (
        ("model", data.get("model")),
        ("lifter.model", lifter.get("model") if isinstance(lifter, dict) else None),
    ):
        if not isinstance(sec, dict):
            continue  # from_dict names the missing/malformed section
        if "retention" in sec:
            raise ConfigError(
                f"{path}: key '{key}.retention' is set by 'prune.retention'; remove it from '{key}'"
            )
        sec["retention"] = prune.retention


def check_output_paths(paths: Paths, where: str = "params.yaml") -> None:
    """Raise :class:`ConfigError` unless every ``paths.*`` is a folder strictly inside the
    project (the folder the stages run in, as ``dvc repro`` runs them): relative, never
    ``.`` itself, never climbing out with ``..``.

    Every ``paths.*`` folder is written by a stage (DVC deletes the outputs there before
    a rerun):
    ``paths.reports: .`` overwrote the project's README.md, ``../..`` wrote outside the
    repository. Data that must live on another disk is linked in (a symlink inside the
    project is followed). Inputs (``h36m.root``, ``mpi3dhp.root``) may be anywhere.
    """
    import dataclasses
    import posixpath

    for f in dataclasses.fields(paths):
        value = getattr(paths, f.name)
        norm = posixpath.normpath(value) if value else "."
        if posixpath.isabs(norm):
            why = "an absolute path"
        elif norm == ".":
            why = "the project folder itself"
        elif norm == ".." or norm.startswith("../"):
            why = "outside the project"
        else:
            continue
        raise ConfigError(
            f"{where}: paths.{f.name} = {value!r} is {why}, and stages write there; set a "
            f"folder inside the project, relative to it (default: {f.default}); to keep "
            "data on another disk, link it in (ln -s /other/disk/data data)"
        )


def configured_crop_sizes(params: Params) -> dict[str, tuple[int, int]]:
    """``params.yaml`` key -> crop size (H, W) px of each store the run reads."""
    if params.data.dataset == "embedded":
        return {"embedded.crop_hw": params.embedded.crop_hw}
    return {"h36m.crop_hw": params.h36m.crop_hw, "mpi3dhp.crop_hw": params.mpi3dhp.crop_hw}


def check_crop_sizes(params: Params, *, stores: bool = True, where: str = "params.yaml") -> None:
    """Raise :class:`ConfigError` unless every crop the run uses is ``model.input_hw``.

    Checks, before any training: the configured crop sizes of the dataset's stores
    (``embedded.crop_hw``; or ``h36m.crop_hw`` and ``mpi3dhp.crop_hw``, which must also
    agree with each other) and, with ``stores``, the ``crop_hw`` in ``meta.json`` of each
    store folder that exists (``paths.store_in``, ``store_cross``, ``store_pose2d`` when
    ``pretrain2d.enabled``): a store made with another crop size is stale. Call it at the
    start of every stage that trains or evaluates an image model.
    """
    from lbi.data.store import StoreError, open_store

    want = tuple(params.model.input_hw)
    for key, hw in configured_crop_sizes(params).items():
        if tuple(hw) != want:
            raise ConfigError(
                f"{where}: {key} = {list(hw)} but model.input_hw = {list(want)}; the encoder "
                f"reads the store's crops as they are: set both to the same size"
            )
    if not stores:
        return
    folders = {
        "paths.store_in": params.paths.store_in,
        "paths.store_cross": params.paths.store_cross,
    }
    if params.pretrain2d.enabled:
        folders["paths.store_pose2d"] = params.paths.store_pose2d
    for key, folder in folders.items():
        if not (Path(folder) / "meta.json").exists():
            continue  # not built yet; the stage that needs it says so
        try:
            hw = open_store(folder).crop_hw
        except StoreError as e:
            raise ConfigError(str(e)) from None
        if hw != want:
            raise ConfigError(
                f"{folder}/meta.json ({key}): crops are {list(hw)} but model.input_hw = "
                f"{list(want)}; the store is stale: rerun preprocess (`dvc repro preprocess`) "
                "after changing the crop size"
            )

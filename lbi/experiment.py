"""What the stages share: where they read and write, datasets, one phase of training, records.

The stage functions (:mod:`lbi.stages`) are called by the pipeline (``pipeline/*.py``)
and by the sweeps (:mod:`lbi.sweep`); both build their paths as a :class:`StagePaths`,
their datasets with :func:`make_datasets`, train with :func:`train_phase` (the one loop
in :mod:`lbi.train`) and describe a trained and evaluated model with :func:`make_record`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lbi.config import to_dict
from lbi.data.dataset import PoseDataset
from lbi.data.store import detections_path, open_store
from lbi.numerics import PIPELINE as PIPELINE_NUMERICS
from lbi.record import RunRecord
from lbi.train import (
    CKPT_FORMAT,
    VAL_EVERY,
    CheckpointError,
    FitResult,
    TrainConfig,
    fit,
    load_checkpoint,
    load_model,
)

# dvc.yaml stage names whose code a record's model ran (lbi.fingerprint.code_fingerprint)
LBI_STAGES = ("train_stage1", "prune", "train_stage2", "evaluate")
LIFTER_STAGES = ("train_lifter", "evaluate")
# params sections a model of each mode reads (recorded, and hashed into the record key)
_LBI = ("pretrain2d", "model", "train_stage1")
SECTIONS = {
    "progressive": (*_LBI, "prune", "train_stage2", "evaluate"),
    "stage1": (*_LBI, "evaluate"),
    "e2e_fine": (*_LBI, "prune", "train_stage2", "evaluate"),
    "e2e_both": (*_LBI, "prune", "train_stage2", "evaluate"),
    "lifter": ("lifter", "evaluate"),
}
# dvc.yaml stages whose code decides what a training phase produces (resume key).
TRAINING_STAGES = ("pretrain2d", "train_stage1", "train_stage2", "train_lifter")
MODEL_FILES = {"progressive": "stage2", "stage1": "stage1", "e2e_fine": "e2e_fine",
               "e2e_both": "e2e_both", "lifter": "lifter"}  # fmt: skip
# model file name -> the training phases (lbi.train.fit) whose model it may hold, and the
# dvc.yaml stage that writes it (None: only sweeps train it)
MODEL_PHASES = {"stage1": ("stage1",), "stage2": ("stage2", "e2e_both"), "e2e_fine": ("e2e_fine",),
                "e2e_both": ("e2e_both",), "lifter": ("lifter",)}  # fmt: skip
MODEL_WRITERS = {"stage1": "train_stage1", "stage2": "train_stage2", "lifter": "train_lifter"}


@dataclass(frozen=True)
class StagePaths:
    """Every folder the stages read or write; one source's files are found by name.

    The pipeline builds it from ``params.paths`` (:meth:`from_params`); a sweep trial
    points the outputs at its own folder (:meth:`for_trial`), sharing the stores, the
    detections and the ``pretrain2d`` weights. Stage 1's files may live elsewhere
    (``stage1``: a sweep's stage-1 cache shared by trials).
    """

    store_in: Path
    store_cross: Path
    store_pose2d: Path
    detections: Path  # <detections>/<source>/keypoints2d_<dataset>_<source>.npz
    pretrain2d: Path  # backbone.pt, backbone.json
    models: Path  # <models>/<source>/<name>.pt
    checkpoints: Path  # <checkpoints>/<name>_<source>/last.pt (resumable; not a DVC output)
    prune: Path  # <prune>/<source>/afsm.json, kept.npz
    eval: Path  # <eval>/<source>/tables.json, examples.npz, records.jsonl
    metrics: Path  # <metrics>/<source>.json
    plots: Path  # <plots>/<source>/<name>.json (per-epoch curves)
    stage1: Path | None = None  # root of stage 1's models/, checkpoints/, plots/ (None: above)

    @classmethod
    def from_params(cls, paths: Any) -> StagePaths:
        """The pipeline's layout, from ``params.paths``."""
        names = ("store_in", "store_cross", "store_pose2d", "detections", "models",
                 "checkpoints", "prune", "eval", "metrics", "plots")  # fmt: skip
        kw = {n: Path(getattr(paths, n)) for n in names}
        return cls(pretrain2d=kw["models"] / "pretrain2d", **kw)

    def for_trial(self, trial_dir: Path, stage1_dir: Path | None = None) -> StagePaths:
        """Outputs under ``trial_dir``; stage 1 under ``stage1_dir`` when given; inputs shared."""
        out = {n: trial_dir / n for n in ("models", "checkpoints", "prune", "eval", "metrics",
                                          "plots")}  # fmt: skip
        return dataclasses.replace(self, **out, stage1=stage1_dir)

    def absolute(self) -> StagePaths:
        """Every path made absolute (a Ray worker runs in another folder)."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return StagePaths(**{k: None if v is None else Path(v).resolve() for k, v in kw.items()})

    def _root(self, name: str, kind: str) -> Path:
        if name == "stage1" and self.stage1 is not None:
            return self.stage1 / kind
        return getattr(self, kind)

    def model(self, name: str, source: str) -> Path:
        return self._root(name, "models") / source / f"{name}.pt"

    def ckpt(self, name: str, source: str) -> Path:
        return self._root(name, "checkpoints") / f"{name}_{source}"

    def curve(self, name: str, source: str) -> Path:
        return self._root(name, "plots") / source / f"{name}.json"

    def detections_file(self, store_dir: Path, source: str) -> Path:
        return detections_path(self.detections / source, open_store(store_dir).dataset, source)


def encoder_init(p: Any, paths: StagePaths) -> str | None:
    """The weight file stage 1's encoder backbone starts from: the ``pretrain2d`` stage's
    ``backbone.pt`` when ``pretrain2d.enabled``, else ``model.pretrained`` (None: random)."""
    if p.pretrain2d.enabled:
        return str(paths.pretrain2d / "backbone.pt")
    return p.model.pretrained


# The cross-domain store's validation split (embedded: ``embedded.wild_val_*``; 3DHP:
# ``mpi3dhp.val_sequences``), read by per-epoch validation; its ``test`` split is not.
CROSS_VAL_SPLIT = "val"


@dataclass
class Datasets:
    """Train / in-domain test / cross-domain test (and validation) datasets for one 2D source.

    ``cross_val`` is the cross-domain store's :data:`CROSS_VAL_SPLIT` (None when the store
    has none): per-epoch validation reads it, never ``cross`` (the report's test set).
    """

    train: PoseDataset
    test: PoseDataset
    cross: PoseDataset
    source: str
    synthetic: bool
    dataset: str
    cross_val: PoseDataset | None = None


def cross_val_dataset(
    store_cross: Path, detections: Path | None = None, joints_in: int | None = None
) -> PoseDataset | None:
    """The cross-domain validation split of ``store_cross`` (None when it has none)."""
    if CROSS_VAL_SPLIT not in open_store(store_cross).splits:
        return None
    return PoseDataset(store_cross, CROSS_VAL_SPLIT, detections, joints_in=joints_in)


def make_datasets(
    paths: StagePaths,
    source: str,
    cfg: TrainConfig | None = None,
    *,
    train_split: str = "train",
    test_split: str = "test",
    cross_split: str = "test",
) -> Datasets:
    """Datasets for a model trained on ``source`` detections; the training set augments
    as ``cfg`` (the training stage's own section) says, none when ``cfg`` is None.

    The cross-domain sets use ground-truth 2D (the convention for 3DHP cross-dataset
    evaluation, paper Table 3), reduced to the SH layout when the source has 16 joints:
    ``cross`` is ``cross_split`` (the test set), ``cross_val`` the store's validation split.
    """
    det_in = paths.detections_file(paths.store_in, source)
    aug: dict[str, Any] = {"flip": False}
    if cfg is not None:
        aug = {"flip": cfg.flip_augment, "seed": cfg.seed,
               "background_augment": cfg.background_augment, "color_augment": cfg.color_augment}  # fmt: skip
    train = PoseDataset(paths.store_in, train_split, det_in, **aug)
    test = PoseDataset(paths.store_in, test_split, det_in)
    det_cross = paths.detections_file(paths.store_cross, "gt")
    cross = PoseDataset(paths.store_cross, cross_split, det_cross, joints_in=train.num_joints_in)
    cross_val = cross_val_dataset(paths.store_cross, det_cross, train.num_joints_in)
    store = open_store(paths.store_in)
    return Datasets(train, test, cross, source, store.synthetic, store.dataset, cross_val)


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
    epoch_offset: int = 0,
    val_every: int = VAL_EVERY,
) -> FitResult:
    """Train one phase with validation every ``val_every``-th epoch and the last (the weights
    do not depend on it: :func:`lbi.train.fit`); copy the final model to ``out_path``.

    Validation sets: ``test`` (the in-domain test split: there is no in-domain validation
    split; ``val_test_*``) and ``cross`` = ``ds.cross_val``, the cross-domain *validation*
    split (``val_cross_*``; not logged when the store has none). The cross-domain test split
    ``ds.cross`` is never read here: only the evaluate stage (the report) reads it.

    After each epoch the metrics go to ``mlflow_module.log_metrics`` (an MLflow run; step
    ``epoch_offset + epoch``, so stage 2 continues stage 1's epochs) and to
    ``on_epoch(epoch, metrics)``.

    ``ckpt_dir`` holds the resumable ``last.pt`` (kept outside DVC outputs so that a killed
    stage resumes); a checkpoint of another configuration, other data or other training
    code (:data:`TRAINING_STAGES`' code fingerprint) is moved aside, never resumed.
    """
    from lbi.fingerprint import code_fingerprint
    from lbi.io import write_atomic

    ckpt_dir = Path(ckpt_dir)
    key = {
        "code": code_fingerprint(TRAINING_STAGES),  # a code change never reuses a model
        "train": dataclasses.asdict(cfg),
        "data": ds.train.fingerprint(),  # other data with the same N -> start afresh
        "source": ds.source,
        **(extra_state or {}),
    }
    last = ckpt_dir / "last.pt"
    try:
        st = load_checkpoint(last) if last.exists() else None
    except CheckpointError:  # unreadable: fit moves it aside
        st = None
    if st is not None and (
        st.get("resume_key") != _plain(key)
        or st.get("model_args") != getattr(model, "model_args", None)
    ):
        last.rename(last.with_suffix(".stale.pt"))

    def after_epoch(epoch: int, metrics: dict[str, float]) -> None:
        if mlflow_module is not None:
            mlflow_module.log_metrics(
                {k: v for k, v in metrics.items() if k != "epoch"}, step=epoch_offset + epoch
            )
        if on_epoch is not None:
            on_epoch(epoch, metrics)

    val_sets: dict[str, Any] = {"test": ds.test}  # in-domain: the test split (no val split)
    if ds.cross_val is not None:
        val_sets["cross"] = ds.cross_val  # cross-domain: the val split, never the test split
    result = fit(
        model,
        phase,
        ds.train,
        cfg,
        ckpt_dir,
        val_sets=val_sets,
        on_epoch=after_epoch,
        progress=progress,
        extra_state={"resume_key": _plain(key)},
        val_every=val_every,
    )
    data = Path(result.checkpoint).read_bytes()  # type: ignore[arg-type]
    write_atomic(out_path, lambda tmp: tmp.write_bytes(data))
    result.checkpoint = out_path
    return result


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    return obj


def load_model_file(paths: StagePaths, name: str, source: str) -> tuple[nn.Module, dict[str, Any]]:
    """The model and checkpoint state in ``paths.model(name, source)``, which must hold
    a model of ``name`` (:data:`MODEL_PHASES`); otherwise a :class:`CheckpointError` names
    the file, what it holds, what was expected and the stage to rerun."""
    writer = MODEL_WRITERS.get(name)
    fix = f"rerun `dvc repro {writer}@{source}`" if writer else "rerun the sweep that trains it"
    return load_model(paths.model(name, source), phases=MODEL_PHASES[name], fix=fix)


def stage2_model_from_stage1(
    paths: StagePaths, source: str, retention: float, seed: int = 0
) -> nn.Module:
    """Rebuild the trained stage-1 model of ``source`` (:func:`load_model_file`) with AFSM
    retention ``retention``.

    Stage-2 layers are initialised under ``seed`` (everything else comes from the checkpoint).
    """
    from lbi.model import ModelConfig, build_model
    from lbi.train import seeded

    model1, st = load_model_file(paths, "stage1", source)
    args = dict(st["model_args"])
    args["retention"] = float(retention)
    with seeded(seed):
        model = build_model(ModelConfig.from_dict(args))
    model.load_state_dict(model1.state_dict())  # same architecture; r only changes AFSM's k
    return model


# ----------------------------------------------------------------------------------
# Run records (lbi.record): the pipeline's evaluate stage and every sweep trial
# ----------------------------------------------------------------------------------
def code_stages(mode: str) -> tuple[str, ...]:
    """The dvc.yaml stages whose code trains and evaluates a model of ``mode``."""
    return LIFTER_STAGES if mode == "lifter" else LBI_STAGES


def sections(p: Any, mode: str) -> dict[str, Any]:
    """The resolved params sections a model of ``mode`` reads (plain JSON types)."""
    return json.loads(json.dumps({s: to_dict(getattr(p, s)) for s in SECTIONS[mode]}))


def epochs(p: Any, mode: str) -> dict[str, int]:
    """Training budget by phase."""
    e1, e2 = p.train_stage1.epochs, p.train_stage2.epochs
    return {"progressive": {"stage1": e1, "stage2": e2}, "stage1": {"stage1": e1},
            "e2e_fine": {"e2e_fine": e1 + e2}, "e2e_both": {"e2e_both": e1 + e2},
            "lifter": {"lifter": p.lifter.train.epochs}}[mode]  # fmt: skip


def seed_of(p: Any, mode: str) -> int:
    return int(p.lifter.train.seed if mode == "lifter" else p.train_stage1.seed)


def record_key(p: Any, mode: str, source: str, code_fp: str, data_fp: str,
               numerics: str = PIPELINE_NUMERICS) -> str:  # fmt: skip
    """Hash of what a model trained (params sections, mode, 2D source), of the code and data
    fingerprints and of the numerics (:func:`lbi.numerics.describe`; the pipeline's, 2
    pinned threads, add nothing, so their keys predate this): same key, same numbers."""
    what = {"sections": sections(p, mode), "mode": mode, "source": source,
            "code": code_fp, "data": data_fp}  # fmt: skip
    if numerics != PIPELINE_NUMERICS:  # a sweep's packed trials (1 thread), native numerics
        what["numerics"] = numerics
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:16]


def data_fingerprint(paths: StagePaths, source: str, init: str | None) -> str:
    """sha256 (16 hex) of the data a model of ``source`` sees: the stores' metas, the
    detection files, and the encoder's initial weights (their tensors, not their bytes)."""
    h = hashlib.sha256()
    files = [
        paths.store_in / "meta.json",
        paths.store_cross / "meta.json",
        paths.detections / source,
        paths.detections / "gt",
    ]
    for f in files:
        if not f.exists():
            raise FileNotFoundError(f"{f}: missing; run `dvc repro detect2d` or fix params paths")
    for f in files[:2]:
        h.update(f.read_bytes())
    h.update(paths.detections_file(paths.store_in, source).read_bytes())
    h.update(paths.detections_file(paths.store_cross, "gt").read_bytes())
    if init is not None:
        if not Path(init).is_file():
            raise FileNotFoundError(
                f"encoder weights {init} not found: run `dvc repro pretrain2d` "
                "(pretrain2d.enabled) or fix model.pretrained in params.yaml"
            )
        update_with_weights(h, Path(init))
    return h.hexdigest()[:16]


def weights_digest(path: Path) -> str:
    """A weight file's tensors (names, dtypes, shapes, values) hashed: equal for the same
    weights whatever else the file holds (e.g. a validation history)."""
    h = hashlib.sha256()
    update_with_weights(h, Path(path))
    return h.hexdigest()[:16]


def update_with_weights(h: Any, path: Path) -> None:
    """Feed a weight file's tensors (names, dtypes, shapes, values) to the hash ``h``: a
    state dict, or an lbi checkpoint's model (not its history or optimizer); files that are
    not PyTorch state dicts: their bytes."""
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch file: hash what is there
        h.update(path.read_bytes())
        return
    if isinstance(st, dict):
        st = st["model"] if st.get("format") == CKPT_FORMAT else st.get("state_dict", st)
    if not isinstance(st, dict):
        h.update(path.read_bytes())
        return
    for k in sorted(st):
        v = st[k]
        h.update(str(k).encode())
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
        else:
            h.update(repr(v).encode())


def fingerprints(p: Any, mode: str, source: str, paths: StagePaths) -> tuple[str, str]:
    """(code, data) fingerprints of a model of ``mode`` trained on ``source``."""
    from lbi.fingerprint import code_fingerprint

    init = None if mode == "lifter" else encoder_init(p, paths)
    return code_fingerprint(code_stages(mode)), data_fingerprint(paths, source, init)


def make_record(
    p: Any,
    *,
    mode: str,
    source: str,
    metrics: dict[str, float],
    code_fp: str,
    data_fp: str,
    dataset: str,
    synthetic: bool,
    sweep: str,
    table: str,
    row: str,
    column: str,
    cell: str,
    overrides: dict[str, Any] | None = None,
    status: str = "finished",
    error: str | None = None,
    smoke: bool = False,
    described: str | None = None,
) -> RunRecord:
    """The :class:`~lbi.record.RunRecord` of one model of ``mode`` trained under params ``p``
    (the pipeline's evaluate stage and every sweep trial build theirs here). ``described``:
    the numerics it trained under (default :func:`lbi.numerics.describe`; a GPU trial's
    ``cuda``), in its key and record."""
    from lbi import numerics
    from lbi.fingerprint import repo_root
    from lbi.tracking import git_commit

    described = described or numerics.describe()
    return RunRecord(
        key=record_key(p, mode, source, code_fp, data_fp, described),
        sweep=sweep,
        table=table,
        row=row,
        column=column,
        cell=cell,
        mode=mode,
        seed=seed_of(p, mode),
        source_2d=source,
        epochs=epochs(p, mode),
        params=sections(p, mode),
        overrides=json.loads(json.dumps(overrides or {})),
        metrics={k: float(v) for k, v in sorted(metrics.items())},
        git_commit=git_commit(repo_root()),
        code_fingerprint=code_fp,
        data_fingerprint=data_fp,
        dataset=dataset,
        synthetic=bool(synthetic),
        numerics=described,
        status=status,
        error=error,
        smoke=smoke,
    )

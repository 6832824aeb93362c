"""What a sweep runs: cells, seeds, the base config, and the hashes that key checkpoints."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lbi
from lbi.config import from_dict, to_dict
from lbi.model import ModelConfig
from lbi.params import Stage2TrainConfig
from lbi.train import TrainConfig

MODES = ("progressive", "stage1", "e2e_fine", "e2e_both", "lifter")
# Train fields that do not change the result (where and how fast it runs).
_RUNTIME_TRAIN_FIELDS = ("device", "num_workers", "val_batch_size")
# Library files whose source decides what a training run produces (code fingerprint).
_CODE_FILES = ("model/*.py", "train.py", "experiment.py", "data/dataset.py", "data/store.py")


@dataclass(frozen=True)
class Cell:
    """One setting of the ablated factor: a table cell, run once per seed.

    ``overrides`` are dotted keys into the sweep's base config: ``model.<field>``,
    ``train_stage1.<field>``, ``train_stage2.<field>``, ``train.<field>`` (both stages),
    ``baseline_model.<field>`` or ``baseline_train.<field>`` (mode ``lifter``: the 2D-only
    baseline of ``params.yaml`` ``baseline``, trained by the same loop).
    ``row``/``column`` name where it sits in the paper table (MLflow tags ``lbi.row``,
    ``lbi.column``); ``name`` must be unique in the sweep.
    """

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    mode: str = "progressive"
    row: str = ""
    column: str = "MPJPE"
    table: str = ""  # defaults to the sweep's table

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"cell {self.name!r}: mode {self.mode!r} not in {MODES}")


@dataclass(frozen=True)
class Entry:
    """One number of the summary table: ``metric`` of cell ``cell``, mean ± std over seeds."""

    row: str
    column: str
    cell: str
    metric: str


@dataclass(frozen=True)
class SweepSpec:
    """What to run: cells x seeds (a grid), or an Optuna search (:class:`SearchSpec`)."""

    name: str  # "retention" -> MLflow experiment "lbi-sweep-retention", <out>/retention/
    table: str  # paper table, e.g. "7"
    cells: tuple[Cell, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    source: str = "gt"
    entries: tuple[Entry, ...] = ()  # summary layout; empty = one row per cell x `columns`
    columns: dict[str, str] = field(default_factory=lambda: {"MPJPE": "test_refined_p1_mm"})

    def __post_init__(self) -> None:
        names = [c.name for c in self.cells]
        if not names or len(set(names)) != len(names):
            raise ValueError(f"sweep {self.name!r}: cell names must be unique and non-empty")
        if not self.seeds:
            raise ValueError(f"sweep {self.name!r}: needs at least one seed")

    def summary_entries(self) -> tuple[Entry, ...]:
        if self.entries:
            return self.entries
        return tuple(
            Entry(c.row or c.name, col, c.name, key)
            for c in self.cells
            for col, key in self.columns.items()
        )


@dataclass(frozen=True)
class SearchSpec:
    """Optuna (TPE) inside Tune with ASHA early stopping; ``space`` maps override keys
    (as in :attr:`Cell.overrides`) to Tune domains (``tune.loguniform(...)``)."""

    space: dict[str, Any]
    num_samples: int = 20
    metric: str = "val_test_mpjpe_mm"
    mode: str = "min"
    grace_period: int = 1
    reduction_factor: float = 2.0
    seed: int = 0


@dataclass(frozen=True)
class RunOptions:
    """How to run: where, on what, how many at once, how to recover."""

    out_dir: Path = Path("data/sweeps")
    cpus_per_trial: float = 1.0
    gpus_per_trial: float | None = None  # None: 1 when the cluster has GPUs, else 0
    max_concurrent: int = 0  # 0 = as many as the resources allow
    max_failures: int = 1  # retries per trial (FailureConfig)
    resume: bool = False  # Tuner.restore the sweep's experiment if it exists
    address: str | None = None  # join a running cluster (else RAY_ADDRESS, else local)
    num_cpus: int | None = None  # local cluster size (default: all cores)
    ray_tmp: str | None = None  # Ray's temp dir for a local cluster (short path: sockets)
    verbose: int = 1


@dataclass(frozen=True)
class Base:
    """The config every cell starts from: the params.yaml sections a trial reads."""

    model: ModelConfig
    train_stage1: TrainConfig
    train_stage2: Stage2TrainConfig
    store_in: Path
    store_cross: Path
    detections: Path
    flip_test: bool = True
    eval_batch_size: int = 256
    attention_radius_px: float = 0.0
    baseline_model: ModelConfig = field(
        default_factory=lambda: ModelConfig(arch="lifter_graformer")
    )
    baseline_train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_params(cls, p: Any) -> Base:
        """From :class:`lbi.params.Params`; stage 2 keeps ``prune.r`` tokens as the pipeline does,
        and the encoder starts from the pipeline's weights (:func:`lbi.params.encoder_init`)."""
        from lbi.params import encoder_init

        init = encoder_init(p)
        init = str(Path(init).resolve()) if init is not None else None
        return cls(
            model=dataclasses.replace(p.model, retention=p.prune.r, pretrained=init),
            train_stage1=p.train_stage1,
            train_stage2=p.train_stage2,
            store_in=Path(p.paths.store_in).resolve(),
            store_cross=Path(p.paths.store_cross).resolve(),
            detections=Path(p.paths.detections).resolve(),
            flip_test=p.evaluate.flip_test,
            eval_batch_size=p.evaluate.batch_size,
            attention_radius_px=p.evaluate.attention_radius_px,
            baseline_model=p.baseline.model,
            baseline_train=p.baseline.train,
        )

    def smoke(self, epochs: int = 1, max_batches: int = 2, batch_size: int = 16) -> Base:
        """A seconds-per-epoch budget: few epochs, few batches per epoch."""

        def cut(t: TrainConfig, n: int) -> TrainConfig:
            return dataclasses.replace(
                t,
                epochs=min(t.epochs, n),
                max_batches_per_epoch=max_batches,
                batch_size=min(t.batch_size, batch_size),
            )

        return dataclasses.replace(
            self,
            train_stage1=cut(self.train_stage1, epochs),
            train_stage2=cut(self.train_stage2, epochs),
            baseline_train=cut(self.baseline_train, 2 * epochs),  # stage 1 + stage 2 budget
        )


# ----------------------------------------------------------------------------------
# Trial configuration (plain dicts: they travel through Ray and into MLflow params)
# ----------------------------------------------------------------------------------
def base_to_dict(base: Base) -> dict[str, Any]:
    d = to_dict(base)
    for k in ("store_in", "store_cross", "detections"):
        d[k] = str(d[k])
    return d


def resolve(base: dict[str, Any], overrides: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Apply dotted ``overrides`` and ``seed`` to a base dict; validate by building configs.

    Returns ``{"model", "baseline_model": ModelConfig, "train_stage1", "train_stage2",
    "baseline_train": TrainConfig}`` plus the base's other keys; ``seed`` goes to every
    training section. Unknown keys raise ``ValueError`` naming the key.
    """
    d = json.loads(json.dumps(base))  # deep copy of plain data
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        targets = ("train_stage1", "train_stage2") if section == "train" else (section,)
        for t in targets:
            if t not in _MODEL_SECTIONS + _TRAIN_SECTIONS or name not in d[t]:
                raise ValueError(
                    f"override {key!r}: unknown key; use model.<field>, train_stage1.<field>, "
                    "train_stage2.<field>, train.<field>, baseline_model.<field> or "
                    "baseline_train.<field>"
                )
            d[t][name] = list(value) if isinstance(value, tuple) else value
    out = dict(d)
    for t in _MODEL_SECTIONS:
        out[t] = from_dict(ModelConfig, d[t], where="sweep config", prefix=f"{t}.")
    for t in _TRAIN_SECTIONS:
        d[t]["seed"] = int(seed)
        cls = Stage2TrainConfig if t == "train_stage2" else TrainConfig
        out[t] = from_dict(cls, d[t], where="sweep config", prefix=f"{t}.")
    return out


_MODEL_SECTIONS = ("model", "baseline_model")
_TRAIN_SECTIONS = ("train_stage1", "train_stage2", "baseline_train")


def _hash(obj: Any) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


# Training fields added after runs were keyed: left out of keys at these values, so the
# keys (stage-1 cache, MLflow trials) of runs made before the field existed stay valid.
_KEY_DEFAULTS = {"finetune_stage1": False}


def _train_key(t: TrainConfig) -> dict[str, Any]:
    return {
        k: v
        for k, v in to_dict(t).items()
        if k not in _RUNTIME_TRAIN_FIELDS and not (k in _KEY_DEFAULTS and v == _KEY_DEFAULTS[k])
    }


def stage1_model_config(m: ModelConfig) -> ModelConfig:
    """The model stage 1 is trained as: stage-2 fields at their defaults, so every trial
    that shares the stage 1 builds (and caches) the same model. The stage-2 depth stays
    when drop-path is on: stochastic depth rises over stage 1 + stage 2 layers."""
    defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
    keep_depth = m.drop_path > 0
    return dataclasses.replace(
        m,
        retention=defaults["retention"],
        stage2_layers=m.stage2_layers if keep_depth else defaults["stage2_layers"],
    )


def stage1_key(cfg: dict[str, Any], source: str, fingerprint: dict[str, str]) -> str:
    """Hash of what stage 1 depends on (not r, not stage-2 depth, not stage-2 training)."""
    return _hash(
        {
            "model": to_dict(stage1_model_config(cfg["model"])),
            "train": _train_key(cfg["train_stage1"]),
            "source": source,
            "fingerprint": fingerprint,
        }
    )


def trial_key(config: dict[str, Any]) -> str:
    """Stable hash of one trial's resolved config (its checkpoint folder and MLflow key)."""
    cfg = resolve(config["base"], trial_overrides(config), config["seed"])
    mode = config["cell"]["mode"]
    if mode == "lifter":  # what the lifter depends on
        what = {
            "baseline_model": to_dict(cfg["baseline_model"]),
            "baseline_train": _train_key(cfg["baseline_train"]),
        }
    else:
        what = {
            "model": to_dict(cfg["model"]),
            "train_stage1": _train_key(cfg["train_stage1"]),
            "train_stage2": _train_key(cfg["train_stage2"]),
        }
    return _hash(
        {**what, "mode": mode, "source": config["source"], "fingerprint": config["fingerprint"]}
    )


def finetunes_stage1(config: dict[str, Any]) -> bool:
    """Whether a trial's stage 2 trains stage 1 on (mode ``progressive`` with
    ``train_stage2.finetune_stage1``) rather than freezing it as the paper does."""
    if config["cell"]["mode"] != "progressive":
        return False
    cfg = resolve(config["base"], trial_overrides(config), config["seed"])
    return bool(cfg["train_stage2"].finetune_stage1)


def trial_overrides(config: dict[str, Any]) -> dict[str, Any]:
    """Cell overrides, then searched values (``config["search"]``) on top."""
    return {**config["cell"].get("overrides", {}), **config.get("search", {})}


def fingerprint(base: Base, source: str) -> dict[str, str]:
    """md5 of the training code and of the data identity (store metas, detection files)."""
    from lbi.experiment import DataPaths

    root = Path(lbi.__file__).parent
    code = hashlib.md5()
    for pattern in _CODE_FILES:
        for f in sorted(root.glob(pattern)):
            code.update(f.name.encode() + f.read_bytes())
    dp = DataPaths(base.store_in, base.store_cross, base.detections)
    data = hashlib.md5()
    for f in (
        base.store_in / "meta.json",
        base.store_cross / "meta.json",
        dp.detections_file(base.store_in, source),
        dp.detections_file(base.store_cross, "gt"),
    ):
        if not f.exists():
            raise FileNotFoundError(f"{f}: missing; run `dvc repro detect2d` or fix params paths")
        data.update(f.read_bytes())
    if base.model.pretrained is not None:  # the encoder's initial weights
        f = Path(base.model.pretrained)
        if not f.exists():
            raise FileNotFoundError(f"{f}: encoder weights missing; run `dvc repro pretrain2d`")
        _update_with_weights(data, f)
    return {"code": code.hexdigest(), "data": data.hexdigest()}


def _update_with_weights(h: Any, path: Path) -> None:
    """Feed a weight file's tensors (names, dtypes, shapes, values) to the hash ``h``.

    Not its bytes: ``torch.save`` through a temp file names the zip's inner folder after
    that file, so identical weights written twice differ byte-wise (and a rerun of
    ``pretrain2d`` would orphan every cached sweep checkpoint). Non-PyTorch files (e.g.
    an HRNet checkpoint in another format) fall back to their bytes.
    """
    import torch

    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch file: hash what is there
        h.update(path.read_bytes())
        return
    st = st.get("state_dict", st) if isinstance(st, dict) else st
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


# ----------------------------------------------------------------------------------
# Inside a trial
# ----------------------------------------------------------------------------------

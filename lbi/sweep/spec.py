"""What a sweep runs: cells (a paper-table cell each) x seeds, and how one trial's params
are resolved: ``params.yaml`` + the budget + the cell's dotted overrides + the seed."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbi.config import ConfigError, from_dict
from lbi.record import MODES

# params sections a trial may override ("train.<field>": both LBI stages)
SECTIONS = ("model", "pretrain2d", "train_stage1", "prune", "train_stage2", "lifter", "evaluate")


@dataclass(frozen=True)
class Cell:
    """One setting of the ablated factor, run once per seed: dotted ``overrides`` of params
    sections (``prune.retention``, ``lifter.train.epochs``, ``train.lr``: both LBI stages);
    ``table`` (default: the sweep's), ``row``, ``column`` place its records."""

    name: str
    overrides: dict[str, Any] = field(default_factory=dict)
    mode: str = "progressive"
    row: str = ""
    column: str = ""
    table: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"cell {self.name!r}: mode {self.mode!r} not in {MODES}")


def cells(mode: str, table: str, rows: list[tuple[Any, ...]]) -> tuple[Cell, ...]:
    """Cells as a small table: rows of ``(name, overrides, row, column)``."""
    return tuple(Cell(n, dict(o), mode, r, c, table) for n, o, r, c in rows)


@dataclass(frozen=True)
class SweepSpec:
    """Cells x seeds (or an Optuna search); ``show``: metrics printed per cell (mean ± std)."""

    name: str  # results/<name>.jsonl, MLflow experiment lbi-sweep-<name>
    table: str
    cells: tuple[Cell, ...]
    seeds: tuple[int, ...] = (0, 1, 2)
    source: str = "gt"
    show: tuple[str, ...] = ("test_refined_p1_mm", "cross_refined_mpjpe_mm")

    def __post_init__(self) -> None:
        names = [c.name for c in self.cells]
        if not self.seeds or not names or len(set(names)) != len(names):
            raise ValueError(f"sweep {self.name!r}: needs seeds and unique, non-empty cell names")

    def cell(self, name: str) -> Cell:
        return next(c for c in self.cells if c.name == name)


@dataclass(frozen=True)
class SearchSpec:
    """Optuna inside Tune, ASHA stopping; ``space``: override keys -> Tune domains."""

    space: dict[str, Any]
    num_samples: int = 20
    metric: str = "val_cross_mpjpe_mm"  # minimised: the wild val split
    grace_period: int = 1
    reduction_factor: float = 2.0
    seed: int = 0


@dataclass(frozen=True)
class RunOptions:
    """How to run: where, on what, how many at once, how to recover."""

    out_dir: Path = Path("data/sweeps")  # trials/<key>/, stage1_cache/, ray/
    results_dir: Path = Path("results")  # results/<sweep>.jsonl, relative to the repo root
    cpus_per_trial: float = 2.0  # = torch threads; not lbi.numerics.THREADS: keys say so
    gpus_per_trial: float | None = None  # None: 1 where this machine has a GPU (runner.gpu_share)
    max_concurrent: int = 0  # 0 = as many as the resources allow
    max_failures: int = 1  # retries per trial (FailureConfig)
    resume: bool = False  # Tuner.restore the sweep's experiment if it exists
    address: str | None = None  # join a running cluster (else RAY_ADDRESS, else local)
    num_cpus: int | None = None  # local cluster size (default: all cores)
    ray_tmp: str | None = None  # Ray's temp dir for a local cluster (short path: sockets)
    verbose: int = 1
    smoke: bool = False  # records say smoke=True (never in a report table)
    mlflow: bool = True  # one MLflow run per trial under one parent per sweep invocation
    ray: bool = True  # False: trials in processes of this machine (lbi.sweep.local)
    # A seed whose cells the claims pair are all recorded under another pinned CPU numerics
    # (vendor, threads) counts as done for them (lbi.sweep.runner.recorded): the ledger pools
    # seeds across them (lbi.report.ledger), each seed once, pairing within one numerics.
    pool: bool = True
    # Validate every 5th epoch and the last (the pipeline: every epoch; a search: every epoch,
    # ASHA reads each): the weights are the same (lbi.train.fit), the trial ~10 % faster.
    val_every: int = 5


def resolve_params(base: Mapping[str, Any], overrides: Mapping[str, Any], seed: int) -> Any:
    """``base`` (``to_dict`` of the params) with dotted ``overrides`` and ``seed`` (every
    training section's seed) applied, validated as ``load_params`` validates a file.
    An unknown key is a ``ValueError`` naming it."""
    from lbi.params import Params

    d = json.loads(json.dumps(base))  # deep copy of plain data
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        targets = ("train_stage1", "train_stage2") if head == "train" else (head,)
        for t in targets:
            node, *path = [t, *rest.split(".")]
            ok = t in SECTIONS and key != "model.retention"
            sub = d.get(node) if ok else None
            for k in path[:-1]:
                sub = sub.get(k) if isinstance(sub, dict) else None
            if not isinstance(sub, dict) or path[-1] not in sub:
                hint = "; the retention is prune.retention" if "retention" in key else ""
                raise ValueError(f"override {key!r}: unknown key (sections {SECTIONS}){hint}")
            sub[path[-1]] = list(value) if isinstance(value, tuple) else value
    for sec in (d["train_stage1"], d["train_stage2"], d["lifter"]["train"]):
        sec["seed"] = int(seed)
    for sec in (d["model"], d["lifter"]["model"]):  # as load_params: one key, prune.retention
        sec["retention"] = d["prune"]["retention"]
    p = from_dict(Params, d, where="sweep params")
    if p.pretrain2d.enabled and p.model.pretrained is not None:
        raise ConfigError(
            "sweep params: pretrain2d.enabled is true and model.pretrained is set; a cell "
            "that sets model.pretrained must also set pretrain2d.enabled: false"
        )
    return p


def budget(p: Any, *, smoke: bool = False, stage1_epochs: int | None = None,
           stage2_epochs: int | None = None, max_batches: int | None = None) -> dict[str, Any]:  # fmt: skip
    """The budget options as overrides (applied under every cell's own)."""
    out: dict[str, Any] = {}
    secs = {"train_stage1": p.train_stage1, "train_stage2": p.train_stage2,
            "lifter.train": p.lifter.train}  # fmt: skip
    if smoke:  # seconds per epoch: 1 epoch per LBI stage, 2 batches of 16
        for s, t in secs.items():
            out[f"{s}.epochs"] = min(t.epochs, 2 if s == "lifter.train" else 1)
            out[f"{s}.max_batches_per_epoch"] = 2
            out[f"{s}.batch_size"] = min(t.batch_size, 16)
    for s, n in (("train_stage1", stage1_epochs), ("train_stage2", stage2_epochs)):
        if n is not None:
            out[f"{s}.epochs"] = n
    if stage1_epochs is not None or stage2_epochs is not None:  # the lifter keeps LBI's budget
        e1 = out.get("train_stage1.epochs", p.train_stage1.epochs)
        out["lifter.train.epochs"] = e1 + out.get("train_stage2.epochs", p.train_stage2.epochs)
    if max_batches is not None:
        out |= {f"{s}.max_batches_per_epoch": max_batches for s in secs}
    return out

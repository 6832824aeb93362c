"""The run record: one typed record per trained and evaluated model.

Every model the pipeline or a sweep trains and evaluates yields one :class:`RunRecord`.
It is written to MLflow (the UI) and to a small versioned results file in the repo,
``results/<sweep>.jsonl`` (one JSON object per line, sorted, git-diffable). The report
reads these files, never ``mlflow.db``; where a record sits in a paper table is in its
fields (``table``, ``row``, ``column``), never parsed out of free text.

A record is keyed by ``key``: a hash of what the run trained (resolved params, mode,
2D source) and of the code and data fingerprints (:mod:`lbi.fingerprint`). A record
whose key no longer matches the current code or data is *stale*: reported by name,
never silently used (:func:`stale_records`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lbi.io import save_text

RESULTS_DIR = Path("results")  # relative to the repo root: results/<sweep>.jsonl
SCHEMA = "lbi-record/1"
MODES = ("progressive", "stage1", "e2e_fine", "e2e_both", "lifter")
STATUSES = ("finished", "failed")


class RecordError(ValueError):
    """A results file has a malformed line (the message names file and line)."""


@dataclass(frozen=True)
class RunRecord:
    """One trained and evaluated model (an LBI trial or a lifter).

    ``metrics`` are flat with units in the keys, as the evaluate stage writes them
    (``test_refined_p1_mm``, ``cross_refined_pck150_pct``, ``cross_lifter_auc_pct``, ...).
    ``epochs`` is the training budget by phase, e.g. ``{"stage1": 20, "stage2": 15}`` or
    ``{"lifter": 35}``. ``params`` holds the resolved params sections the run read
    (``model``, ``train_stage1``, ``train_stage2`` or ``lifter``, ``prune``, ``evaluate``).
    """

    key: str  # hash of what was trained + code and data fingerprints
    sweep: str  # "retention", "lifter", ... or "pipeline"
    table: str  # paper table the run feeds, e.g. "7"
    row: str  # row label in that table
    column: str  # column label in that table
    cell: str  # the sweep's cell name (unique within the sweep)
    mode: str  # progressive | stage1 | e2e_fine | e2e_both | lifter
    seed: int
    source_2d: str  # gt | cpn | sh
    epochs: dict[str, int]
    params: dict[str, Any]
    overrides: dict[str, Any]
    metrics: dict[str, float]
    git_commit: str
    code_fingerprint: str
    data_fingerprint: str
    dataset: str  # embedded | h36m
    synthetic: bool
    numerics: str  # lbi.numerics.describe(): "pinned:avx2:2" or "native"
    status: str = "finished"  # finished | failed
    error: str | None = None  # the failure, for status "failed"
    smoke: bool = False  # tiny budget: never feeds a report table
    schema: str = field(default=SCHEMA)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"record {self.key}: mode {self.mode!r} not in {MODES}")
        if self.status not in STATUSES:
            raise ValueError(f"record {self.key}: status {self.status!r} not in {STATUSES}")

    @property
    def epochs_total(self) -> int:
        return sum(self.epochs.values())

    def to_json(self) -> str:
        """One line of JSON, keys sorted (byte-stable for identical records)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunRecord:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown fields {unknown}")
        missing = sorted(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in d
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING  # type: ignore[misc]
        )
        if missing:
            raise ValueError(f"missing fields {missing}")
        if d.get("schema", SCHEMA) != SCHEMA:
            raise ValueError(f"schema {d.get('schema')!r}, expected {SCHEMA!r}")
        metrics = d["metrics"]
        if not isinstance(metrics, dict) or not all(
            isinstance(v, int | float) and math.isfinite(v) for v in metrics.values()
        ):
            raise ValueError("metrics must map names to finite numbers")
        return cls(**d)


def _sort_key(r: RunRecord) -> tuple[Any, ...]:
    return (r.table, r.row, r.column, r.cell, r.seed, r.key)


def read_records(path: str | Path) -> list[RunRecord]:
    """All records of one results file; a malformed line is a :class:`RecordError`
    naming the file and the line number. A missing file has no records."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(RunRecord.from_dict(json.loads(line)))
        except (ValueError, TypeError) as e:
            raise RecordError(
                f"{path}:{n}: malformed run record ({e}); fix or delete that line"
            ) from e
    return out


def read_all(results_dir: str | Path = RESULTS_DIR) -> list[RunRecord]:
    """Records of every ``<results_dir>/*.jsonl``, in file-name order."""
    return [r for f in sorted(Path(results_dir).glob("*.jsonl")) for r in read_records(f)]


def write_records(path: str | Path, records: Iterable[RunRecord]) -> Path:
    """Write ``records`` (sorted by table, row, column, cell, seed, key) atomically."""
    lines = [r.to_json() for r in sorted(records, key=_sort_key)]
    return save_text(path, "".join(line + "\n" for line in lines))


def merge_records(path: str | Path, new: Iterable[RunRecord]) -> Path:
    """Add ``new`` to a results file; a record with the same ``key`` replaces the old one."""
    by_key = {r.key: r for r in read_records(path)}
    by_key.update({r.key: r for r in new})
    return write_records(path, by_key.values())


def finished(records: Iterable[RunRecord], *, include_smoke: bool = False) -> list[RunRecord]:
    """Finished records, smoke runs left out unless asked for (report tables never use them)."""
    return [r for r in records if r.status == "finished" and (include_smoke or not r.smoke)]


SUMMARY_METRICS = ("test_refined_p1_mm", "cross_refined_mpjpe_mm", "test_coarse_p1_mm",
                   "cross_coarse_mpjpe_mm", "test_lifter_p1_mm", "cross_lifter_mpjpe_mm")  # fmt: skip


def write_summary(results_dir: str | Path = RESULTS_DIR) -> Path:
    """``<results_dir>/summary.json`` for ``dvc metrics show``: per sweep and cell, the mean
    over seeds of the headline metrics (mm) and the seed count ``n``; finished, non-smoke
    records only. Rebuilt from the results files, so it never disagrees with them."""
    from collections import defaultdict

    cells: dict[str, dict[str, list[RunRecord]]] = defaultdict(lambda: defaultdict(list))
    for r in finished(read_all(results_dir)):
        cells[r.sweep][r.cell].append(r)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for sweep in sorted(cells):
        out[sweep] = {}
        for cell in sorted(cells[sweep]):
            recs = cells[sweep][cell]
            row: dict[str, float] = {"n": float(len({r.seed for r in recs}))}
            for m in SUMMARY_METRICS:
                vals = [r.metrics[m] for r in recs if m in r.metrics]
                if vals:
                    row[m] = round(sum(vals) / len(vals), 3)
            out[sweep][cell] = row
    text = json.dumps(out, indent=2, sort_keys=True) + "\n"
    return save_text(Path(results_dir) / "summary.json", text)

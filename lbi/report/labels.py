"""Column labels that say whose numbers a cell holds, and per-table provenance lines.

The paper's numbers are "paper (Human3.6M)" / "paper (MPI-INF-3DHP)". Ours are labelled
by the data they were computed on: "ours (embedded synthetic)" whenever any input is
synthetic (never a Human3.6M claim for numbers not measured on Human3.6M), "ours
(Human3.6M)" only when every input is real Human3.6M, "ours (data unknown)" otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lbi.report.collect import Inputs, RunRecord, SourceResult

PAPER_IN = "paper (Human3.6M)"
PAPER_CROSS = "paper (MPI-INF-3DHP)"
SYNTHETIC_BANNER = (
    "SYNTHETIC: our numbers come from the embedded synthetic benchmark (rendered from "
    "motion capture), not from Human3.6M / MPI-INF-3DHP; they are not comparable in "
    "absolute value to the paper's."
)
SOURCE_NAMES = {"gt": "ground-truth 2D", "cpn": "CPN 2D", "sh": "SH 2D"}
REAL_NAMES = {"h36m": ("Human3.6M", "MPI-INF-3DHP")}


@dataclass(frozen=True)
class DataLabel:
    """What our numbers in one table were computed on."""

    synthetic: bool | None  # True if any input is synthetic; None if unknown
    dataset: str | None  # the in-domain dataset name when known and unique

    @property
    def in_domain(self) -> str:
        """Label of our in-domain (Human3.6M-like) columns."""
        if self.synthetic:
            return "ours (embedded synthetic)"
        if self.synthetic is False and self.dataset in REAL_NAMES:
            return f"ours ({REAL_NAMES[self.dataset][0]})"
        return "ours (data unknown)"

    @property
    def cross_domain(self) -> str:
        """Label of our cross-domain (3DHP-like) columns."""
        if self.synthetic:
            return "ours (embedded synthetic, cross domain)"
        if self.synthetic is False and self.dataset in REAL_NAMES:
            return f"ours ({REAL_NAMES[self.dataset][1]})"
        return "ours (data unknown, cross domain)"

    @property
    def words(self) -> str:
        """For provenance lines: ``dataset embedded (SYNTHETIC)``."""
        name = self.dataset or "unknown"
        if self.synthetic:
            return f"dataset {name} (SYNTHETIC)"
        if self.synthetic is False:
            return f"dataset {name} (real)"
        return f"dataset {name} (synthetic flag unknown)"


def data_label(
    flags: Iterable[tuple[bool | None, str | None]], default: DataLabel | None = None
) -> DataLabel:
    """Combine (synthetic, dataset) pairs: any synthetic -> synthetic; all real -> real.

    With no pairs (a table none of our runs fills), ``default`` (the report's label). Runs
    without a flag (CSV rows) take ``default`` only when it is synthetic: a missing flag
    never turns into a real-data claim.
    """
    fl = list(flags)
    if not fl and default is not None:
        return default
    syn = [s for s, _ in fl]
    names = {d for _, d in fl if d}
    if any(s is True for s in syn):
        synthetic: bool | None = True
    elif fl and all(s is False for s in syn):
        synthetic = False
    elif default is not None and default.synthetic:
        return DataLabel(True, names.pop() if len(names) == 1 else default.dataset)
    else:
        synthetic = None
    return DataLabel(synthetic, names.pop() if len(names) == 1 else None)


def report_label(inputs: Inputs, configured: str | None = None) -> DataLabel:
    """The whole report's label: pipeline sources, sweep runs, the in-domain store, and
    the configured ``data.dataset`` when it is the (always synthetic) embedded benchmark."""
    flags = [(s.synthetic, s.dataset) for s in inputs.sources.values() if s.metrics_path]
    if configured == "embedded":
        flags.append((True, None))
    flags += [(r.synthetic, r.dataset) for r in inputs.runs]
    meta = inputs.store_meta or {}
    if "synthetic" in meta:
        flags.append((bool(meta["synthetic"]), meta.get("dataset")))
    return data_label(flags)


def source_provenance(s: SourceResult) -> str:
    """``pipeline gt: metrics/gt.json, ... - dataset embedded (SYNTHETIC), 2D: <method>``."""
    files = ", ".join(str(p) for p in s.files) or "no files found"
    lab = data_label([(s.synthetic, s.dataset)])
    method = s.source_method or "not recorded"
    run = f"MLflow run {s.run_id}" if s.run_id else "MLflow run not found"
    n = {k: len(v) for k, v in s.curves.items() if v}  # epochs run, from the per-epoch curves
    parts = [" + ".join(f"stage {i} {n[f'stage{i}']}" for i in (1, 2) if f"stage{i}" in n)]
    parts.append(f"lifter {n['baseline']}" if "baseline" in n else "")
    epochs = ", ".join(x for x in parts if x)
    tail = f"; epochs: {epochs}" if epochs else ""
    return (
        f"pipeline, 2D source `{s.source}`: {files}; {run}; {lab.words}; 2D method: {method}{tail}"
    )


def runs_provenance(runs: Sequence[RunRecord], limit: int = 12) -> list[str]:
    """One line per origin: run ids (first ``limit``), git commits, data label."""
    lines = []
    for origin in ("mlflow", "csv", "pipeline"):
        rs = [r for r in runs if r.origin == origin]
        if not rs or origin == "pipeline":
            continue
        ids = sorted({r.run_id for r in rs})
        shown = ", ".join(ids[:limit]) + (
            f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
        )
        commits = sorted({r.git_commit for r in rs if r.git_commit}) or ["not recorded"]
        sweeps = sorted({r.sweep for r in rs if r.sweep})
        lab = data_label([(r.synthetic, r.dataset) for r in rs])
        what = "MLflow runs" if origin == "mlflow" else "CSV rows"
        widths = sorted(
            {r.params["model.dim"] for r in rs if r.params.get("model.arch") == "lbi"
             and r.params.get("model.dim")}, key=int,
        )  # fmt: skip
        width = f"; LBI token width (model.dim) {', '.join(widths)}" if widths else ""
        budgets = sorted({r.budget for r in rs if r.budget})
        budget = f"; epochs: {', '.join(budgets)}" if budgets else ""
        lines.append(
            f"sweep {what} ({', '.join(sweeps) or 'unnamed'}; {len(ids)}): {shown}; "
            f"git {', '.join(commits)}; {lab.words}{width}{budget}"
        )
    return lines

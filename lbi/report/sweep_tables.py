"""Runs tagged with no paper table: the stage-2 depth cells, the hyper-parameter search.

Grid sweeps (several seeds per setting) get mean ± std per setting; the search
(``lbi.table = search``: one trial per sampled configuration, selected on the test split
as the paper's setting offers no validation split) lists its best trials with their
sampled values.
"""

from __future__ import annotations

from collections.abc import Sequence

from lbi.report.ablations import origins, value
from lbi.report.collect import RunRecord
from lbi.report.labels import data_label, runs_provenance
from lbi.report.render import MISSING, Block, Table, aggregate, fmt, fmt_stat

PAPER_TABLES = {str(i) for i in range(1, 12)}
SEARCH = "search"


def other_sweeps(runs: Sequence[RunRecord]) -> Table | None:
    """Grid-sweep runs tagged with no paper table, by (table, row, 2D source, epochs); None if
    none."""
    rest = [r for r in runs if r.table not in PAPER_TABLES and r.table != SEARCH]
    if not rest:
        return None
    groups: dict[tuple[str, str, str, str], list[RunRecord]] = {}
    for r in rest:  # runs of another epoch budget are another setting
        groups.setdefault((r.table, r.row, r.source_2d or "", r.epochs or ""), []).append(r)
    lab = data_label([(r.synthetic, r.dataset) for r in rest])
    rows = []
    for (table, row, src, epochs), recs in sorted(groups.items()):
        # The refined pose, or the output the run's column tag names (a lifter: "baseline").
        a = aggregate(value(r, "test_{m}_p1_mm", "refined") for r in recs)
        b = aggregate(value(r, "cross_{m}_mpjpe_mm", "refined") for r in recs)
        n = len({r.run_id for r in recs})
        rows.append((table, row, src or MISSING, epochs or MISSING, fmt_stat(a), fmt_stat(b),
                     str(n), origins(recs)))  # fmt: skip
    header = (
        "group (lbi.table)",
        "setting (lbi.row)",
        "2D",
        "epochs",
        f"in-domain MPJPE · {lab.in_domain}",
        f"cross-domain MPJPE · {lab.cross_domain}",
        "n",
        "from",
    )
    return Table(
        key="sweeps_other",
        title="Other sweeps (not in the paper)",
        caption=(
            "Grid-sweep settings that are no paper table (e.g. `sweeps/compare_lifter.py`); "
            "mm; the refined pose, or the model the run's `lbi.column` tag names (a lifter "
            f"row: the lifter's pose). Ours: {lab.in_domain}."
        ),
        blocks=(Block("", header, tuple(rows)),),
        provenance=tuple(runs_provenance(rest)),
    )


def _searched(r: RunRecord) -> dict[str, str]:
    """The sampled values: MLflow params ``overrides.<key>`` or CSV columns ``search.<key>``."""
    out = {}
    for k, v in r.params.items():
        for prefix in ("overrides.", "search."):
            if k.startswith(prefix):
                out[k[len(prefix) :]] = v
    return out


def search_table(runs: Sequence[RunRecord], top: int = 10) -> Table | None:
    """The best ``top`` finished search trials by in-domain refined MPJPE; None if none."""
    trials = [r for r in runs if r.table == SEARCH]
    if not trials:
        return None

    def score(r: RunRecord) -> float:
        v = r.metrics.get("test_refined_p1_mm")
        return float("inf") if v is None else v

    trials.sort(key=score)
    keys = sorted({k for r in trials for k in _searched(r)})
    lab = data_label([(r.synthetic, r.dataset) for r in trials])
    rows = []
    for r in trials[:top]:
        s = _searched(r)
        rows.append(
            (
                r.run_id[:12] if r.origin == "mlflow" else "csv " + r.run_id.rsplit("#", 1)[-1],
                *(s.get(k, MISSING) for k in keys),
                fmt(r.metrics.get("test_refined_p1_mm")),
                fmt(r.metrics.get("cross_refined_mpjpe_mm")),
            )
        )
    header = (
        "run",
        *keys,
        f"in-domain MPJPE, refined · {lab.in_domain}",
        f"cross-domain MPJPE, refined · {lab.cross_domain}",
    )
    return Table(
        key="search",
        title="Hyper-parameter search (not in the paper)",
        caption=(
            f"Best {min(top, len(trials))} of {len(trials)} finished trials by in-domain MPJPE "
            f"(mm); selected on the test split (the data have no validation split). Ours: "
            f"{lab.in_domain}."
        ),
        blocks=(Block("", header, tuple(rows)),),
        provenance=tuple(runs_provenance(trials)),
    )

"""Tables 1 and 5: stage-1 MPJPE and background attention, in-domain and cross-domain.

Table 1 is the straightforward image model: three stacked Transformer Layers, no PGTL
(paper appendix). Its runs: those tagged Table 1, else the Table 6 sweep's ``tl,tl,tl``
(2/0) cell, the same model. Table 5 compares it (w/o PGTL) with the default stage 1
(w/ PGTL): runs tagged Table 5, plus Table 1's model, plus the Table 6 sweep's
``tl,tl,tl`` / ``tl,pgtl,tl`` cells; the pipeline's own model fills the row its stage 1
is when no run does. All numbers are of the coarse pose (stage 1).
"""

from __future__ import annotations

from collections.abc import Sequence

from lbi.report import rows as R
from lbi.report.ablations import of_table, origins, value
from lbi.report.collect import RunRecord, SourceResult
from lbi.report.labels import DataLabel, data_label, runs_provenance, source_provenance
from lbi.report.paper import TABLES
from lbi.report.render import MISSING, Block, Stat, Table, aggregate, fmt, fmt_stat

ATTENTION_NOTE = (
    "Background attention: share of the last stage-1 layer's joint-to-image attention outside "
    "30-px discs around the joints (radius scaled to the crop); 'exact mask' uses the true "
    "foreground masks (synthetic data only)."
)
Row = tuple[tuple[str, ...], str, tuple[float | None, ...], list[RunRecord]]


def _cells(recs: Sequence[RunRecord], domain: str) -> list[Stat | None]:
    """Coarse MPJPE, background attention (disc rule), background attention (exact mask)."""
    mkey = "test_{m}_p1_mm" if domain == "test" else "cross_{m}_mpjpe_mm"
    keys = (f"{domain}_stage1_bg_attention_pct", f"{domain}_stage1_bg_attention_fgmask_pct")
    return [
        aggregate(value(r, mkey, "coarse") for r in recs),
        *(aggregate(r.metrics.get(k) for r in recs) for k in keys),
    ]


def _table(
    number: int,
    title: str,
    caption: str,
    lead_header: tuple[str, ...],
    rows_spec: Sequence[Row],
    notes: Sequence[str],
    sources: Sequence[SourceResult] = (),
    default: DataLabel | None = None,
) -> Table:
    """Rows of (lead cells, domain test|cross, paper (MPJPE, bg %), runs)."""
    used = [r for *_, recs in rows_spec for r in recs]
    lab = data_label([(r.synthetic, r.dataset) for r in used], default)
    header = (
        *lead_header,
        "MPJPE · paper",
        f"MPJPE · {lab.in_domain}",
        "Background attention · paper",
        f"Background attention (30-px rule) · {lab.in_domain}",
        f"Background attention (exact mask) · {lab.in_domain}",
        "n",
        "from",
    )
    rows = []
    for lead, domain, (p_mpjpe, p_bg), recs in rows_spec:
        st = _cells(recs, domain)
        n = len({r.run_id for r in recs}) if any(s is not None for s in st) else 0
        rows.append(
            (
                *lead,
                fmt(p_mpjpe),
                fmt_stat(st[0]),
                fmt(p_bg, 0, "%"),
                fmt_stat(st[1], unit="%"),
                fmt_stat(st[2], unit="%"),
                str(n) if n else MISSING,
                origins(recs) if n else MISSING,
            )
        )
    prov = runs_provenance(used)
    if any(r.origin == "pipeline" for r in used):
        prov += [source_provenance(s) for s in sources]
    prov.append(f"paper: lbi/report/paper.py (Table {number}, as printed)")
    return Table(
        key=f"table{number}",
        title=title,
        caption=(
            f"{caption} Paper: trained on Human3.6M, tested on Human3.6M / 3DHP; ours: "
            f"{lab.in_domain}, tested in-domain / cross-domain."
        ),
        blocks=(Block("", header, tuple(rows)),),
        notes=(*notes, ATTENTION_NOTE),
        provenance=tuple(prov),
    )


def _pattern_runs(runs: Sequence[RunRecord], pattern: str) -> list[RunRecord]:
    return [r for r in of_table(runs, 6) if R.layers(r) == [pattern]]


def straightforward_runs(runs: Sequence[RunRecord]) -> tuple[list[RunRecord], str]:
    """Table 1's runs (tagged 1, else Table 6's tl,tl,tl) and a note saying which."""
    own = of_table(runs, 1)
    if own:
        return own, "Runs tagged Table 1."
    return _pattern_runs(runs, "tl,tl,tl"), "Runs: the Table 6 sweep's tl,tl,tl (2/0) cell."


def table1(runs: Sequence[RunRecord], default: DataLabel | None = None) -> Table:
    """Table 1: the straightforward image model, in-domain and cross-domain."""
    pt = TABLES["table1"]
    recs, note = straightforward_runs(runs)
    return _table(
        1,
        "Table 1 — straightforward image model: generalisation and background attention",
        "Table 1: three stacked Transformer Layers (no PGTL), coarse-pose MPJPE (mm).",
        ("Train → Test · paper", "Train → Test · ours"),
        [
            (
                ("H3.6M → H3.6M", "in-domain → in-domain test"),
                "test",
                pt.rows["H3.6M -> H3.6M"],
                recs,
            ),
            (
                ("H3.6M → 3DHP", "in-domain → cross-domain test"),
                "cross",
                pt.rows["H3.6M -> 3DHP"],
                recs,
            ),
        ],
        (note,),
        default=default,
    )


def table5(
    runs: Sequence[RunRecord],
    fallback: Sequence[RunRecord],
    sources: Sequence[SourceResult],
    default: DataLabel | None = None,
) -> Table:
    """Table 5: without vs with the PGTL (coarse pose, background attention)."""
    pt = TABLES["table5"]
    groups: dict[str, list[RunRecord]] = {"wo": [], "w": []}
    for r in of_table(runs, 5):
        k = R.pgtl(r)[0]
        if k in groups:
            groups[k].append(r)
    if not groups["wo"]:
        groups["wo"] = straightforward_runs(runs)[0]
    if not groups["w"]:
        groups["w"] = _pattern_runs(runs, "tl,pgtl,tl")
    for r in of_table(fallback, 5):
        k = R.pgtl(r)[0]
        if k in groups and not groups[k]:
            groups[k] = [r]
    spec: list[Row] = []
    for k, name in (("wo", "w/o PGTL"), ("w", "w/ PGTL")):
        for domain, pname, oname in (
            ("test", "H3.6M", "in-domain test"),
            ("cross", "3DHP", "cross-domain test"),
        ):
            spec.append(((name, pname, oname), domain, pt.rows[f"{name}, {pname}"], groups[k]))
    return _table(
        5,
        "Table 5 — effect of the Pose-guided Transformer Layer (PGTL)",
        "Table 5: coarse-pose MPJPE (mm) and stage-1 background attention.",
        ("", "Dataset · paper", "Dataset · ours"),
        spec,
        (
            "Runs: tagged Table 5; else w/o PGTL = Table 1's model (tl,tl,tl) and w/ PGTL = the "
            "Table 6 sweep's tl,pgtl,tl cell; else the pipeline's model for the row its stage 1 is.",
        ),
        sources,
        default,
    )

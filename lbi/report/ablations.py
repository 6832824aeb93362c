"""Tables built from sweep records: the ablations (1, 4, 5, 6, 7, 9, 10, 11), Table 3's
runs over seeds, and "Other sweeps".

A :class:`Spec` says which records a table reads (their ``table`` field), which row each
record feeds (from its fields: ``mode``, ``row``, ``params``) and which metric of which
output (coarse / refined / lifter) each column shows. Rows are the paper's rows in its
order (a row without runs says "not run"), then any other settings we ran. A row holds
one :class:`~lbi.report.stats.Variant` (budget, width, schedule, data, 2D source): runs
of another variant of the same setting are another row, with the variant named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from lbi.record import RunRecord
from lbi.report.inputs import Sweeps
from lbi.report.paper import SOURCE, TABLES
from lbi.report.stats import (
    NONE,
    NOT_RUN,
    Stat,
    Variant,
    data_name,
    once_per_seed,
    ours,
    stat,
    value,
    variant,
)
from lbi.report.table import Block, Table

PAPER_IN, PAPER_CROSS = "paper (Human3.6M)", "paper (MPI-INF-3DHP)"
OUTPUT = {"progressive": "refined", "e2e_fine": "refined", "e2e_both": "refined"}
OUTPUT |= {"stage1": "coarse", "lifter": "lifter"}
PAPER_TABLE_IDS = tuple(str(n) for n in range(1, 12))


class Setting(NamedTuple):
    label: str  # the row
    output: str  # coarse | refined | lifter: whose metrics the row shows


@dataclass(frozen=True)
class Column:
    label: str  # ours, e.g. "in-domain MPJPE (mm)"
    metric: str  # metric key; "{out}" becomes the row's output
    paper: str = ""  # the paper's column shown just before ours ("" = none)


@dataclass(frozen=True)
class Spec:
    key: str  # file name: "table7"
    title: str
    caption: str
    tables: tuple[str, ...]  # record.table values read (empty: every non-paper table)
    settings: Callable[[RunRecord], list[Setting]]
    columns: tuple[Column, ...]
    paper: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)  # _paper
    rows: tuple[str, ...] = ()  # fixed rows first (default: the paper's rows, in its order)
    shared: frozenset[str] = frozenset()  # rows whose model several cells share per seed
    notes: tuple[str, ...] = ()
    setting_header: str = "Setting"


@dataclass(frozen=True)
class Row:
    setting: Setting
    variant: Variant | None  # None: not run
    records: tuple[RunRecord, ...]

    def stat(self, column: Column) -> Stat:
        return stat(self.records, column.metric.format(out=self.setting.output))


def select(spec: Spec, records: Sequence[RunRecord]) -> list[RunRecord]:
    """The records a table reads (by their ``table`` field)."""
    if spec.tables:
        return [r for r in records if r.table in spec.tables]
    return [r for r in records if r.table not in PAPER_TABLE_IDS]


def group(spec: Spec, records: Sequence[RunRecord]) -> list[Row]:
    """One row per (setting, variant); fixed rows without runs as "not run" rows."""
    groups: dict[tuple[str, Variant], tuple[Setting, list[RunRecord]]] = {}
    for r in select(spec, records):
        for s in spec.settings(r):
            groups.setdefault((s.label, variant(r)), (s, []))[1].append(r)
    fixed = spec.rows or tuple(spec.paper)
    labels = list(fixed) + sorted({label for label, _ in groups} - set(fixed))
    labels = labels or [NOT_RUN]  # a table with no fixed rows and no runs still says so
    out = []
    for label in labels:
        variants = sorted(v for lab, v in groups if lab == label)
        if not variants:
            out.append(Row(Setting(label, ""), None, ()))
        for v in variants:
            s, recs = groups[(label, v)]
            recs = once_per_seed(recs) if label in spec.shared else recs
            out.append(Row(s, v, tuple(sorted(recs, key=lambda r: (r.seed, r.cell, r.key)))))
    return out


def block(spec: Spec, rows: Sequence[Row], label: str, title: str = "") -> Block:
    header = [spec.setting_header, "runs (epochs, 2D, width, schedule)"]
    for c in spec.columns:
        header += [c.paper] if c.paper else []
        header.append(f"{c.label} · {label}")
    datasets = len({r.variant.dataset for r in rows if r.variant})
    cells = []
    for row in rows:
        line = [row.setting.label, row.variant.text(datasets) if row.variant else NONE]
        for c in spec.columns:
            if c.paper:  # the paper froze stage 1 in stage 2: no paper value beside such runs
                v = spec.paper.get(row.setting.label, {}).get(c.paper)
                line.append(value(None if row.variant and row.variant.finetune else v))
            line.append(row.stat(c).text(len(row.records)) if row.records else NOT_RUN)
        seeds = len({r.seed for r in row.records})  # two runs of one seed: said, not hidden
        n = str(len(row.records)) + (f" ({seeds} seeds)" if seeds < len(row.records) else "")
        cells.append((*line, n))
    return Block(title, (*header, "n"), tuple(cells))


def provenance(records: Sequence[RunRecord], sweeps: Sweeps) -> list[str]:
    """Per results file: how many records, which sweep, cells and seeds, budgets, data, code."""
    by_file: dict[str, dict[str, RunRecord]] = {}
    for r in records:  # by key: a record may feed two rows
        by_file.setdefault(sweeps.file_of.get(r.key, "?"), {})[r.key] = r
    out = []
    for f, recs in sorted(by_file.items()):

        def each(field: str, rs: Iterable[RunRecord] = recs.values()) -> str:
            found = sorted({getattr(r, field) for r in rs})
            more = f" (+{len(found) - 8} more)" if len(found) > 8 else ""
            return ", ".join(str(v) for v in found[:8]) + more

        budgets = "; ".join(sorted({variant(r).budget for r in recs.values()}))
        data = ", ".join(sorted({data_name(r) for r in recs.values()}))
        commits = ", ".join(sorted({r.git_commit[:10] for r in recs.values()}))
        left = f"; left out: {sweeps.left_out[f]}" if f in sweeps.left_out else ""
        out.append(
            f"{f}: {len(recs)} finished records (sweep {each('sweep')}; cells {each('cell')}; "
            f"seeds {each('seed')}); epochs: {budgets}; data: {data}; code: git {commits}{left}"
        )
    return out or ["no finished sweep records for this table (results/*.jsonl)"]


def build(spec: Spec, sweeps: Sweeps) -> tuple[Table, list[Row]]:
    """The table of ``spec`` from ``sweeps`` and its rows (for the plot)."""
    used = select(spec, sweeps.records)
    rows = group(spec, used)
    label = ours(data_name(r) for r in used)
    paper = [f"paper: {SOURCE} ({spec.key}, as printed)"] if spec.paper else []
    table = Table(
        key=spec.key,
        title=spec.title,
        caption=f"{spec.caption} Ours: {label if used else 'no finished runs yet'}."
        + (f" Paper: {PAPER_IN} / {PAPER_CROSS}." if spec.paper else ""),
        blocks=(block(spec, rows, label),),
        notes=spec.notes,
        provenance=(*provenance([r for row in rows for r in row.records], sweeps), *paper),
    )
    return table, rows


# --------------------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------------------
IN = Column("in-domain MPJPE (mm)", "test_{out}_p1_mm", f"H3.6M MPJPE · {PAPER_IN}")
CROSS = Column("cross-domain MPJPE (mm)", "cross_{out}_mpjpe_mm", f"3DHP MPJPE · {PAPER_CROSS}")
IN_P1, CROSS_MPJPE = Column(IN.label, IN.metric), Column(CROSS.label, CROSS.metric)
MPJPE = Column(IN.label, IN.metric, f"MPJPE · {PAPER_IN}")  # tables with one paper column
BG = (
    Column("in-domain bg attention % (30-px rule)", "test_stage1_bg_attention_pct",
           f"H3.6M bg attention % · {PAPER_IN}"),
    Column("cross-domain bg attention % (30-px rule)", "cross_stage1_bg_attention_pct",
           f"3DHP bg attention % · {PAPER_CROSS}"),
    Column("in-domain bg attention % (exact mask)", "test_stage1_bg_attention_fgmask_pct"),
    Column("cross-domain bg attention % (exact mask)", "cross_stage1_bg_attention_fgmask_pct"),
)  # fmt: skip
BG_NOTE = (
    "Background attention: share of the last stage-1 layer's joint-to-image attention "
    "outside 30-px discs around the joints (radius scaled to the crop); 'exact mask' uses "
    "the true foreground masks (synthetic data only)."
)
NO_PGTL, PGTL = ("tl", "tl", "tl"), ("tl", "pgtl", "tl")
PATTERNS = {("pgtl", "pgtl", "tl"): "0,2", PGTL: "1,1", NO_PGTL: "2,0"}  # Table 6 rows
BACKBONES = {"resnet50": "Resnet50", "resnet101": "Resnet101"}
BACKBONES |= {"hrnet_w32": "HRNet-w32", "hrnet_w48": "HRNet-w48"}
PGTL_VARIANTS = {"before": "Normalization before Transposition"}
PGTL_VARIANTS |= {"after": "Normalization after Transposition", "double": "Double Normalization"}
PGTL_VARIANTS |= {"two_cross": "Two Cross-attention"}
E2E = {"e2e_fine": "end-to-end w/ fine supervision", "e2e_both": "end-to-end w/ both supervision"}
RETENTIONS = (0.01, 0.1, 0.3, 0.5, 1.0)  # the sweep's full grid (rows even when not run)


def _model(r: RunRecord, name: str) -> object:
    v = r.params.get("model", {}).get(name)
    return tuple(v) if isinstance(v, list) else v


def _paper(key: str, cols: Mapping[Column, str], rows: Mapping | None = None) -> dict:
    """Our row -> {our paper-column header -> the printed value} of paper table ``key``.

    ``cols``: our column -> the printed column. ``rows``: our row -> the paper's rows for an
    in-domain and a cross-domain column (Tables 1 and 5 print one row per test domain);
    default: the paper's rows as printed."""
    t = TABLES[key]
    rows = rows or {row: (row, row) for row in t.rows}
    cross = {c: int(c.metric.startswith("cross_")) for c in cols}
    return {o: {c.paper: t.cell(p[cross[c]], k) for c, k in cols.items()} for o, p in rows.items()}


def _stage1(labels: Mapping[object, str], others: bool = False) -> Callable:
    """Rows by ``model.stage1``; patterns not in ``labels`` are left out unless ``others``."""

    def settings(r: RunRecord) -> list[Setting]:
        p = _model(r, "stage1")
        label = labels.get(p, ", ".join(p or ()) if others else "")  # type: ignore[arg-type]
        return [Setting(label, "coarse")] if label else []

    return settings


def _by_model(name: str, labels: Mapping[str, str], output: str) -> Callable:
    """Rows by ``model.<name>``, labelled as the paper names them."""
    return lambda r: [Setting(labels.get(str(_model(r, name)), str(_model(r, name))), output)]


def _table4(r: RunRecord) -> list[Setting]:
    if r.mode == "progressive":
        return [Setting("Coarse Pose", "coarse"), Setting("Refined Pose", "refined")]
    return [Setting(E2E[r.mode], "refined")] if r.mode in E2E else []


def _table7(r: RunRecord) -> list[Setting]:
    retention = float(r.params["prune"]["retention"])
    return [Setting(f"{retention:g}", "refined"), Setting("Coarse Pose", "coarse")]


def _table3(r: RunRecord) -> list[Setting]:
    if r.mode == "lifter":
        arch = r.params.get("lifter", {}).get("model", {}).get("arch", "architecture not recorded")
        return [Setting(f"2D-only lifter ({arch})", "lifter")]
    return [Setting("LBI refined", "refined"), Setting("LBI coarse", "coarse")]


T1 = {"tl, tl, tl": ("H3.6M -> H3.6M", "H3.6M -> 3DHP")}
WITHOUT, WITH = "w/o PGTL (tl, tl, tl)", "w/ PGTL (tl, pgtl, tl)"
T5 = {WITHOUT: ("w/o PGTL, H3.6M", "w/o PGTL, 3DHP"), WITH: ("w/ PGTL, H3.6M", "w/ PGTL, 3DHP")}
DOMAINS = {IN: "MPJPE", CROSS: "MPJPE"} | {c: "Background Attention" for c in BG[:2]}
ONE = {MPJPE: "MPJPE"}  # tables that print one MPJPE column
STAGE1_NOTE = "Runs: sweep records of tables 1, 5 and 6, by their model.stage1."
SPECS: tuple[Spec, ...] = (
    Spec("table1",
         "Table 1 — straightforward image model: generalisation and background attention",
         "Three stacked Transformer Layers in stage 1 (no PGTL), coarse pose.",
         ("1", "5", "6"), _stage1({NO_PGTL: "tl, tl, tl"}), (IN, CROSS, *BG),
         _paper("table1", DOMAINS, T1), notes=(BG_NOTE, STAGE1_NOTE),
         setting_header="stage-1 layers"),
    Spec("table4", "Table 4 — progressive learning", "MPJPE, end-to-end vs progressive training.",
         ("4",), _table4, (IN, CROSS), _paper("table4", {IN: "Human3.6m", CROSS: "3DHP"}),
         setting_header="Strategy"),
    Spec("table5", "Table 5 — effect of the Pose-guided Transformer Layer (PGTL)",
         "Coarse pose and stage-1 background attention, without and with a PGTL.",
         ("1", "5", "6"), _stage1({NO_PGTL: WITHOUT, PGTL: WITH}), (IN, CROSS, *BG),
         _paper("table5", DOMAINS, T5), notes=(BG_NOTE, STAGE1_NOTE)),
    Spec("table6", "Table 6 — Transformer vs Pose-guided layers in stage 1",
         "Coarse pose by stage-1 layer composition (model.stage1).", ("6",),
         _stage1(PATTERNS, others=True), (MPJPE, CROSS_MPJPE), _paper("table6", ONE),
         notes=("Rows count the first two stage-1 layers (our reading; the last is always a "
                "Transformer Layer): 0,2 = pgtl, pgtl, tl; 1,1 = tl, pgtl, tl; 2,0 = tl, tl, tl.",),
         setting_header="Transformer Layer, Pose-guided Layer"),
    Spec("table7", "Table 7 — retention rate r of the Adaptive Feature Selection Module",
         "Refined pose by AFSM retention r (prune.retention); last row the coarse pose.", ("7",),
         _table7, (MPJPE, CROSS_MPJPE), _paper("table7", ONE),
         (*(f"{r:g}" for r in RETENTIONS), "Coarse Pose"), frozenset({"Coarse Pose"}),
         notes=("Coarse Pose: the stage-1 model all r of a seed start from, once per seed.",),
         setting_header="r"),
    Spec("table9", "Table 9 — image-encoder pretraining",
         "Refined pose by how the image encoder started (the records' row).", ("9",),
         lambda r: [Setting(r.row, "refined")], (MPJPE, CROSS_MPJPE), _paper("table9", ONE),
         setting_header="Dataset / Task"),
    Spec("table10", "Table 10 — image encoder", "Refined pose by backbone (model.backbone).",
         ("10",), _by_model("backbone", BACKBONES, "refined"), (MPJPE, CROSS_MPJPE),
         _paper("table10", ONE), setting_header="Backbone",
         notes=("The paper prints this table as two side-by-side column pairs; one row each here.",)),
    Spec("table11", "Table 11 — Pose-guided dual attention variants",
         "Coarse pose by PGTL normalisation order (model.pgtl_variant).", ("11",),
         _by_model("pgtl_variant", PGTL_VARIANTS, "coarse"), (IN, CROSS),
         _paper("table11", {IN: "H3.6M", CROSS: "3DHP"}), setting_header="Strategy"),
)  # fmt: skip
SEEDS = Spec("table3", "Table 3 — runs over seeds",
             "Cross-domain PCK@150 mm and AUC (%, 14 joints), MPJPE (mm); in-domain P1.", ("3",),
             _table3, (Column("PCK", "cross_{out}_pck150_pct"),
                       Column("AUC", "cross_{out}_auc_pct"), CROSS_MPJPE, IN_P1),
             setting_header="Method")  # fmt: skip
OTHER = Spec("sweeps_other", "Other sweeps (not in the paper)",
             "Sweep records whose table is no paper table, by (table, row): the refined pose; the "
             "coarse pose of stage-1-only runs; the lifter's pose of lifter runs.", (),
             lambda r: [Setting(f"{r.table} · {r.row or r.cell}", OUTPUT[r.mode])],
             (IN_P1, CROSS_MPJPE), setting_header="table · row")  # fmt: skip

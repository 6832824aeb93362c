"""Tables built from sweep records: the ablations (1, 4, 5, 6, 7, 9, 10, 11), Table 3's
runs over seeds, and "Other sweeps".

A :class:`Spec` (an entry of ``paper/ablations.yaml``, :func:`load_specs`) says which
records a table reads, which row each record feeds and which metric of which output
(coarse / refined / lifter) each column shows. Rows are the paper's rows in its order (a
row without runs says "not run"), then any other settings we ran. A row holds one
:class:`~lbi.report.stats.Variant` (budget, width, schedule, data, 2D source): runs of
another variant of the same setting are another row, with the variant named.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

from lbi.config import from_dict, to_dict
from lbi.numerics import PIPELINE
from lbi.params import Params
from lbi.record import RunRecord
from lbi.report import stats
from lbi.report.inputs import Sweeps
from lbi.report.paper import PAPER_DIR, SOURCE, TABLES, load_entries
from lbi.report.table import Block, Table

PAPER_IN, PAPER_CROSS = "paper (Human3.6M)", "paper (MPI-INF-3DHP)"
OUTPUT = {"progressive": "refined", "e2e_fine": "refined", "e2e_both": "refined"}
OUTPUT |= {"stage1": "coarse", "lifter": "lifter"}
PAPER_TABLE_IDS = tuple(str(n) for n in range(1, 12))
SPREAD_TABLE = "seed-spread"  # sweeps/seed_spread.py's records (issue 20 item 3)
SPECS_FILE: Final[Path] = PAPER_DIR / "ablations.yaml"
SPEC_LAYOUT = f"The header of {PAPER_DIR.name}/{SPECS_FILE.name} says what each key means"
Output = Literal["coarse", "refined", "lifter"]


class Setting(NamedTuple):
    label: str  # the row
    output: str  # coarse | refined | lifter: whose metrics the row shows


@dataclass(frozen=True)
class Column:
    label: str  # ours, e.g. "in-domain MPJPE (mm)"
    metric: str  # metric key; "{out}" becomes the row's output
    paper: str = ""  # header of the paper's column shown just before ours (when ``printed``)
    printed: str | None = None  # that column in paper/tables.yaml (None: no paper column)


@dataclass(frozen=True)
class RowDecl:
    """A fixed row of an ablation table."""

    label: str
    when: str | None = None  # the table's ``by`` value that feeds it; None: the label
    output: Output | None = None  # None: the table's
    every: bool = False  # every record the table reads feeds it too
    once_per_seed: bool = False  # the model several cells share: counted once per seed
    paper: tuple[str, ...] | None = None  # paper row(s): one, or [in-, cross-domain]; None: label


@dataclass(frozen=True)
class Spec:
    """A table of sweep records; the header of ``paper/ablations.yaml`` says what each key
    means (``key``: the file name, "table7"; ``columns``: resolved by :func:`load_specs`)."""

    key: str
    title: str
    caption: str
    records: tuple[str, ...]  # record.table values read (empty: every non-paper table)
    by: str  # "mode", "row" or a params.yaml key: the record field that picks the row
    output: Output
    columns: tuple[Column, ...]
    rows: tuple[RowDecl, ...] = ()  # fixed rows, first and in order
    others: bool = False  # a value no row names gets its own row (else: left out)
    notes: tuple[str, ...] = ()
    setting_header: str = "Setting"

    def settings(self, r: RunRecord) -> list[Setting]:
        """The rows ``r`` feeds: those naming its ``by`` value (or a row of its own, when
        ``others``) and the ``every`` rows; none for a record without the field."""
        v = _text(r, self.by)
        named = [d for d in self.rows if not d.every and (d.when or d.label) == v]
        out = [Setting(d.label, d.output or self.output) for d in named]
        out += [Setting(v, self.output)] if self.others and not named else []
        out += [Setting(d.label, d.output or self.output) for d in self.rows if d.every]
        return out if v is not None else []

    def computed_notes(self, records: Sequence[RunRecord]) -> list[str]:
        """Notes computed from the records the table reads (none but in "Other sweeps")."""
        return []

    def paper(self, label: str, c: Column) -> float | None:
        """The paper's printed value beside our column ``c`` in row ``label`` (None: none);
        a row's paper rows are [in-domain, cross-domain] where it prints one per domain."""
        d = next((d for d in self.rows if d.label == label), None)
        if d is None or c.printed is None or d.paper == ():
            return None
        rows = (label,) if d.paper is None else d.paper
        return TABLES[self.key].cell(rows[-1 if c.metric.startswith("cross_") else 0], c.printed)

    @property
    def cites_paper(self) -> bool:
        return any(c.printed for c in self.columns) and any(d.paper != () for d in self.rows)


@dataclass(frozen=True)
class Row:
    setting: Setting
    variant: stats.Variant | None  # None: not run
    records: tuple[RunRecord, ...]

    def stat(self, column: Column) -> stats.Stat:
        return stats.stat(self.records, column.metric.format(out=self.setting.output))


def select(spec: Spec, records: Sequence[RunRecord]) -> list[RunRecord]:
    if spec.records:
        return [r for r in records if r.table in spec.records]
    return [r for r in records if r.table not in PAPER_TABLE_IDS]


def group(spec: Spec, records: Sequence[RunRecord]) -> list[Row]:
    """One row per (setting, variant); fixed rows without runs as "not run" rows."""
    groups: dict[tuple[str, stats.Variant], tuple[Setting, list[RunRecord]]] = {}
    for r in select(spec, records):
        for s in spec.settings(r):
            groups.setdefault((s.label, stats.variant(r)), (s, []))[1].append(r)
    fixed = [d.label for d in spec.rows]
    labels = fixed + sorted({label for label, _ in groups} - set(fixed))
    labels = labels or [stats.NOT_RUN]  # a table with no fixed rows and no runs still says so
    shared = {d.label for d in spec.rows if d.once_per_seed}
    out = []
    for label in labels:
        variants = sorted(v for lab, v in groups if lab == label)
        if not variants:
            out.append(Row(Setting(label, ""), None, ()))
        for v in variants:
            s, recs = groups[(label, v)]
            recs = stats.once_per_seed(recs) if label in shared else recs
            out.append(Row(s, v, tuple(sorted(recs, key=lambda r: (r.seed, r.cell, r.key)))))
    return out


def block(spec: Spec, rows: Sequence[Row], label: str, title: str = "") -> Block:
    header = [spec.setting_header, stats.VARIANT_HEADER]
    for c in spec.columns:
        header += [c.paper] if c.printed else []
        header.append(f"{c.label} · {label}")
    datasets = len({r.variant.dataset for r in rows if r.variant})
    cells = []
    for row in rows:
        line = [row.setting.label, row.variant.text(datasets) if row.variant else stats.NONE]
        for c in spec.columns:
            if c.printed:  # the paper froze stage 1 in stage 2: no paper value beside such runs
                finetuned = row.variant is not None and row.variant.finetune
                line.append(stats.value(None if finetuned else spec.paper(row.setting.label, c)))
            line.append(row.stat(c).text(len(row.records)) if row.records else stats.NOT_RUN)
        seeds = len({r.seed for r in row.records})  # two runs of one seed: said, not hidden
        n = str(len(row.records)) + (f" ({seeds} seeds)" if seeds < len(row.records) else "")
        cells.append((*line, n))
    return Block(title, (*header, "n"), tuple(cells))


def provenance(records: Sequence[RunRecord], sweeps: Sweeps) -> list[str]:
    """Per results file: how many records, which sweep, cells and seeds, budgets, data, code."""
    by_file: dict[str, dict[str, RunRecord]] = {}
    for r in records:  # by key: a record may feed two rows
        by_file.setdefault(sweeps.file_of.get((r.sweep, r.key), "?"), {})[r.key] = r
    out = []
    for f, recs in sorted(by_file.items()):

        def each(field: str, rs: Iterable[RunRecord] = recs.values()) -> str:
            found = sorted({getattr(r, field) for r in rs})
            more = f" (+{len(found) - 8} more)" if len(found) > 8 else ""
            return ", ".join(str(v) for v in found[:8]) + more

        budgets = "; ".join(sorted({stats.variant(r).budget for r in recs.values()}))
        data = ", ".join(sorted({stats.data_name(r) for r in recs.values()}))
        commits = ", ".join(sorted({stats.code(r.git_commit) for r in recs.values()}))
        left = f"; left out: {sweeps.left_out[f]}" if f in sweeps.left_out else ""
        twins = sum(r.metrics.get(stats.TWIN) == 1.0 for r in recs.values())
        twin = f"; {twins} of them evaluated the default stores' model of their cell and seed, not retrained ({stats.TWIN})" if twins else ""  # fmt: skip
        out.append(
            f"{f}: {len(recs)} finished records (sweep {each('sweep')}; cells {each('cell')}; "
            f"seeds {each('seed')}); epochs: {budgets}; data: {data}; code: {commits}{left}{twin}"
        )
    return out or ["no finished sweep records for this table (results/*.jsonl)"]


def build(spec: Spec, sweeps: Sweeps) -> tuple[Table, list[Row]]:
    """The table of ``spec`` from ``sweeps`` and its rows (for the plot)."""
    used = select(spec, sweeps.records)
    rows = group(spec, used)
    label = stats.ours(stats.data_name(r) for r in used)
    paper = [f"paper: {SOURCE} ({spec.key}, as printed)"] if spec.cites_paper else []
    table = Table(
        key=spec.key,
        title=spec.title,
        caption=f"{spec.caption} Ours: {label if used else 'no finished runs yet'}."
        + (f" Paper: {PAPER_IN} / {PAPER_CROSS}." if spec.cites_paper else ""),
        blocks=(block(spec, rows, label),),
        notes=(*spec.notes, *spec.computed_notes(used)),
        provenance=(*provenance([r for row in rows for r in row.records], sweeps), *paper),
    )
    return table, rows


SPREAD_RULE = (
    "adopt a treatment that narrows the spread (std ratio < 1, Pitman-Morgan p < 0.05) on "
    "either metric and hurts the mean (difference interval above 0) on neither"
)


SPREAD_STORE_RULE = (
    "a store variant (bigtest: the default models on larger test sets) serves both models of "
    "a claim, so it is judged by the spread of the claims' paired difference, LBI refined "
    "minus the lifter (T2 in-domain, T3 cross-domain), by the same test (its mean is over "
    "other test data, so not judged)"
)


def _spread_cell(r: RunRecord) -> str | None:
    """The seed-spread treatment a record is: its cell (``lbi_ema``); on a store variant's
    tables (``seed-spread@bigtest``) the default cell is that variant's treatment
    (``lbi_bigtest``); None for other records."""
    store = stats.stores_variant(r.table)
    if r.table != (SPREAD_TABLE if store is None else f"{SPREAD_TABLE}@{store}"):
        return None
    if store is None:
        return r.cell
    return r.cell.replace("_default", f"_{store}") if r.cell.endswith("_default") else None


def _against(name: str, a: stats.Stat, b: stats.Stat) -> tuple[str, bool, bool, int]:
    """``a`` (a treatment) against ``b`` (its default), paired by seed: the text, whether the
    spread narrows (std ratio < 1 at Pitman-Morgan p < 0.05), whether the mean is worse, n."""
    d = stats.difference(a, b)
    ratio, pv = stats.spread_ratio(a, b)
    ratio_text = f", std ratio {ratio:.2f} (Pitman-Morgan p = {pv:.2f})" if d.n > 2 else ""
    text = f"{name} {a.text()} vs {b.text()}, difference {stats.interval(d)} (n = {d.n}){ratio_text}"  # fmt: skip
    return text, ratio < 1 and pv < 0.05, d.n > 1 and d.mean - d.ci95 > 0, d.n


def _verdict(narrows: bool, hurts: bool, n: int, what: str = "spread without hurting the mean") -> str:  # fmt: skip
    return ("hurts the mean: keep the default" if hurts
            else f"narrows the {what}: adopt" if narrows
            else "too few seeds to judge" if n < 3
            else f"no narrower spread shown at n = {n}: keep the default")  # fmt: skip


def _claim_spread(store: str, cells: dict[str, list[RunRecord]]) -> str | None:
    """The store variant's verdict (:data:`SPREAD_STORE_RULE`): per seed, LBI refined minus
    the lifter on its test sets against the same on the default's."""

    def d(model: str, metric: str) -> dict[int, float]:
        seeds, a, b = stats.paired_values(cells[f"lbi_{model}"], cells[f"lifter_{model}"],
                                          metric.format("refined"), metric.format("lifter"))  # fmt: skip
        return dict(zip(seeds, stats.difference(a, b).values, strict=True))

    if not all(f"{m}_{s}" in cells for m in ("lbi", "lifter") for s in (store, "default")):
        return None
    parts, narrows, n = [], False, 0
    for claim, metric in (("T2", "test_{}_p1_mm"), ("T3", "cross_{}_mpjpe_mm")):
        on, off = d(store, metric), d("default", metric)
        seeds = sorted(set(on) & set(off))
        text, narrower, _, k = _against(claim, stats.Stat(tuple(on[s] for s in seeds)),
                                        stats.Stat(tuple(off[s] for s in seeds)))  # fmt: skip
        parts.append(text)
        narrows, n = narrows or narrower, max(n, k)
    verdict = _verdict(narrows, False, n, "claims' spread")
    return (f"Seed spread of the claims on the {store} stores (LBI refined − lifter, paired by "
            f"seed, against the default stores'): {'; '.join(parts)}; verdict: {verdict}.")  # fmt: skip


def spread_notes(records: Sequence[RunRecord]) -> list[str]:
    """Issue 20 item 3: each treatment of the seed-spread sweep (cell ``<model>_<t>``, or a
    store variant's default cell, :func:`_spread_cell`) against ``<model>_default`` at the
    seeds both ran: mean ± std of each, the paired difference, the std ratio with its
    Pitman-Morgan p, and the verdict of :data:`SPREAD_RULE`; a store variant's verdict is
    on the claims' difference instead (:func:`_claim_spread`)."""
    cells: dict[tuple[str, stats.Variant], list[RunRecord]] = {}  # a variant only meets its own
    stores: set[str] = set()
    for r in records:
        if (cell := _spread_cell(r)) is not None:
            cells.setdefault((cell, stats.variant(r)), []).append(r)
            stores |= {stats.stores_variant(r.table)} - {None}
    out = []
    for (cell, v), rs in sorted(cells.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        base = cells.get((cell.split("_")[0] + "_default", v))
        if base is None or base is rs:
            continue
        name = cell if sum(c == cell for c, _ in cells) == 1 else f"{cell} [{v.text()}]"
        o, parts, hurts, narrows, n = OUTPUT[rs[0].mode], [], False, False, 0
        for m in (f"test_{o}_p1_mm", f"cross_{o}_mpjpe_mm"):
            text, narrower, worse, k = _against(m, *stats.paired_values(rs, base, m, m)[1:])
            parts.append(text)
            narrows, hurts, n = narrows or narrower, hurts or worse, max(n, k)
        store = cell.split("_", 1)[1] in stores
        verdict = "see the claims' spread below" if store else _verdict(narrows, hurts, n)
        out.append(f"Seed spread: {name} vs its default, paired by seed: {'; '.join(parts)}; "
                   f"verdict: {verdict}.")  # fmt: skip
    pipeline = {c: rs for (c, v), rs in cells.items() if v.numerics == PIPELINE}  # compare_lifter's
    out += [x for s in sorted(stores) if (x := _claim_spread(s, pipeline))]
    rule = f"Seed-spread rule (issue 20 item 3): {SPREAD_RULE}" + (f"; {SPREAD_STORE_RULE}" if stores else "")  # fmt: skip
    return [f"{rule}.", *out] if out else []


def _text(r: RunRecord, by: str) -> str | None:
    """The record's ``by`` field as text ("tl, pgtl, tl", "0.3"); None if it has none."""
    v: object = getattr(r, by) if by in ("mode", "row") else r.params
    for part in by.split(".") if isinstance(v, dict) else ():
        v = v.get(part) if isinstance(v, dict) else None
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return f"{v:g}" if isinstance(v, float) else None if v is None else str(v)


def _is_param(key: str) -> bool:
    """Whether ``key`` (dotted) is a leaf of ``params.yaml`` (:class:`lbi.params.Params`)."""
    v: object = to_dict(Params())
    for part in key.split("."):
        v = v.get(part, {}) if isinstance(v, dict) else {}
    return not isinstance(v, dict)


def _spec(entry: dict[str, Any], where: str, columns: dict[str, Column]) -> Spec:
    """The Spec of a table entry (with its key); a ValueError names what is wrong and the fix."""
    key, cols = entry["key"], entry.get("columns")
    if key not in TABLES:
        raise ValueError(f"no paper table {key!r}; key it as {SOURCE} does: {', '.join(TABLES)}")
    if isinstance(cols, dict):  # columns: our column's name -> the paper's printed column
        if unknown := sorted(set(cols) - set(columns)):
            raise ValueError(f"unknown column(s) {unknown}; name one of columns: {sorted(columns)}")
        cols = [{**to_dict(columns[c]), "printed": p} for c, p in cols.items()]
        entry = {**entry, "columns": cols}
    t = from_dict(Spec, entry, where=where)
    if unknown := sorted(set(t.records) - set(PAPER_TABLE_IDS)):
        raise ValueError(f"unknown record table(s) {unknown}; name paper tables {PAPER_TABLE_IDS}")
    if t.by not in ("mode", "row") and not _is_param(t.by):
        raise ValueError(f"by: {t.by!r} is no record field; use mode, row or a params.yaml key")
    try:
        for d in t.rows:
            for c in t.columns:
                t.paper(d.label, c)  # the paper prints each value a row names
    except KeyError as e:
        raise ValueError(f"{e.args[0]}; name rows and columns as {SOURCE} prints them") from None
    return t


def load_specs(path: str | Path) -> tuple[dict[str, Column], tuple[Spec, ...]]:
    """The named columns and the ablation tables of ``path``, checked (:func:`load_entries`)."""
    cols = load_entries(path, Column, SPEC_LAYOUT, "column", "columns", ("tables",))
    specs = load_entries(path, Spec, SPEC_LAYOUT, "table", "tables", ("columns",),
                         build=lambda entry, where: _spec(entry, where, cols))  # fmt: skip
    return cols, tuple(specs.values())


COLUMNS, SPECS = load_specs(SPECS_FILE)


class _Seeds(Spec):
    def settings(self, r: RunRecord) -> list[Setting]:
        """A lifter run: the lifter's row (by architecture); an LBI run: its refined and
        coarse rows as :func:`stats.model_label` names them (a stage-1-only run: coarse only;
        an end-to-end run says so)."""
        if r.mode == "lifter":
            return [Setting(stats.lifter_label(r), "lifter")]
        outs = ("coarse",) if OUTPUT[r.mode] == "coarse" else ("refined", "coarse")
        e2e = f" [end to end: {r.mode}]" if r.mode.startswith("e2e") else ""
        return [Setting(stats.model_label(r, o) + e2e, o) for o in outs]


class _Other(Spec):
    def settings(self, r: RunRecord) -> list[Setting]:
        """One row per (table, row or cell), of the output its mode trains."""
        return [Setting(f"{r.table} · {r.row or r.cell}", OUTPUT[r.mode])]

    def computed_notes(self, records: Sequence[RunRecord]) -> list[str]:
        return spread_notes(records)


SEEDS = _Seeds(
    key="table3",
    title="Table 3 — runs over seeds",
    caption="Cross-domain PCK@150 mm and AUC (%, 14 joints), MPJPE (mm); in-domain P1.",
    records=("3",),
    by="mode",
    output="refined",
    columns=tuple(COLUMNS[c] for c in ("pck", "auc", "cross", "in")),
    setting_header="Method",
)
OTHER = _Other(
    key="sweeps_other",
    title="Other sweeps (not in the paper)",
    caption="Sweep records whose table is no paper table, by (table, row): the refined pose; "
    "the coarse pose of stage-1-only runs; the lifter's pose of lifter runs.",
    records=(),
    by="row",
    output="refined",
    columns=(COLUMNS["in"], COLUMNS["cross"]),
    setting_header="table · row",
)

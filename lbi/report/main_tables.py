"""Tables 2, 3 and 8 from the DVC pipeline's outputs (one run per model and 2D source).

Table 2 (Protocol 1) and Table 8 (Protocol 2) have one block per 2D source (SH, CPN, GT):
the paper's rows, then ours with **our own action columns** (the data's clips; nothing is
mapped onto the paper's 15 actions), our action-wise average (mean of per-action means)
and frame-wise average. Table 3 adds the runs over seeds of sweep records with table "3".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lbi.actions import H36M_ACTIONS
from lbi.report import ablations, stats
from lbi.report.inputs import PipelineSource, Sweeps
from lbi.report.paper import SOURCE, TABLES, PaperTable
from lbi.report.stats import NONE, NOT_RUN, budget, data_name, ours, paired, value
from lbi.report.table import Block, Table

SOURCE_NAMES = {"sh": "SH 2D", "cpn": "CPN 2D", "gt": "ground-truth 2D"}
PAPER_IN, PAPER_CROSS = ablations.PAPER_IN, ablations.PAPER_CROSS
OUTPUTS = ("refined", "coarse", "lifter")
NAMES = {"refined": "LBI refined (stage 2)", "coarse": "LBI coarse (stage 1)", "lifter": "2D-only lifter"}  # fmt: skip


def source_data(s: PipelineSource) -> list[str]:
    """``["embedded synthetic"]``: from the evaluate stage's tables.json, else the records."""
    if "dataset" not in (t := s.tables):
        return [data_name(r) for r in s.records]
    return [f"{t['dataset']} synthetic" if t.get("synthetic") else str(t["dataset"])]


def source_label(s: PipelineSource) -> str:
    return ours(source_data(s))


def pipeline_provenance(s: PipelineSource) -> str:
    runs = [f"{stats.model_label(r, ablations.OUTPUT[r.mode])}: epochs {budget(r)}, "
            f"code: {stats.code(r.git_commit)}" for r in s.records]  # fmt: skip
    epochs = "; ".join(runs) if runs else "epochs not recorded (no records.jsonl)"
    return f"pipeline, 2D source `{s.source}` (one run each): {', '.join(s.files)}; {epochs}"


def paper_block(pt: PaperTable, label: str, title: str) -> Block:
    rows = tuple((f"{row} · {label}", *map(value, vals)) for row, vals in pt.rows.items())
    return Block(title, ("Method", *pt.columns), rows)


def paper_avg_note(pt: PaperTable) -> str | None:
    """Where the paper's printed "Avg." differs from the mean of its 15 action columns."""
    out = []
    for row, vals in pt.rows.items():
        acts = [v for v in vals[:-1] if v is not None]
        full = len(acts) == len(vals) - 1 and vals[-1] is not None  # all 15 and Avg. printed
        if full and abs((mean := sum(acts) / len(acts)) - vals[-1]) > 0.15:
            out.append(f"{row}: printed Avg. {vals[-1]:.1f}, mean of its columns {mean:.2f}")
    return f"paper {pt.key}: " + "; ".join(out) + "." if out else None


def ours_block(s: PipelineSource | None, source: str, protocol: str) -> Block:
    avg = ("Avg. (action-wise)", "Avg. (frame-wise)", "n")
    if s is None:
        rows = tuple((f"{NAMES[o]} · ours", NOT_RUN, NOT_RUN, "0") for o in OUTPUTS)
        return Block(f"{SOURCE_NAMES[source]} · ours: not run", ("Model", *avg), rows)
    per = s.tables.get("per_action", {})
    found = {a for m in per.values() for a in m.get(protocol, {})}  # Human3.6M's order if all are
    actions = [a for a in H36M_ACTIONS if a in found] if found <= set(H36M_ACTIONS) else sorted(found)  # fmt: skip
    label = source_label(s)
    rows = []
    for o in OUTPUTS:
        by_action = per.get(o, {}).get(protocol, {})
        a = s.metrics.get(f"test_{o}_{protocol}_mm")
        f = s.metrics.get(f"test_{o}_{protocol}_framewise_mm")
        cells = [value(by_action.get(x)) for x in actions]
        name = stats.model_label(s.record(lifter=o == "lifter"), o)
        rows.append((f"{name} · {label}", *cells, value(a), value(f), str(int(a is not None))))  # fmt: skip
    return Block(f"{SOURCE_NAMES[source]} · {label}", ("Model", *actions, *avg), tuple(rows))


def per_action_table(pipeline: Mapping[str, PipelineSource], protocol: str) -> Table:
    """Table 2 (``protocol="p1"``, MPJPE) or Table 8 (``"p2"``, P-MPJPE), mm per action."""
    number, name = (2, "Protocol 1 (MPJPE)") if protocol == "p1" else (8, "Protocol 2 (P-MPJPE)")
    blocks, notes = [], []
    for src in ("sh", "cpn", "gt"):
        pt = TABLES.get(f"table{number}_{src}")
        if pt is not None:
            blocks.append(paper_block(pt, PAPER_IN, f"{SOURCE_NAMES[src]} · {PAPER_IN}"))
            notes += [n for n in [paper_avg_note(pt)] if n]
        else:
            notes.append(f"The paper reports no {SOURCE_NAMES[src]} block in Table {number}.")
        blocks.append(ours_block(pipeline.get(src), src, protocol))
    notes.append(
        "Ours use our own action columns (the data's clips), not the paper's 15 actions; "
        "'Avg. (action-wise)' is the mean of per-action means, 'Avg. (frame-wise)' the mean "
        "over test frames. The paper's rows are shown as printed."
    )
    return Table(
        key=f"table{number}_{protocol}",
        title=f"Table {number} — per-action {name}",
        caption=f"In-domain test, {name} in mm, per action; paper: {PAPER_IN}.",
        blocks=tuple(blocks),
        notes=tuple(notes),
        provenance=(
            *(pipeline_provenance(s) for s in pipeline.values()),
            f"paper: {SOURCE} (Table {number}, as printed)",
        ),
    )


def paired_notes(rows: Sequence[ablations.Row]) -> list[str]:
    """LBI refined minus the lifter of the same total epochs, data, 2D source and numerics
    (:func:`lbi.report.stats.comparable`), by seed."""
    out = []
    for lbi, lif in ((a, b) for a in rows for b in rows if a.variant and b.variant):
        refined_vs_lifter = (lbi.setting.output, lif.setting.output) == ("refined", "lifter")
        if not refined_vs_lifter or not stats.comparable(lbi.variant, lif.variant):
            continue
        parts = []
        for name, key in (("in-domain P1", "test_{}_p1_mm"), ("cross MPJPE", "cross_{}_mpjpe_mm")):
            d = paired(lbi.records, lif.records, key.format("refined"), key.format("lifter"))[1]
            if d.n:
                ahead = sum(x < 0 for x in d.values)
                parts.append(f"{name} {d.text()} mm (LBI ahead in {ahead} of {d.n})")
        if parts:
            out.append(
                f"LBI refined [{lbi.variant.text()}] minus {lif.setting.label} [{lif.variant.text()}], "
                f"paired by seed: " + "; ".join(parts) + "."
            )
    return out


CROSS_COLUMNS = (("PCK", "pck150_pct"), ("AUC", "auc_pct"), ("MPJPE", "mpjpe_mm"))


def cross_table(pipeline: Mapping[str, PipelineSource], sweeps: Sweeps) -> Table:
    """Table 3: cross-domain PCK / AUC / MPJPE; the pipeline's runs, then runs over seeds."""
    pt = TABLES["table3"]
    blocks = [paper_block(pt, PAPER_CROSS, PAPER_CROSS)]
    header = ("Method", "2D (trained on)", "epochs", *(c for c, _ in CROSS_COLUMNS), "n")
    rows = []
    for s in pipeline.values():
        for o in OUTPUTS:
            cells = [value(s.metrics.get(f"cross_{o}_{k}")) for _, k in CROSS_COLUMNS]
            n = str(int(f"cross_{o}_mpjpe_mm" in s.metrics))
            rec = s.record(lifter=o == "lifter")
            epochs = budget(rec) if rec else "not recorded"
            rows.append((stats.model_label(rec, o), s.source, epochs, *cells, n))
    if not rows:
        rows = [(NAMES[o], NONE, NONE, NOT_RUN, NOT_RUN, NOT_RUN, "0") for o in OUTPUTS]
    label = ours(d for s in pipeline.values() for d in source_data(s))
    blocks.append(Block(f"pipeline, one run each · {label}, cross domain", header, tuple(rows)))
    seed_rows = ablations.group(ablations.SEEDS, sweeps.records)
    used = [r for row in seed_rows for r in row.records]
    seeds_label = ours(data_name(r) for r in used)
    title = f"runs over seeds (sweep records, table 3) · {seeds_label}, cross domain"
    blocks.append(ablations.block(ablations.SEEDS, seed_rows, seeds_label, title))
    return Table(
        key="table3",
        title="Table 3 — cross-domain generalisation (MPI-INF-3DHP in the paper)",
        caption=(
            "Trained in-domain, tested on the cross domain without fine-tuning. PCK at 150 mm "
            "and AUC over 0-150 mm in %, on the 14-joint group; MPJPE in mm on 17 joints."
        ),
        blocks=tuple(blocks),
        notes=(
            "The pipeline's rows are one run (one seed); the runs over seeds are the "
            "comparison to read (mean ± std, n).",
            *paired_notes(seed_rows),
        ),
        provenance=(
            *(pipeline_provenance(s) for s in pipeline.values()),
            *(ablations.provenance(used, sweeps) if used else ()),
            f"paper: {SOURCE} (Table 3, as printed)",
        ),
    )

"""The ablation tables from tagged runs: Tables 4, 6, 7, 9, 10, 11.

Each run (a sweep trial; tag contract in :mod:`lbi.report.collect`) lands in the row
that :mod:`lbi.report.rows` matches it to; a setting the paper does not have gets its
own row, with the paper's cells "–". A row's cells are mean ± sample std over its runs,
with n. When a row has no sweep run, the pipeline's own model fills it if the
pipeline's configuration *is* that row (Table 7 at the pipeline's r, Table 10 at its
backbone, ...); the "from" column says which.

Which model output a row reads: the coarse pose for the stage-1 tables (6, 11: the
paper's values there are coarse-pose values), the refined pose otherwise (Table 4 and
7 rows name theirs); an ``lbi.column`` tag ``coarse``/``refined``/``baseline`` overrides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from lbi.report import rows as R
from lbi.report.collect import RunRecord, SourceResult
from lbi.report.labels import (
    PAPER_CROSS,
    PAPER_IN,
    DataLabel,
    data_label,
    runs_provenance,
    source_provenance,
)
from lbi.report.paper import TABLES
from lbi.report.render import MISSING, Block, Stat, Table, aggregate, fmt, fmt_stat

ORIGIN_NAMES = {"mlflow": "MLflow", "csv": "CSV", "pipeline": "pipeline"}


@dataclass(frozen=True)
class RowSpec:
    """A paper row: canonical key, leading cells, paper values (one per metric), model output."""

    key: str
    lead: tuple[str, ...]
    paper: tuple[float | None, ...]
    model: str = "refined"


@dataclass(frozen=True)
class Metric:
    """A metric column pair: the paper's (if ``paper_name``) and ours (flat key template)."""

    name: str
    paper_name: str | None
    template: str  # e.g. "test_{m}_p1_mm"; {m} = coarse | refined | baseline
    cross: bool = False
    unit: str = ""


@dataclass(frozen=True)
class Series:
    """One row's numbers, for the ablation plots: ``stats[i]`` goes with ``metrics[i]``."""

    label: str
    key: str
    stats: tuple[Stat | None, ...]


IN_P1 = Metric("in-domain MPJPE", "H3.6M MPJPE", "test_{m}_p1_mm")
CROSS = Metric("cross-domain MPJPE", "3DHP MPJPE", "cross_{m}_mpjpe_mm", cross=True)
CROSS_ONLY = Metric("cross-domain MPJPE", None, "cross_{m}_mpjpe_mm", cross=True)


def origins(recs: Sequence[RunRecord]) -> str:
    """``MLflow``, ``CSV``, ``pipeline`` (those present, comma-separated)."""
    return ", ".join(sorted({ORIGIN_NAMES[r.origin] for r in recs})) or MISSING


def value(r: RunRecord, template: str, model: str) -> float | None:
    """Metric ``template`` of run ``r`` for ``model`` (its column tag overrides ``model``)."""
    return r.metrics.get(template.format(m=r.model or model))


FT = "+ft"  # row-key suffix of runs whose stage 2 trained stage 1 on (not the paper's)
FT_LABEL = "[stage 1 fine-tuned in stage 2]"


def _group(
    records: Sequence[RunRecord], match: Callable[[RunRecord], list[str]]
) -> tuple[dict[str, list[RunRecord]], dict[str, str]]:
    """Runs by row key (``key+ft`` when stage 2 fine-tuned stage 1, ``key@source`` for a
    non-gt 2D source); the first row tag per key."""
    out: dict[str, list[RunRecord]] = {}
    raw: dict[str, str] = {}
    for r in records:
        for k in match(r):
            if r.finetune_stage1:
                k += FT
            if r.source_2d not in (None, "gt"):
                k = f"{k}@{r.source_2d}"
            out.setdefault(k, []).append(r)
            raw.setdefault(k, r.row)
    return out, raw


def ablation(
    *,
    number: int,
    title: str,
    caption: str,
    lead_header: tuple[str, ...],
    specs: Sequence[RowSpec],
    metrics: Sequence[Metric],
    match: Callable[[RunRecord], list[str]],
    runs: Sequence[RunRecord],
    fallback: Sequence[RunRecord] = (),
    extra_lead: Callable[[str, str], tuple[str, ...]] | None = None,
    default_model: str = "refined",
    sort_key: Callable[[str], object] | None = None,
    notes: Sequence[str] = (),
    fallback_sources: Sequence[SourceResult] = (),
    default: DataLabel | None = None,
) -> tuple[Table, list[Series]]:
    """Rows = the paper's rows (``specs``) then our extra settings; see the module docstring."""
    spec_by_key = {s.key: s for s in specs}
    swept, raw = _group(runs, match)
    fb, fb_raw = _group(fallback, match)
    raw = {**fb_raw, **raw}
    keys = list(dict.fromkeys([*spec_by_key, *swept, *fb]))
    if sort_key is not None:
        keys.sort(key=sort_key)
    row_runs = {k: swept.get(k) or fb.get(k, []) for k in keys}
    used = [r for k in keys for r in row_runs[k]]
    lab = data_label([(r.synthetic, r.dataset) for r in used], default)
    header = list(lead_header)
    for m in metrics:
        if m.paper_name:
            header.append(f"{m.paper_name} · {PAPER_CROSS if m.cross else PAPER_IN}")
        header.append(f"{m.name} · {lab.cross_domain if m.cross else lab.in_domain}")
    header += ["n", "from"]
    rows, series = [], []
    for k in keys:
        base, _, src = k.partition("@")
        core = base.removesuffix(FT)  # the paper row a fine-tuned run is a variant of
        spec, recs = spec_by_key.get(k), row_runs[k]
        if spec is not None:
            lead = spec.lead
        else:
            if core in spec_by_key:
                lead = spec_by_key[core].lead
            else:
                lead = extra_lead(core, raw[k]) if extra_lead else (raw[k],)
            tags = ([FT_LABEL] if core != base else []) + ([f"[{src} 2D]"] if src else [])
            if tags:
                lead = (*lead[:-1], " ".join([lead[-1], *tags]))
        model = spec_by_key[core].model if core in spec_by_key else default_model
        cells: list[str] = []
        stats: list[Stat | None] = []
        for i, m in enumerate(metrics):
            if m.paper_name:
                cells.append(fmt(spec.paper[i]) if spec is not None else MISSING)
            st = aggregate(value(r, m.template, model) for r in recs)
            stats.append(st)
            cells.append(fmt_stat(st, unit=m.unit))
        n = len({r.run_id for r in recs}) if any(s is not None for s in stats) else 0
        rows.append((*lead, *cells, str(n) if n else MISSING, origins(recs) if n else MISSING))
        if n:
            series.append(Series(" ".join(lead), k, tuple(stats)))
    prov = runs_provenance(used)
    if any(r.origin == "pipeline" for r in used):
        prov += [source_provenance(s) for s in fallback_sources]
    prov.append(f"paper: lbi/report/paper.py (Table {number}, as printed)")
    table = Table(
        key=f"table{number}",
        title=title,
        caption=f"{caption} Paper: {PAPER_IN} / {PAPER_CROSS}; ours: {lab.in_domain}.",
        blocks=(Block("", tuple(header), tuple(rows)),),
        notes=tuple(notes),
        provenance=tuple(prov),
    )
    return table, series


@dataclass(frozen=True)
class PipelineConfig:
    """The configuration of the pipeline's own model (``params.yaml`` model / prune)."""

    stage1: tuple[str, ...] = ("tl", "pgtl", "tl")
    backbone: str = "resnet18_s4"
    pgtl_variant: str = "before"
    retention: float = 0.3


def pipeline_records(s: SourceResult | None, cfg: PipelineConfig) -> list[RunRecord]:
    """The pipeline's model as a run of every ablation table whose row its config is."""
    if s is None or not s.metrics:
        return []
    r = (s.tables or {}).get("retention") or cfg.retention
    rows = {
        "4": ["progressive"],
        "5": ["w/ PGTL" if "pgtl" in cfg.stage1 else "w/o PGTL"],
        "6": [",".join(cfg.stage1)],
        "7": [f"{float(r):g}", "coarse"],
        "10": [cfg.backbone],
        "11": [cfg.pgtl_variant],
    }
    return [
        RunRecord(
            run_id=f"pipeline:{s.source}",
            origin="pipeline",
            table=t,
            row=row,
            metrics=s.metrics,
            column="coarse" if row == "coarse" else None,
            source_2d=s.source,
            synthetic=s.synthetic,
            dataset=s.dataset,
            finetune_stage1=s.finetunes_stage1,  # its rows say so
        )
        for t, rs in rows.items()
        for row in rs
    ]


def of_table(runs: Sequence[RunRecord], number: int) -> list[RunRecord]:
    """The runs tagged with paper table ``number``."""
    return [r for r in runs if r.table == str(number)]


def _specs(
    number: int,
    keys: Sequence[str],
    leads: Sequence[tuple[str, ...]],
    models: Sequence[str],
    cols: Sequence[int | None],
) -> list[RowSpec]:
    """RowSpecs from the paper's rows in order; ``cols[i]`` = paper column of metric i."""
    values = list(TABLES[f"table{number}"].rows.values())
    return [
        RowSpec(k, lead, tuple(None if c is None else values[i][c] for c in cols), m)
        for i, (k, lead, m) in enumerate(zip(keys, leads, models, strict=True))
    ]


Runs = Sequence[RunRecord]


def table4(
    runs: Runs,
    fallback: Runs,
    sources: Sequence[SourceResult],
    default: DataLabel | None = None,
) -> tuple[Table, list[Series]]:
    """Table 4: end-to-end (fine / both supervision) vs progressive coarse and refined."""
    specs = _specs(
        4,
        R.TABLE4_KEYS,
        [(r,) for r in TABLES["table4"].rows],
        ("refined", "refined", "coarse", "refined"),
        (0, 1),
    )
    return ablation(
        number=4,
        title="Table 4 — progressive learning",
        caption="Table 4: MPJPE (mm), end-to-end vs progressive training.",
        lead_header=("Strategy",),
        specs=specs,
        metrics=(IN_P1, CROSS),
        match=R.progressive,
        runs=of_table(runs, 4),
        fallback=of_table(fallback, 4),
        fallback_sources=sources,
        default=default,
    )


def _layers_lead(key: str, raw: str) -> tuple[str, ...]:
    tl, pgl = R.layer_counts(key)
    return (tl, pgl, key if tl != MISSING else raw)


def table6(
    runs: Runs,
    fallback: Runs,
    sources: Sequence[SourceResult],
    default: DataLabel | None = None,
) -> tuple[Table, list[Series]]:
    """Table 6: stage-1 layer composition (coarse pose)."""
    leads = [_layers_lead(k, k) for k in R.TABLE6_KEYS]
    return ablation(
        number=6,
        title="Table 6 — Transformer vs Pose-guided layers in stage 1",
        caption="Table 6: coarse-pose MPJPE (mm) by stage-1 layer composition.",
        lead_header=("Transformer Layer", "Pose-guided Layer", "stage-1 layers"),
        specs=_specs(6, R.TABLE6_KEYS, leads, ("coarse",) * 3, (2, None)),
        metrics=(IN_P1, CROSS_ONLY),
        match=R.layers,
        runs=of_table(runs, 6),
        fallback=of_table(fallback, 6),
        extra_lead=_layers_lead,
        default_model="coarse",
        fallback_sources=sources,
        default=default,
        notes=(
            "Our reading of the paper's counts: the first two stage-1 layers; the last one is "
            "always a Transformer Layer ('the final layer cannot be replaced'), so (1, 1) is "
            "tl,pgtl,tl.",
        ),
    )


def table7(
    runs: Runs,
    fallback: Runs,
    sources: Sequence[SourceResult],
    default: DataLabel | None = None,
) -> tuple[Table, list[Series]]:
    """Table 7: retention rate r (refined pose) and the coarse pose."""
    own = of_table(runs, 7)
    notes = []
    if own and not any(R.retention(r) == ["coarse"] for r in own):
        # The coarse pose is stage 1's output, shared by every r of a seed (cached).
        seen: set[tuple[object, ...]] = set()
        extra = []
        for r in own:
            k = (r.seed, r.source_2d)
            if r.seed is None or k not in seen:
                seen.add(k)
                extra.append(replace(r, row="coarse", column="coarse"))
        own = [*own, *extra]
        notes.append("Coarse Pose row: the stage-1 output of the r-sweep runs, one per seed.")
    specs = _specs(
        7,
        R.TABLE7_KEYS,
        [("0.01",), ("0.3",), ("1",), ("Coarse Pose",)],
        ("refined", "refined", "refined", "coarse"),
        (0, None),
    )
    return ablation(
        number=7,
        title="Table 7 — retention rate r of the Adaptive Feature Selection Module",
        caption="Table 7: refined-pose MPJPE (mm) by retention r; last row the coarse pose.",
        lead_header=("r",),
        specs=specs,
        metrics=(IN_P1, CROSS_ONLY),
        match=R.retention,
        runs=own,
        fallback=of_table(fallback, 7),
        extra_lead=lambda key, raw: (key,),
        sort_key=R.retention_order,
        fallback_sources=sources,
        default=default,
        notes=notes,
    )


def table9(runs: Runs, default: DataLabel | None = None) -> tuple[Table, list[Series]]:
    """Table 9: image-encoder pretraining (refined pose); "–" unless runs exist."""
    specs = _specs(
        9,
        R.TABLE9_KEYS,
        [("ImageNet", "Image Classification"), ("MS COCO", "2D human pose estimation")],
        ("refined", "refined"),
        (0, None),
    )
    return ablation(
        number=9,
        title="Table 9 — image-encoder pretraining",
        caption="Table 9: refined-pose MPJPE (mm) by encoder pretraining.",
        lead_header=("Dataset", "Task"),
        specs=specs,
        metrics=(IN_P1, CROSS_ONLY),
        match=R.pretraining,
        runs=of_table(runs, 9),
        extra_lead=lambda key, raw: (raw, MISSING),
        default=default,
    )


def table10(
    runs: Runs,
    fallback: Runs,
    sources: Sequence[SourceResult],
    default: DataLabel | None = None,
) -> tuple[Table, list[Series]]:
    """Table 10: image encoder backbone (refined pose)."""
    names = list(TABLES["table10"].rows)
    keys = tuple(R.backbone_key(n) for n in names)  # "HRNet-w32" -> "hrnetw32"
    return ablation(
        number=10,
        title="Table 10 — image encoder",
        caption="Table 10: refined-pose MPJPE (mm) by backbone, ground-truth 2D input.",
        lead_header=("Backbone",),
        specs=_specs(10, keys, [(n,) for n in names], ("refined",) * 4, (0, None)),
        metrics=(IN_P1, CROSS_ONLY),
        match=R.backbone,
        runs=of_table(runs, 10),
        fallback=of_table(fallback, 10),
        fallback_sources=sources,
        default=default,
        notes=("The paper prints this table as two side-by-side column pairs; one row each here.",),
    )


def table11(
    runs: Runs,
    fallback: Runs,
    sources: Sequence[SourceResult],
    default: DataLabel | None = None,
) -> tuple[Table, list[Series]]:
    """Table 11: normalisation order in the Pose-guided dual attention (coarse pose)."""
    return ablation(
        number=11,
        title="Table 11 — Pose-guided dual attention variants",
        caption="Table 11: coarse-pose MPJPE (mm) by PGTL normalisation order.",
        lead_header=("Strategy",),
        specs=_specs(
            11, R.TABLE11_KEYS, [(r,) for r in TABLES["table11"].rows], ("coarse",) * 4, (0, 1)
        ),
        metrics=(IN_P1, CROSS),
        match=R.normalization,
        runs=of_table(runs, 11),
        fallback=of_table(fallback, 11),
        default_model="coarse",
        fallback_sources=sources,
        default=default,
    )

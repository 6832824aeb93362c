"""Assemble the report: ``<reports>/generated/`` (tables as .md/.tex, figures as .png) and
``<reports>/README.md`` (every table inline, figure links, provenance per table).

Usage (the DVC stage ``report`` runs the same through ``pipeline/report.py``)::

    python -m lbi.report.build --params params.yaml [--sweeps-dir data/sweeps]

Nothing here computes a metric: every number of ours is read from the pipeline's files
or the sweeps' runs (:mod:`lbi.report.collect`); the paper's come from
:mod:`lbi.report.paper` and appear only in cells labelled "paper (...)".
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from lbi.io import save_text
from lbi.report import figures as F
from lbi.report.ablations import (
    PipelineConfig,
    Series,
    pipeline_records,
    table4,
    table6,
    table7,
    table9,
    table10,
    table11,
)
from lbi.report.collect import PAPER_LR, Inputs, SourceResult, collect, decay_text, lr_text
from lbi.report.labels import SYNTHETIC_BANNER, data_label, report_label
from lbi.report.render import Table, table_latex, table_markdown
from lbi.report.stage1_tables import table1, table5
from lbi.report.sweep_tables import other_sweeps, search_table
from lbi.report.tables import cross_table, per_action_table

GENERATED = "generated"
SPLITS = {"test": "in-domain test", "cross": "cross-domain test"}


@dataclass(frozen=True)
class ReportConfig:
    """What the report reads besides ``paths``: trained sources, the pipeline's config."""

    sources: tuple[str, ...] = ("gt",)
    dataset: str | None = None  # params data.dataset ("embedded" is synthetic by definition)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    baseline_name: str = "lifter_graformer"
    sweeps_dir: Path = Path("data/sweeps")
    tracking_uri: str | None = None  # None: lbi.tracking.tracking_uri()
    encoder_init: str = "random initialisation"  # how stage 1's encoder started (header)
    schedule: str = ""  # the pipeline's epochs and learning-rate schedules (header)


@dataclass(frozen=True)
class Figure:
    path: Path
    caption: str


@dataclass
class Report:
    """What :func:`build_report` wrote."""

    tables: list[Table]
    figures: list[Figure]
    readme: Path
    inputs: Inputs


def config_from_params(p: Any, sweeps_dir: str | Path = "data/sweeps") -> ReportConfig:
    """From :class:`lbi.params.Params`."""
    return ReportConfig(
        sources=tuple(p.data.train_sources),
        dataset=p.data.dataset,
        pipeline=PipelineConfig(
            stage1=tuple(p.model.stage1),
            backbone=p.model.backbone,
            pgtl_variant=p.model.pgtl_variant,
            retention=p.prune.r,
        ),
        baseline_name=p.baseline.model.arch,
        sweeps_dir=Path(sweeps_dir),
        encoder_init=describe_encoder_init(p),
        schedule=describe_schedule(p),
    )


def describe_schedule(p: Any) -> str:
    """One line: the pipeline's epochs per stage and each stage's learning-rate schedule,
    marking where it is not the paper's (Adam 1e-3, x0.9 every 4 epochs, 20 stage-1 epochs)."""
    parts = []
    for name, t in (("stage 1", p.train_stage1), ("stage 2", p.train_stage2),
                    ("the lifter", p.baseline.train)):  # fmt: skip
        sched = (t.lr, t.lr_decay, t.lr_decay_every)
        note = "" if sched == PAPER_LR else f" (**not the paper's** {decay_text(*PAPER_LR[1:])})"
        parts.append(f"{name} {t.epochs} epochs, Adam {lr_text(*sched)}{note}")
    return "; ".join(parts) + f"; batch {p.train_stage1.batch_size} (the paper: 128)"


def describe_encoder_init(p: Any) -> str:
    """One line: where stage 1's encoder backbone started (read from the pretrain2d record)."""
    from lbi.params import pretrain2d_dir

    if not p.pretrain2d.enabled:
        return f"`{p.model.pretrained}`" if p.model.pretrained else "random initialisation"
    record = pretrain2d_dir(p) / "backbone.json"
    if not record.exists():
        return f"the `pretrain2d` stage's backbone (record `{record}` missing)"
    r = json.loads(record.read_text())
    err = ""
    if r.get("val_test_error_px") is not None and r.get("val_cross_error_px") is not None:
        err = (
            f"; final 2D error {r['val_test_error_px']:.1f} px in-domain test / "
            f"{r['val_cross_error_px']:.1f} px cross-domain"
        )
    return (
        f"{p.model.backbone} pretrained on 2D keypoints by the `pretrain2d` stage "
        f"({r.get('train_samples')} crops of the embedded 2D set, SYNTHETIC, the COCO "
        f"stand-in{err}), then fine-tuned in stage 1"
    )


def _ablation_source(inputs: Inputs) -> SourceResult | None:
    """The pipeline model that may fill ablation rows: gt (the paper's ablation input)."""
    s = inputs.sources.get("gt")
    if s is not None and s.metrics:
        return s
    return next((s for s in inputs.sources.values() if s.metrics), None)


def make_tables(inputs: Inputs, cfg: ReportConfig) -> tuple[list[Table], dict[str, list[Series]]]:
    """All tables in the paper's order, and the numeric series of the ablations."""
    src = _ablation_source(inputs)
    fb = pipeline_records(src, cfg.pipeline)
    srcs = [src] if src is not None else []
    runs, lab = inputs.runs, report_label(inputs, cfg.dataset)
    series: dict[str, list[Series]] = {}
    tables: list[Table] = [table1(runs, lab)]
    tables.append(per_action_table(inputs.sources, "p1", cfg.baseline_name, lab))
    tables.append(cross_table(inputs.sources, cfg.baseline_name, lab, runs))
    t, series["table4"] = table4(runs, fb, srcs, lab)
    tables += [t, table5(runs, fb, srcs, lab)]
    for fn in (table6, table7):
        t, series[t.key] = fn(runs, fb, srcs, lab)
        tables.append(t)
    tables.append(per_action_table(inputs.sources, "p2", cfg.baseline_name, lab))
    t, series["table9"] = table9(runs, lab)
    tables.append(t)
    for fn in (table10, table11):
        t, series[t.key] = fn(runs, fb, srcs, lab)
        tables.append(t)
    tables += [t for t in (other_sweeps(runs), search_table(runs)) if t is not None]
    return tables, series


def _load_examples(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def make_figures(
    inputs: Inputs,
    series: dict[str, list[Series]],
    out: Path,
    tables: Sequence[Table],
    cfg: ReportConfig,
) -> list[Figure]:
    """Attention / kept-token / joint-area figures per source and split, curves, ablations."""
    figs: list[Figure] = []
    for src, s in inputs.sources.items():
        lab = data_label([(s.synthetic, s.dataset)]).in_domain
        if s.examples_path is not None:
            ex = _load_examples(s.examples_path)
            for split, words in SPLITS.items():
                tag = f"{src}_{split}"
                what = f"{words}, {src} 2D, {lab}"
                if {f"{split}_crops", f"{split}_attention", f"{split}_pose2d_px"} <= set(ex):
                    c = f"Fig. 3 analogue: last stage-1 layer attention, mean over joints ({what})"
                    figs.append(
                        Figure(
                            F.attention_overview(ex, split, out / f"fig3_attention_{tag}.png", c), c
                        )
                    )
                    c = f"Fig. 4 analogue: attention of single joints ({what})"
                    figs.append(
                        Figure(
                            F.joint_attention(
                                ex, split, out / f"fig4_joint_attention_{tag}.png", c
                            ),
                            c,
                        )
                    )
                if f"{split}_kept_idx" in ex and f"{split}_attention" in ex:
                    c = f"Fig. 9 analogue: image tokens kept by the AFSM in red ({what})"
                    figs.append(
                        Figure(F.kept_tokens(ex, split, out / f"fig9_kept_tokens_{tag}.png", c), c)
                    )
                if f"{split}_joint_area" in ex:
                    c = f"Fig. 11 analogue: attention from each joint (row) to each joint's area ({what})"
                    figs.append(
                        Figure(
                            F.joint_area_matrix(ex, split, out / f"fig11_joint_area_{tag}.png", c),
                            c,
                        )
                    )
        if s.curves:
            c = (
                f"Fig. 8 analogue: validation MPJPE over training, stage 1 then stage 2 vs the "
                f"2D-only baseline ({src} 2D, {lab})"
            )
            figs.append(Figure(F.training_curves(s.curves, out / f"fig8_curves_{src}.png", c), c))
    labels = {t.key: t for t in tables}
    ours = report_label(inputs, cfg.dataset).in_domain
    for key, ser in series.items():
        if not ser:
            continue
        names = ["in-domain", "cross-domain"]
        x = None
        if key == "table7":
            ser = [s for s in ser if _is_number(s.key)]
            x = [float(s.key) for s in ser]
            if not ser:
                continue
        c = f"{labels[key].title}: our MPJPE per setting, mean ± std over runs ({ours})"
        path = F.ablation_plot(
            [s.label for s in ser], [s.stats for s in ser], names, out / f"ablation_{key}.png", c, x
        )
        figs.append(Figure(path, c))
    return figs


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def readme_text(
    cfg: ReportConfig,
    tables: Sequence[Table],
    figs: Sequence[Figure],
    inputs: Inputs,
    commit: str,
    reports: Path,
) -> str:
    """The README: header with data labels and conventions, tables inline, figures."""
    lab = report_label(inputs, cfg.dataset)
    out = [
        "# Lifting by Image — the paper's tables, regenerated",
        "",
        "*Generated by `python -m lbi.report.build` (DVC stage `report`); do not edit by hand.*",
        "",
    ]
    if lab.synthetic:
        out += [f"> **{SYNTHETIC_BANNER}**", ""]
    out += [
        f"- Built at git commit `{commit}`; our data: {lab.words}.",
        f"- Our image encoder's initialisation: {cfg.encoder_init}.",
        *([f"- Our training schedule (params.yaml): {cfg.schedule}."] if cfg.schedule else []),
        "- Our stage 2: "
        + (
            "stage 1 trained on with it, loss on the coarse and the refined pose "
            "(`train_stage2.finetune_stage1: true`; **not the paper's schedule**, which freezes "
            'stage 1; rows from such runs say "stage 1 fine-tuned").'
            if any(s.finetunes_stage1 for s in inputs.sources.values())
            else "stage 1 frozen, as in the paper (`train_stage2.finetune_stage1: false`)."
        ),
        "- Paper numbers: `lbi/report/paper.py`, transcribed from the paper, only in rows or "
        'columns labelled "paper (...)". Our numbers: read from the files and runs listed '
        "under each table, never typed in.",
        '- "–": no value (not run, not reported). Several runs: mean ± sample std (ddof=1), '
        "n = runs.",
        "- Sweep runs: MLflow is the source of truth (experiments `lbi-sweep-*`); a table with "
        "no MLflow run falls back to `data/sweeps/<sweep>/results.csv`. Read from: "
        + ("; ".join(inputs.runs_origin) or "no sweep runs found")
        + ".",
    ]
    if inputs.missing:
        out.append(
            "- Missing pipeline outputs: " + ", ".join(f"`{m}`" for m in inputs.missing) + "."
        )
    out += ["", "## Contents", ""]
    out += [f"- {t.title}" for t in tables] + ["- Figures", ""]
    for t in tables:
        out.append(table_markdown(t))
        out += [
            f"Files: [`{t.key}.md`]({GENERATED}/{t.key}.md), [`{t.key}.tex`]({GENERATED}/{t.key}.tex)",
            "",
        ]
    out += ["## Figures", ""]
    if not figs:
        out += ["No figure inputs found (run the pipeline's evaluate stage).", ""]
    for f in figs:
        rel = f.path.relative_to(reports).as_posix()
        out += [f"**{f.caption}**", "", f"![{f.path.stem}]({rel})", ""]
    return "\n".join(out)


def _clean(folder: Path, keep: set[Path]) -> None:
    """Remove earlier outputs (ours: .md/.tex/.png) that this build did not write."""
    for p in folder.iterdir():
        if p.is_file() and p.suffix in (".md", ".tex", ".png") and p not in keep:
            p.unlink()


def build_report(paths: Any, cfg: ReportConfig) -> Report:
    """Read the inputs, write ``<paths.reports>/generated/*`` and ``<paths.reports>/README.md``."""
    from lbi.tracking import git_commit

    inputs = collect(paths, cfg.sources, sweeps_dir=cfg.sweeps_dir, tracking_uri=cfg.tracking_uri)
    reports = Path(paths.reports)
    gen = reports / GENERATED
    gen.mkdir(parents=True, exist_ok=True)
    commit = git_commit(Path.cwd())
    tables, series = make_tables(inputs, cfg)
    tables = [
        replace(t, provenance=(*t.provenance, f"report: git commit {commit}")) for t in tables
    ]
    written: set[Path] = set()
    for t in tables:
        written.add(save_text(gen / f"{t.key}.md", table_markdown(t, heading_level=1)))
        written.add(save_text(gen / f"{t.key}.tex", table_latex(t)))
    figs = make_figures(inputs, series, gen, tables, cfg)
    written |= {f.path for f in figs}
    _clean(gen, written)
    readme = save_text(
        reports / "README.md", readme_text(cfg, tables, figs, inputs, commit, reports)
    )
    return Report(tables, figs, readme, inputs)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lbi.report.build --params params.yaml [--sweeps-dir data/sweeps]``."""
    from lbi.params import load_params

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    ap.add_argument("--sweeps-dir", default="data/sweeps", help="sweep results (CSV fallback)")
    args = ap.parse_args(argv)
    p = load_params(args.params)
    rep = build_report(p.paths, config_from_params(p, args.sweeps_dir))
    print(f"report: {len(rep.tables)} tables, {len(rep.figures)} figures -> {rep.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

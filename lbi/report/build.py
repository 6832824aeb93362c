"""Write the report: ``<reports>/generated/`` (tables .md/.tex, figures .png) and
``<reports>/README.md``.

Usage: ``python -m lbi.report.build --params params.yaml [--results-dir results]`` (the DVC
stage ``report`` runs the same through ``pipeline/report.py``). Reads params
``paths.metrics``, ``paths.eval``, ``paths.plots``, ``paths.prune``, ``paths.models`` and
``paths.reports``; reads ``<results-dir>/*.jsonl`` and the pipeline outputs
(:mod:`lbi.report.inputs`). Built twice from the same inputs and commit, every file is
byte-identical; no absolute path, date or timing is written.
"""

from __future__ import annotations

import argparse
import subprocess
from dataclasses import dataclass
from pathlib import Path

from lbi.io import save_text
from lbi.params import Paths, load_params
from lbi.record import RESULTS_DIR
from lbi.report import ablations, figures
from lbi.report.inputs import PipelineSource, Sweeps, load_backbone, load_pipeline, load_sweeps
from lbi.report.main_tables import cross_table, per_action_table, source_label
from lbi.report.table import Table, latex, markdown, markdown_body

PLOT_NOTE = (
    "Dots: each run (seed); where n ≥ 2, a dash at the mean and a black bar for its 95 % "
    "confidence interval (Student t); none for one run. One group per table row."
)


@dataclass(frozen=True)
class Section:
    table: Table
    figures: tuple[tuple[str, str], ...]  # (caption, file name in generated/)


@dataclass(frozen=True)
class Report:
    readme: Path
    tables: tuple[Table, ...]
    figures: tuple[Path, ...]


def git_commit() -> str:
    """The checked-out commit (``unknown`` outside a git work tree)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def ablation_figure(rows: list[ablations.Row], spec: ablations.Spec, gen: Path) -> str | None:
    """The ablation plot of a table's in-domain and cross-domain columns; None if no runs."""
    if not any(r.records for r in rows):
        return None
    many = len({r.variant for r in rows if r.variant}) > 1  # name the variant then
    labels = [
        f"{r.setting.label}\n{r.variant.text()}" if many and r.variant else r.setting.label
        for r in rows
    ]
    labels = [
        lab if r.records else f"{lab}\n(not run)" for lab, r in zip(labels, rows, strict=True)
    ]
    series = {}
    for c in spec.columns[:2]:
        key = [c.metric.format(out=r.setting.output) for r in rows]
        series[c.label] = [
            [float(x.metrics[k]) for x in r.records if k in x.metrics]
            for r, k in zip(rows, key, strict=True)
        ]
    name = f"ablation_{spec.key}.png"
    figures.ablation_plot(labels, series, gen / name, f"{spec.title}: ours, per run")
    return name


def pipeline_figures(s: PipelineSource, gen: Path) -> list[tuple[str, str]]:
    """Fig. 3, 4, 9, 11 per test split and Fig. 8 of one 2D source."""
    out = []
    label = source_label(s)
    if s.curves:
        name = f"fig8_curves_{s.source}.png"
        title = f"Fig. 8 analogue: validation MPJPE over training ({s.source} 2D, {label}, one run)"
        figures.training_curves(s.curves, gen / name, title)
        out.append((title + "; solid: cross-domain, dotted: in-domain; dots: one validation "
                    "per epoch; dashed vertical line: stage 2 starts.", name))  # fmt: skip
    ex = s.examples
    for split, dom in (("test", "in-domain test"), ("cross", "cross-domain test")):
        if f"{split}_attention" not in ex:
            continue
        where = f"({dom}, {s.source} 2D, {label})"
        kept = s.afsm.get(f"{split}_kept_tokens")
        r = s.afsm.get("r", s.afsm.get("retention"))
        afsm = f"; AFSM keeps {kept} of {s.afsm.get('hw_tokens')} tokens (r = {r})" if kept else ""
        made = (
            ("fig3_attention", figures.attention_overview,
             f"Fig. 3 analogue: last stage-1 layer attention, mean over joints {where}",
             "; white: the 2D pose; colour bar: attention weight"),
            ("fig4_joint_attention", figures.joint_attention,
             f"Fig. 4 analogue: attention of single joints, sample 0 {where}",
             "; x: the joint; colour bar: attention weight"),
            ("fig9_kept_tokens", figures.kept_tokens,
             f"Fig. 9 analogue: image tokens kept by the AFSM in red {where}", afsm),
            ("fig11_joint_area", figures.joint_area_matrix,
             f"Fig. 11 analogue: attention from each joint (row) to each joint's area {where}",
             "; colour bar: share of the joint's attention"),
        )  # fmt: skip
        for stem, draw, title, more in made:
            name = f"{stem}_{s.source}_{split}.png"
            draw(ex, split, gen / name, title)
            out.append((title + more, name))
    return out


def sections(
    sweeps: Sweeps, pipeline: dict[str, PipelineSource], gen: Path
) -> tuple[list[Section], list[tuple[str, str]]]:
    """Tables 1-11 and "Other sweeps" in the paper's order, and the pipeline's figures."""
    built: dict[str, Section] = {}
    for spec in (*ablations.SPECS, ablations.OTHER):
        table, rows = ablations.build(spec, sweeps)
        fig = ablation_figure(rows, spec, gen)
        built[spec.key] = Section(table, ((PLOT_NOTE, fig),) if fig else ())
    built["table2_p1"] = Section(per_action_table(pipeline, "p1"), ())
    built["table3"] = Section(cross_table(pipeline, sweeps), ())
    built["table8_p2"] = Section(per_action_table(pipeline, "p2"), ())
    order = ("table1", "table2_p1", "table3", "table4", "table5", "table6", "table7")
    order += ("table8_p2", "table9", "table10", "table11", "sweeps_other")
    figs = [f for s in pipeline.values() for f in pipeline_figures(s, gen)]
    return [built[k] for k in order], figs


def header(commit: str, sweeps: Sweeps, pipeline: dict[str, PipelineSource], paths: Paths) -> str:
    synthetic = any(r.synthetic for r in sweeps.records) or any(
        s.tables.get("synthetic") or any(r.synthetic for r in s.records) for s in pipeline.values()
    )
    lines = [
        "# Lifting by Image — the paper's tables, regenerated",
        "",
        "*Generated by `python -m lbi.report.build` (DVC stage `report`); do not edit by hand.*",
        "",
        f"Built at git commit `{commit}`.",
        "",
    ]
    if synthetic:
        lines += [
            "> **SYNTHETIC: rows labelled 'synthetic' come from the embedded synthetic "
            "benchmark (rendered from motion capture), not Human3.6M / MPI-INF-3DHP; they are "
            "not comparable in absolute value to the paper's.**",
            "",
        ]
    bb = load_backbone(paths)
    if bb.get("enabled"):
        lines.append(
            f"- Image encoder: {bb.get('backbone')} pretrained on 2D keypoints by the "
            f"`pretrain2d` stage ({bb.get('train_samples')} crops, synthetic; final 2D error "
            f"{bb.get('val_test_error_px', float('nan')):.1f} px in-domain / "
            f"{bb.get('val_cross_error_px', float('nan')):.1f} px cross-domain), then "
            "fine-tuned in stage 1 (`<models>/pretrain2d/backbone.json`)."
        )
    elif bb:
        lines.append(
            "- Image encoder: not pretrained by `pretrain2d` (model.pretrained or random)."
        )
    left = "; ".join(f"{f}: {w}" for f, w in sorted(sweeps.left_out.items()))
    lines += [
        "- Our numbers are computed by `lbi/report` from finished, non-smoke run records in "
        "`results/*.jsonl` and from the DVC pipeline's outputs; each table lists what it read. "
        "Paper numbers: `lbi/report/paper.py`, only in rows or columns labelled 'paper (...)'.",
        "- A cell is the mean ± sample std (ddof=1) over its n runs (seeds); the runs of one "
        "row share one setting, budget (epochs by phase), token width, stage-2 schedule, data "
        "and 2D source, named in the 'runs' column. 'not run': no finished record; "
        "'–': no value (the paper prints none, or it does not apply).",
        f"- Records left out (failed or smoke): {left or 'none'}.",
        "",
    ]
    return "\n".join(lines)


def build_report(
    paths: Paths, results_dir: str | Path = RESULTS_DIR, commit: str | None = None
) -> Report:
    """Read the inputs, write ``<reports>/generated/*`` and ``<reports>/README.md``."""
    sweeps = load_sweeps(results_dir)
    pipeline = load_pipeline(paths)
    gen = Path(paths.reports) / "generated"
    gen.mkdir(parents=True, exist_ok=True)
    secs, figs = sections(sweeps, pipeline, gen)
    written = set()
    for s in secs:
        for ext, text in (("md", markdown(s.table)), ("tex", latex(s.table))):
            save_text(gen / f"{s.table.key}.{ext}", text)
            written.add(f"{s.table.key}.{ext}")
    pngs = {name for s in secs for _, name in s.figures} | {name for _, name in figs}
    written |= pngs
    for old in gen.iterdir():  # outputs of an earlier build that this one did not make
        if old.is_file() and old.name not in written:
            old.unlink()
    parts = [header(commit or git_commit(), sweeps, pipeline, paths), "## Contents", ""]
    parts += [f"- {s.table.title}" for s in secs] + ["- Figures", ""]
    for s in secs:
        parts += [f"## {s.table.title}", "", markdown_body(s.table)]
        parts += [f"![{name}](generated/{name})\n\n*{cap}*\n" for cap, name in s.figures]
        k = s.table.key
        parts += [f"Files: [`{k}.md`](generated/{k}.md), [`{k}.tex`](generated/{k}.tex)", ""]
    parts += ["## Figures", ""]
    parts += [f"**{cap}**\n\n![{name}](generated/{name})\n" for cap, name in figs]
    if not figs:
        parts.append("not run (no pipeline outputs with examples or curves)\n")
    readme = save_text(Path(paths.reports) / "README.md", "\n".join(parts))
    return Report(
        readme,
        tuple(s.table for s in secs),
        tuple(sorted(gen / n for n in pngs)),
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml", help="params file (its `paths`)")
    ap.add_argument("--results-dir", default=str(RESULTS_DIR), help="sweep results (*.jsonl)")
    args = ap.parse_args(argv)
    rep = build_report(load_params(args.params).paths, args.results_dir)
    print(f"report: {len(rep.tables)} tables, {len(rep.figures)} figures -> {rep.readme}")


if __name__ == "__main__":
    main()

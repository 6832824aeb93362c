"""LBI vs the 2D-only lifter over seeds: the issue's "does the image help" check.

The pipeline compares LBI with the 2D-only baseline (``params.yaml`` ``baseline``: same
loop, budget = stage 1 + stage 2 epochs) for one seed; single runs differ by several mm
here, so this sweep repeats both over seeds and reports mean ± std, in-domain (Protocol
1, action-wise) and cross-domain (MPJPE). Usage::

    python sweeps/compare_lifter.py                 # seeds 0 1 2
    python sweeps/compare_lifter.py --dims 64 128   # LBI at two token widths
    python sweeps/compare_lifter.py --smoke         # seed 0, tiny budget
    python sweeps/compare_lifter.py --stage2 frozen finetune  # both stage-2 schedules

Each LBI row names its token width (``model.dim``) and, when stage 2 trains stage 1 on
(``train_stage2.finetune_stage1``; ``--stage2`` defaults to params.yaml's), says so, so
runs of other settings stay apart.
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.params import load_params
from lbi.sweep import Cell, Entry, SweepSpec

COLUMNS = {"in-domain P1": "test_{m}_p1_mm", "cross-domain MPJPE": "cross_{m}_mpjpe_mm"}


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    p = load_params(args.params)
    lifter_row = f"2D-only lifter ({p.baseline.model.arch})"
    dims = args.dims or [p.model.dim]
    stage2 = args.stage2 or ["finetune" if p.train_stage2.finetune_stage1 else "frozen"]
    cells, rows = [], []
    for d in dims:
        for s in stage2:
            ft = s == "finetune"
            name, label = (
                f"lbi_d{d}{'_ft' if ft else ''}",
                f"dim {d}{', stage 1 fine-tuned' if ft else ''}",
            )
            over = {"model.dim": d, "train_stage2.finetune_stage1": ft}
            cells.append(
                Cell(name, over, mode="progressive", row=f"LBI ({label})", column="refined")
            )
            rows += [(f"LBI {m} ({label})", name, m) for m in ("refined", "coarse")]
    cells.append(Cell("lifter", mode="lifter", row=lifter_row, column="baseline"))
    rows.append((lifter_row, "lifter", "baseline"))
    entries = tuple(
        Entry(row, col, cell, key.format(m=m))
        for row, cell, m in rows
        for col, key in COLUMNS.items()
    )
    return SweepSpec("lifter", "lifter", tuple(cells), seeds(args), source, entries)


def arguments() -> argparse.ArgumentParser:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument(
        "--dims", type=int, nargs="+", default=None, help="LBI token widths (default: model.dim)"
    )
    ap.add_argument(
        "--stage2",
        nargs="+",
        choices=("frozen", "finetune"),
        help="stage 1 in stage 2: frozen (the paper) and/or finetune "
        "(default: train_stage2.finetune_stage1 of params.yaml)",
    )
    return ap


if __name__ == "__main__":
    main(arguments().parse_args(), build)

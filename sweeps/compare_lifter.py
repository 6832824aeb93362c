"""LBI vs the 2D-only lifter over seeds: the issue's "does the image help" check.

The pipeline compares LBI with the 2D-only baseline (``params.yaml`` ``baseline``: same
loop, budget = stage 1 + stage 2 epochs) for one seed; single runs differ by several mm
here, so this sweep repeats both over seeds and reports mean ± std, in-domain (Protocol
1, action-wise) and cross-domain (MPJPE). Usage::

    python sweeps/compare_lifter.py                 # seeds 0 1 2
    python sweeps/compare_lifter.py --dims 64 128   # LBI at two token widths
    python sweeps/compare_lifter.py --smoke         # seed 0, tiny budget

Each LBI row names its token width (``model.dim``), so runs at other widths stay apart.
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
    lbi = [
        Cell(
            f"lbi_d{d}",
            {"model.dim": d},
            mode="progressive",
            row=f"LBI (dim {d})",
            column="refined",
        )
        for d in dims
    ]
    cells = (*lbi, Cell("lifter", mode="lifter", row=lifter_row, column="baseline"))
    rows = [(f"LBI {m} (dim {d})", f"lbi_d{d}", m) for d in dims for m in ("refined", "coarse")]
    rows.append((lifter_row, "lifter", "baseline"))
    entries = tuple(
        Entry(row, col, cell, key.format(m=m))
        for row, cell, m in rows
        for col, key in COLUMNS.items()
    )
    return SweepSpec("lifter", "lifter", cells, seeds(args), source, entries)


def arguments() -> argparse.ArgumentParser:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument(
        "--dims", type=int, nargs="+", default=None, help="LBI token widths (default: model.dim)"
    )
    return ap


if __name__ == "__main__":
    main(arguments().parse_args(), build)

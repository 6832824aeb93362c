"""LBI vs the 2D-only lifter over seeds: the issue's "does the image help" check.

The pipeline compares LBI with the 2D-only baseline (``params.yaml`` ``baseline``: same
loop, budget = stage 1 + stage 2 epochs) for one seed; single runs differ by several mm
here, so this sweep repeats both over seeds and reports mean ± std, in-domain (Protocol
1, action-wise) and cross-domain (MPJPE). Usage::

    python sweeps/compare_lifter.py                 # seeds 0 1 2
    python sweeps/compare_lifter.py --smoke         # seed 0, tiny budget
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.params import load_params
from lbi.sweep import Cell, Entry, SweepSpec

COLUMNS = {"in-domain P1": "test_{m}_p1_mm", "cross-domain MPJPE": "cross_{m}_mpjpe_mm"}


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    arch = load_params(args.params).baseline.model.arch
    lifter_row = f"2D-only lifter ({arch})"
    cells = (
        Cell("lbi", mode="progressive", row="LBI", column="refined"),
        Cell("lifter", mode="lifter", row=lifter_row, column="baseline"),
    )
    rows = (("LBI refined", "lbi", "refined"), ("LBI coarse", "lbi", "coarse"),
            (lifter_row, "lifter", "baseline"))  # fmt: skip
    entries = tuple(
        Entry(row, col, cell, key.format(m=m))
        for row, cell, m in rows
        for col, key in COLUMNS.items()
    )
    return SweepSpec("lifter", "lifter", cells, seeds(args), source, entries)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__.splitlines()[0])


if __name__ == "__main__":
    main(arguments().parse_args(), build)

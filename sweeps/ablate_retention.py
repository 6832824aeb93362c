"""Table 7: AFSM retention rate r (refined pose), plus the coarse-pose column.

All r share one stage 1 per seed (cached), so the "Coarse Pose" column is the stage-1
model those trials start from. Usage::

    python sweeps/ablate_retention.py                      # r in 0.01 0.1 0.3 0.5 1, seeds 0 1 2
    python sweeps/ablate_retention.py --smoke              # r in 0.01 0.3 1, seed 0, tiny budget
    python sweeps/ablate_retention.py --values 0.3 1 --seeds 0 1
"""

from __future__ import annotations

import argparse

from _common import axis, main, parser, seeds

from lbi.sweep import Cell, Entry, SweepSpec

FULL = (0.01, 0.1, 0.3, 0.5, 1.0)
SMOKE = (0.01, 0.3, 1.0)
METRICS = {"MPJPE": ("test_refined_p1_mm", "test_coarse_p1_mm"),
           "3DHP MPJPE": ("cross_refined_mpjpe_mm", "cross_coarse_mpjpe_mm")}  # fmt: skip


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    cells = tuple(
        Cell(name=f"r={r:g}", overrides={"model.retention": float(r)}, row="MPJPE", column=f"{r:g}")
        for r in axis(args, args.values, FULL, SMOKE)
    )
    entries = [
        Entry(row, c.column, c.name, refined)
        for row, (refined, _) in METRICS.items()
        for c in cells
    ]
    # Stage 1 is shared by every r: its coarse pose is read from the first cell's trials.
    entries += [
        Entry(row, "Coarse Pose", cells[0].name, coarse) for row, (_, coarse) in METRICS.items()
    ]
    return SweepSpec("retention", "7", cells, seeds(args), source, tuple(entries))


def arguments() -> argparse.ArgumentParser:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--values", type=float, nargs="+", help="retention rates r in (0, 1]")
    return ap


if __name__ == "__main__":
    main(arguments().parse_args(), build)

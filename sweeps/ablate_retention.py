"""Table 7: AFSM retention ``prune.retention`` (refined pose), plus the coarse pose.

All retentions share one stage 1 per seed (cached), whose coarse pose every record
carries. Usage::

    python sweeps/ablate_retention.py [--smoke]  # 0.01 0.1 0.3 0.5 1 x seeds 0-4 (0.01 0.3 1 x 0)
    python sweeps/ablate_retention.py --values 0.3 1 --seeds 0 1
"""

from __future__ import annotations

import argparse

from _common import axis, main, parser, seeds

from lbi.sweep import SweepSpec, cells

FULL, SMOKE = (0.01, 0.1, 0.3, 0.5, 1.0), (0.01, 0.3, 1.0)


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    rows = [(f"r={r:g}", {"prune.retention": float(r)}, "MPJPE", f"{r:g}")
            for r in axis(args, args.values, FULL, SMOKE)]  # fmt: skip
    show = ("test_refined_p1_mm", "cross_refined_mpjpe_mm", "test_coarse_p1_mm")
    return SweepSpec("retention", "7", cells("progressive", "7", rows), seeds(args), source, show)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, values={"type": float, "nargs": "+", "help": "retentions in (0, 1]"})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build)

"""Table 7: AFSM retention ``prune.retention`` (refined pose), plus the coarse pose.

All retentions share one stage 1 per seed (cached), whose coarse pose every record
carries. Usage::

    python sweeps/ablate_retention.py [--smoke]  # the paper's 0.01 0.3 1 x seeds 0-4 (smoke: x 0)
    python sweeps/ablate_retention.py --values 0.01 0.1 0.3 0.5 1   # a finer curve (not a claim)
"""

from __future__ import annotations

import argparse

from _common import axis, main, parser, seeds

from lbi.sweep import SweepSpec, cells

# The paper's Table 7 (its claims T7a/b); other values only when asked for: each costs a
# stage 2 per seed (~15 min on 2 cores), and the suite is CPU-bound.
FULL = SMOKE = (0.01, 0.3, 1.0)


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    rows = [(f"r={r:g}", {"prune.retention": float(r)}, "MPJPE", f"{r:g}")
            for r in axis(args, args.values, FULL, SMOKE)]  # fmt: skip
    show = ("test_refined_p1_mm", "cross_refined_mpjpe_mm", "test_coarse_p1_mm")
    return SweepSpec("retention", "7", cells("progressive", "7", rows), seeds(args), source, show)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, values={"type": float, "nargs": "+", "help": "retentions in (0, 1]"})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build)

"""Table 11: where the PGTL normalises relative to the transposition (coarse pose).

Four ``model.pgtl_variant`` values, in-domain (Protocol 1) and cross-domain (MPJPE). The
paper reports the coarse pose, so by default only stage 1 is trained; ``--stage2`` runs
the whole progressive schedule and reports the refined pose too. Usage::

    python sweeps/ablate_normalization.py [--smoke] [--variants before after] [--stage2]
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.sweep import SweepSpec, cells

VARIANTS = {"before": "Normalization before Transposition",
            "after": "Normalization after Transposition",
            "double": "Double Normalization", "two_cross": "Two Cross-attention"}  # fmt: skip


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    rows = [(v, {"model.pgtl_variant": v}, VARIANTS[v], "")
            for v in args.variants or tuple(VARIANTS)]  # fmt: skip
    mode = "progressive" if args.stage2 else "stage1"
    show = ("test_coarse_p1_mm", "cross_coarse_mpjpe_mm") + (
        ("test_refined_p1_mm", "cross_refined_mpjpe_mm") if args.stage2 else ()
    )
    return SweepSpec("normalization", "11", cells(mode, "11", rows), seeds(args), source, show)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, variants={"nargs": "+", "choices": tuple(VARIANTS)},
                  stage2={"action": "store_true", "help": "also train stage 2 (refined pose)"})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build)

"""Table 11: where the PGTL normalises relative to the transposition (coarse pose).

Four ``model.pgtl_variant`` values, in-domain (Human3.6M column: Protocol 1) and cross-
domain (3DHP column: MPJPE). The paper reports the coarse pose (its "before" row equals
the coarse pose of Table 4), so by default only stage 1 is trained; ``--stage2`` runs the
whole progressive schedule and reports the refined pose too. Usage::

    python sweeps/ablate_normalization.py [--smoke] [--variants before after] [--stage2]
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.sweep import Cell, Entry, SweepSpec

VARIANTS = {
    "before": "Normalization before Transposition",
    "after": "Normalization after Transposition",
    "double": "Double Normalization",
    "two_cross": "Two Cross-attention",
}
COARSE = {"H3.6M": "test_coarse_p1_mm", "3DHP": "cross_coarse_mpjpe_mm"}
REFINED = {"H3.6M refined": "test_refined_p1_mm", "3DHP refined": "cross_refined_mpjpe_mm"}


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    mode = "progressive" if args.stage2 else "stage1"
    cells, entries = [], []
    for v in args.variants or tuple(VARIANTS):
        c = Cell(v, {"model.pgtl_variant": v}, mode, VARIANTS[v], "H3.6M,3DHP")
        cells.append(c)
        cols = {**COARSE, **REFINED} if args.stage2 else COARSE
        entries += [Entry(VARIANTS[v], col, c.name, key) for col, key in cols.items()]
    return SweepSpec("normalization", "11", tuple(cells), seeds(args), source, tuple(entries))


def arguments() -> argparse.ArgumentParser:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", choices=tuple(VARIANTS))
    ap.add_argument("--stage2", action="store_true", help="also train stage 2 (refined pose)")
    return ap


if __name__ == "__main__":
    main(arguments().parse_args(), build)

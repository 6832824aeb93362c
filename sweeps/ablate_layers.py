"""Table 6: stage-1 layer pattern (coarse pose); and stage-2 depth (refined pose).

Table 6 counts "Transformer Layer / Pose-guided Layer" 0/2, 1/1, 2/0 with the default
(TL, PGTL, TL) being the 1/1 row. We read the counts as the first two of the three
stage-1 layers, the last one always a TL:

    0/2 -> (pgtl, pgtl, tl)    1/1 -> (tl, pgtl, tl)    2/0 -> (tl, tl, tl)

2/0 is then the "w/o PGTL" model of Table 5, whose number (30.4) the paper repeats in
the 0/2 row of Table 6 instead (31.3 for 2/0), so the paper's own mapping is ambiguous;
``--patterns`` also takes explicit patterns such as ``tl,pgtl,pgtl``. The stage-2 depth
cells (not a paper table; the paper fixes 3). Usage::

    python sweeps/ablate_layers.py [--smoke] [--patterns 0/2 1/1 2/0] [--stage2-layers 1 2 3 4]
"""

from __future__ import annotations

import argparse

from _common import axis, main, parser, seeds

from lbi.sweep import SweepSpec, cells

PATTERNS = {"0/2": ("pgtl", "pgtl", "tl"), "1/1": ("tl", "pgtl", "tl"), "2/0": ("tl", "tl", "tl")}
DEPTHS, SMOKE_DEPTHS = (1, 2, 3, 4), (1, 3)


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    pats = [(f"stage1={x}", {"model.stage1": PATTERNS.get(x) or tuple(x.split(","))}, x, "")
            for x in args.patterns or tuple(PATTERNS)]  # fmt: skip
    depths = [(f"stage2_layers={n}", {"model.stage2_layers": n}, str(n), "")
              for n in axis(args, args.stage2_layers, DEPTHS, SMOKE_DEPTHS)]  # fmt: skip
    show = ("test_coarse_p1_mm", "cross_coarse_mpjpe_mm", "test_stage1_bg_attention_pct",
            "test_refined_p1_mm")  # fmt: skip
    all_cells = cells("stage1", "6", pats) + cells("progressive", "stage2-depth", depths)
    return SweepSpec("layers", "6", all_cells, seeds(args), source, show)


def arguments() -> argparse.ArgumentParser:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--patterns", nargs="+", help="0/2 1/1 2/0 or explicit tl,pgtl,tl")
    ap.add_argument("--stage2-layers", type=int, nargs="*", help="stage-2 depths (none: skip)")
    return ap


if __name__ == "__main__":
    main(arguments().parse_args(), build)

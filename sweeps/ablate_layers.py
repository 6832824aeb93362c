"""Table 6: stage-1 layer pattern (coarse pose); and stage-2 depth (refined pose).

Table 6 counts "Transformer Layer / Pose-guided Layer" as the first two of the three
stage-1 layers (the last one a TL): 0/2 -> (pgtl, pgtl, tl), 1/1 -> (tl, pgtl, tl), the
default, 2/0 -> (tl, tl, tl) ("w/o PGTL" of Table 5; the paper's own mapping is
ambiguous, so ``--patterns`` also takes e.g. ``tl,pgtl,pgtl``). The stage-2 depth cells
are not a paper table (the paper fixes 3). Usage::

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
    return parser(__doc__, patterns={"nargs": "+", "help": "0/2 1/1 2/0 or explicit tl,pgtl,tl"},
                  stage2_layers={"type": int, "nargs": "*", "help": "stage-2 depths (none: skip)"})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build)

"""Table 6: stage-1 layer pattern (coarse pose); and stage-2 depth (refined pose).

Table 6 counts "Transformer Layer / Pose-guided Layer" 0/2, 1/1, 2/0 with the default
(TL, PGTL, TL) being the 1/1 row (29.2 mm, the coarse pose of Tables 4, 5, 11). We read
the counts as the first two of the three stage-1 layers, the last one always a TL:

    0/2 -> (pgtl, pgtl, tl)    1/1 -> (tl, pgtl, tl)    2/0 -> (tl, tl, tl)

2/0 is then the "w/o PGTL" model of Table 5, whose number (30.4) the paper repeats in
the 0/2 row of Table 6 instead (31.3 for 2/0), so the paper's own mapping is ambiguous;
``--patterns`` also takes explicit patterns such as ``tl,pgtl,pgtl``. The stage-2 depth
cells (not a paper table; the paper fixes 3) share the default stage 1. Usage::

    python sweeps/ablate_layers.py [--smoke] [--patterns 0/2 1/1 2/0] [--stage2-layers 1 2 3 4]
"""

from __future__ import annotations

import argparse

from _common import axis, main, parser, seeds

from lbi.sweep import Cell, Entry, SweepSpec

PATTERNS = {"0/2": ("pgtl", "pgtl", "tl"), "1/1": ("tl", "pgtl", "tl"), "2/0": ("tl", "tl", "tl")}
DEPTHS, SMOKE_DEPTHS = (1, 2, 3, 4), (1, 3)
COARSE = {"Human3.6M": "test_coarse_p1_mm", "3DHP": "cross_coarse_mpjpe_mm",
          "Background attention %": "test_stage1_bg_attention_pct"}  # fmt: skip
REFINED = {"Human3.6M": "test_refined_p1_mm", "3DHP": "cross_refined_mpjpe_mm"}


def pattern(label: str) -> tuple[str, ...]:
    """``0/2`` (Table 6 row) or an explicit ``tl,pgtl,tl``."""
    if label in PATTERNS:
        return PATTERNS[label]
    return tuple(label.split(","))


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    cells, entries = [], []
    for label in args.patterns or tuple(PATTERNS):
        c = Cell(
            f"stage1={label}", {"model.stage1": pattern(label)}, mode="stage1", row=label, table="6"
        )
        cells.append(c)
        entries += [Entry(f"TL/PGTL {label}", col, c.name, key) for col, key in COARSE.items()]
    for n in axis(args, args.stage2_layers, DEPTHS, SMOKE_DEPTHS):
        c = Cell(f"stage2_layers={n}", {"model.stage2_layers": n}, row=str(n), table="stage2-depth")
        cells.append(c)
        entries += [Entry(f"stage-2 layers {n}", col, c.name, key) for col, key in REFINED.items()]
    return SweepSpec("layers", "6", tuple(cells), seeds(args), source, tuple(entries))


def arguments() -> argparse.ArgumentParser:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--patterns", nargs="+", help="0/2 1/1 2/0 or explicit tl,pgtl,tl")
    ap.add_argument("--stage2-layers", type=int, nargs="*", help="stage-2 depths (none: skip)")
    return ap


if __name__ == "__main__":
    main(arguments().parse_args(), build)

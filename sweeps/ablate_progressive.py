"""Table 4: progressive (stage 1 -> stage 2) vs end-to-end training.

Rows: end to end with loss on the refined pose (``e2e_fine``) or on both (``e2e_both``),
both for the progressive run's total epochs with the stage-1 optimiser settings; and the
progressive run (its records carry coarse and refined poses) with stage 1 frozen in
stage 2 (``progressive``, the paper) or trained on (``progressive_ft``,
``train_stage2.finetune_stage1``: the pipeline's default, not the paper's). Usage::

    python sweeps/ablate_progressive.py [--smoke] [--modes progressive progressive_ft]
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.sweep import Cell, SweepSpec

MODES = {  # cell: (mode, overrides, row)
    "e2e_fine": ("e2e_fine", {}, "end-to-end w/ fine supervision"),
    "e2e_both": ("e2e_both", {}, "end-to-end w/ both supervision"),
    "progressive": ("progressive", {"train_stage2.finetune_stage1": False}, "progressive"),
    "progressive_ft": ("progressive", {"train_stage2.finetune_stage1": True},
                       "progressive (stage 1 fine-tuned)"),
}  # fmt: skip


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    cs = tuple(Cell(m, MODES[m][1], MODES[m][0], MODES[m][2], "Human3.6m,3DHP", "4")
               for m in args.modes or tuple(MODES))  # fmt: skip
    return SweepSpec("progressive", "4", cs, seeds(args), source)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, modes={"nargs": "+", "choices": tuple(MODES)})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build)

"""LBI vs the 2D-only lifter over seeds: the issue's "does the image help" check.

The pipeline compares LBI with the lifter (same loop and budget) for one seed; single
runs differ by several mm here, so this sweep repeats both over seeds. Usage::

    python sweeps/compare_lifter.py [--smoke]       # seeds 0-4 (smoke: 0, tiny budget)
    python sweeps/compare_lifter.py --dims 64 128   # LBI at two token widths
    python sweeps/compare_lifter.py --stage2 frozen finetune  # both stage-2 schedules
    python sweeps/compare_lifter.py --stores cues   # on the old look (sweeps/stores.yaml)
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.params import load_params
from lbi.sweep import Cell, SweepSpec


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    p = load_params(args.params)
    stage2 = args.stage2 or ["finetune" if p.train_stage2.finetune_stage1 else "frozen"]
    cs = []
    for d in args.dims or [p.model.dim]:
        for ft in (s == "finetune" for s in stage2):
            over = {"model.dim": d, "train_stage2.finetune_stage1": ft}
            label = f"dim {d}{', stage 1 fine-tuned' if ft else ''}"
            cs.append(Cell(f"lbi_d{d}{'_ft' if ft else ''}", over, "progressive", f"LBI ({label})",
                           "LBI"))  # fmt: skip
    cs.append(Cell("lifter", {}, "lifter", f"2D-only lifter ({p.lifter.model.arch})", "lifter"))
    show = ("test_refined_p1_mm", "cross_refined_mpjpe_mm", "test_lifter_p1_mm",
            "cross_lifter_mpjpe_mm")  # fmt: skip
    return SweepSpec("lifter", "3", tuple(cs), seeds(args), source, show)  # Table 3, over seeds


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, dims={"type": int, "nargs": "+", "help": "LBI token widths"},
                  stage2={"nargs": "+", "choices": ("frozen", "finetune"), "help": "stage 1 in "
                          "stage 2 (default: train_stage2.finetune_stage1 of params.yaml)"})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build)

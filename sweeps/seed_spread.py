"""Issue 20 item 3: which cheap change narrows the default model's seed spread.

Cells over seeds, for LBI and for the 2D-only lifter: the pipeline's defaults (the very
models of ``compare_lifter``, whose records are reused), an EMA of the weights, and a
learning rate that ends at ``FINAL`` of its start (per-epoch steps; a schedule that already
does is left alone). The report's "Other sweeps" table gives each cell's mean ± std over
seeds: adopt what narrows the std without hurting the mean. A larger test set (more takes
or views) is a data change, not a cell here. Usage::

    python sweeps/seed_spread.py [--smoke]          # seeds 0-4 (smoke: 0, tiny budget)
    python sweeps/seed_spread.py --treatments ema --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from typing import Any

from _common import main, parser, seeds

from lbi.params import load_params
from lbi.sweep import Cell, SweepSpec

EMA, FINAL = 0.998, 0.05  # EMA decay per step; the last epoch's LR as a share of the first's
TREATMENTS = ("default", "ema", "low_final_lr")


def schedule(t: Any, section: str) -> dict[str, Any]:
    """Overrides of ``section`` (its params ``t``, params.yaml's epochs) for a learning rate
    that ends at ``FINAL`` of its start; none where it already does."""
    if t.lr_decay ** (t.epochs // t.lr_decay_every) <= FINAL:
        return {}
    return {f"{section}.lr_decay_every": 1, f"{section}.lr_decay": round(FINAL ** (1 / t.epochs), 4)}  # fmt: skip


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    p = load_params(args.params)
    lbi = {"default": {}, "ema": {"train.ema_decay": EMA},
           "low_final_lr": schedule(p.train_stage1, "train_stage1") | schedule(p.train_stage2, "train_stage2")}  # fmt: skip
    lifter = {"default": {}, "ema": {"lifter.train.ema_decay": EMA},
              "low_final_lr": schedule(p.lifter.train, "lifter.train")}  # fmt: skip
    cs = []
    for t in args.treatments or TREATMENTS:
        cs.append(Cell(f"lbi_{t}", lbi[t], "progressive", f"LBI refined, {t}", "LBI"))
        cs.append(Cell(f"lifter_{t}", lifter[t], "lifter", f"2D-only lifter, {t}", "lifter"))
    show = ("test_refined_p1_mm", "cross_refined_mpjpe_mm", "test_lifter_p1_mm",
            "cross_lifter_mpjpe_mm")  # fmt: skip
    return SweepSpec("spread", "seed-spread", tuple(cs), seeds(args), source, show)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, treatments={"nargs": "+", "choices": TREATMENTS})


if __name__ == "__main__":
    main(arguments().parse_args(), build)

"""Hyperparameter search: Optuna (TPE) inside Ray Tune, ASHA early stopping.

Searches the learning rate (both stages), token width, drop-path and retention (progressive
schedule); ASHA compares trials on ``--metric`` per epoch (stage 1, then stage 2): by default
the wild val split (``embedded.wild_val_*``; real data ``mpi3dhp.val_sequences``). Usage::

    python sweeps/search_hparams.py [--smoke] [--num-samples 30] [--metric val_cross_mpjpe_mm]
"""

from __future__ import annotations

import argparse

from _common import main, parser

from lbi.sweep import Cell, SearchSpec, SweepSpec


def space(args: argparse.Namespace) -> SearchSpec:
    from ray import tune

    dims = [32, 64] if args.smoke else [64, 128, 256]
    return SearchSpec(
        space={"train.lr": tune.loguniform(1e-4, 3e-3), "model.dim": tune.choice(dims),
               "model.drop_path": tune.uniform(0.0, 0.2),
               "prune.retention": tune.choice([0.1, 0.3, 0.5, 1.0])},
        num_samples=args.num_samples or (4 if args.smoke else 30), metric=args.metric,
        seed=(args.seeds or [0])[0],
    )  # fmt: skip


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    cell = Cell("search", row="search", column=args.metric)
    return SweepSpec("search", "search", (cell,), ((args.seeds or [0])[0],), source)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, num_samples={"type": int, "help": "trials (default 30; smoke 4)"},
                  metric={"default": "val_cross_mpjpe_mm", "help": "per-epoch metric to minimise"})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build, space)

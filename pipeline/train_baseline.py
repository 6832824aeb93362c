"""Stage ``train_baseline@<source>``: the 2D-only lifter, same loop and budget as LBI.

Reads params: ``data``, ``baseline`` (and warns when ``baseline.train.epochs`` is not
``train_stage1.epochs + train_stage2.epochs``, LBI's budget). Writes
``${paths.models}/<source>/baseline.pt`` and ``${paths.plots}/<source>/baseline.json``.
"""

from __future__ import annotations

import dataclasses
import logging

from pipeline._cli import parse, run, train_stage


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.config import to_dict
    from lbi.model import build_model

    def model_for(ds):  # type: ignore[no-untyped-def]
        return build_model(
            dataclasses.replace(p.baseline.model, num_joints_in=ds.train.num_joints_in)
        )

    cfg = p.baseline.train
    budget = p.train_stage1.epochs + p.train_stage2.epochs
    if cfg.epochs != budget:  # allowed (e.g. a budget study), but not the default comparison
        logging.getLogger("lbi").warning(
            "baseline.train.epochs is %d but LBI trains %d (train_stage1.epochs + "
            "train_stage2.epochs): the lifter does not get LBI's budget; set "
            "baseline.train.epochs: %d in params.yaml for the same-budget comparison",
            cfg.epochs, budget, budget,
        )  # fmt: skip
    log = {"model": to_dict(p.baseline.model), "train": to_dict(cfg), "source": args.source}
    train_stage("train_baseline", "lifter", args.source, model_for, cfg, p,
                out_name="baseline", log_params=log, progress=not args.no_progress)  # fmt: skip


if __name__ == "__main__":
    run(main)

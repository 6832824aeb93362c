"""Stage ``train_baseline@<source>``: the 2D-only lifter, same loop and budget as LBI.

Reads params: ``data``, ``baseline``. Writes ``${paths.models}/<source>/baseline.pt``
and ``${paths.plots}/<source>/baseline.json``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline._cli import out_dir, parse, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.config import to_dict
    from lbi.experiment import DataPaths, make_datasets, train_phase
    from lbi.io import save_json
    from lbi.model import build_model
    from lbi.tracking import stage_run

    cfg = p.baseline.train
    ds = make_datasets(
        DataPaths.from_params(p.paths), args.source, flip=cfg.flip_augment, seed=cfg.seed
    )
    mcfg = dataclasses.replace(p.baseline.model, num_joints_in=ds.train.num_joints_in)
    model = build_model(mcfg)
    params = {"model": to_dict(mcfg), "train": to_dict(cfg), "source": args.source}
    with stage_run(
        "train_baseline",
        dataset=ds.dataset,
        synthetic=ds.synthetic,
        source=args.source,
        params=params,
        run_name=f"train_baseline@{args.source}",
    ) as mlf:
        res = train_phase(
            model,
            "lifter",
            ds,
            cfg,
            Path(p.paths.checkpoints) / f"baseline_{args.source}",
            Path(p.paths.models) / args.source / "baseline.pt",
            mlflow_module=mlf,
            progress=not args.no_progress,
        )
        mlf.log_artifact(str(res.checkpoint), artifact_path="checkpoints")
    save_json(out_dir(Path(p.paths.plots) / args.source) / "baseline.json", res.history)
    print(f"train_baseline@{args.source}: {res.history[-1]} in {res.seconds:.0f} s")


if __name__ == "__main__":
    run(main)

"""Stage ``train_stage1@<source>``: encoder + stage 1 (TL, PGTL, TL) to the coarse pose.

Reads params: ``data``, ``model``, ``train_stage1``. Writes
``${paths.models}/<source>/stage1.pt`` and ``${paths.plots}/<source>/stage1.json``.
Resumes from ``${paths.checkpoints}/stage1_<source>/last.pt`` after a kill.
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

    ds = make_datasets(
        DataPaths.from_params(p.paths),
        args.source,
        flip=p.train_stage1.flip_augment,
        background_augment=p.train_stage1.background_augment,
        seed=p.train_stage1.seed,
    )
    mcfg = dataclasses.replace(p.model, num_joints_in=ds.train.num_joints_in)
    model = build_model(mcfg)
    params = {"model": to_dict(mcfg), "train": to_dict(p.train_stage1), "source": args.source}
    with stage_run(
        "train_stage1",
        dataset=ds.dataset,
        synthetic=ds.synthetic,
        source=args.source,
        params=params,
        run_name=f"train_stage1@{args.source}",
    ) as mlf:
        res = train_phase(
            model,
            "stage1",
            ds,
            p.train_stage1,
            Path(p.paths.checkpoints) / f"stage1_{args.source}",
            Path(p.paths.models) / args.source / "stage1.pt",
            mlflow_module=mlf,
            progress=not args.no_progress,
        )
        mlf.log_artifact(str(res.checkpoint), artifact_path="checkpoints")
    save_json(out_dir(Path(p.paths.plots) / args.source) / "stage1.json", res.history)
    print(f"train_stage1@{args.source}: {res.history[-1]} in {res.seconds:.0f} s")


if __name__ == "__main__":
    run(main)

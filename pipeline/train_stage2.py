"""Stage ``train_stage2@<source>``: stage 1 frozen, stage 2 on the AFSM-kept tokens.

Reads params: ``data``, ``train_stage2``; the retention r comes from the prune stage's
output. Writes ``${paths.models}/<source>/stage2.pt`` and ``${paths.plots}/<source>/stage2.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline._cli import out_dir, parse, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.config import to_dict
    from lbi.experiment import DataPaths, make_datasets, stage2_model_from_stage1, train_phase
    from lbi.io import save_json
    from lbi.tracking import stage_run

    cfg = p.train_stage2
    afsm_path = Path(p.paths.prune) / args.source / "afsm.json"
    if not afsm_path.exists():
        raise FileNotFoundError(f"{afsm_path}: missing; run `dvc repro prune@{args.source}`")
    r = float(json.loads(afsm_path.read_text())["r"])
    stage1 = Path(p.paths.models) / args.source / "stage1.pt"
    model = stage2_model_from_stage1(stage1, r)
    ds = make_datasets(
        DataPaths.from_params(p.paths),
        args.source,
        flip=cfg.flip_augment,
        seed=cfg.seed,
        background_augment=cfg.background_augment,
    )
    params = {"train": to_dict(cfg), "source": args.source, "prune.r": r, "stage1": str(stage1)}
    with stage_run(
        "train_stage2",
        dataset=ds.dataset,
        synthetic=ds.synthetic,
        source=args.source,
        params=params,
        run_name=f"train_stage2@{args.source}",
    ) as mlf:
        res = train_phase(
            model,
            "stage2",
            ds,
            cfg,
            Path(p.paths.checkpoints) / f"stage2_{args.source}",
            Path(p.paths.models) / args.source / "stage2.pt",
            mlflow_module=mlf,
            progress=not args.no_progress,
            extra_state={"retention": r},
        )
        mlf.log_artifact(str(res.checkpoint), artifact_path="checkpoints")
    save_json(out_dir(Path(p.paths.plots) / args.source) / "stage2.json", res.history)
    print(f"train_stage2@{args.source}: {res.history[-1]} in {res.seconds:.0f} s")


if __name__ == "__main__":
    run(main)

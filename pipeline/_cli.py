"""Shared argument handling for the stage CLIs (each stage stays a thin ``main``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import lbi  # noqa: F401 - installs the torchvision shim before anything imports timm
from lbi.params import Params, load_params


def parse(description: str, *, source: bool = False) -> tuple[argparse.Namespace, Params]:
    """``--params`` (default params.yaml) and, for per-source stages, ``--source``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--params", default="params.yaml", help="params file (default: params.yaml)")
    if source:
        ap.add_argument("--source", required=True, choices=("gt", "cpn", "sh"), help="2D source")
    ap.add_argument("--no-progress", action="store_true", help="disable progress bars")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    params = load_params(args.params)
    if source and args.source not in params.data.sources:
        ap.error(
            f"--source {args.source} is not in data.sources {list(params.data.sources)} of {args.params}"
        )
    return args, params


def run(main_fn) -> None:  # type: ignore[no-untyped-def]
    """Run a stage; known errors print one clear line and exit 1 (no traceback noise)."""
    from lbi.config import ConfigError
    from lbi.data.store import StoreError
    from lbi.train import CheckpointError

    try:
        main_fn()
    except (ConfigError, StoreError, CheckpointError, FileNotFoundError, ConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def out_dir(path: str | Path) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def train_stage(
    stage: str,
    phase: str,
    source: str,
    model,  # nn.Module, or a function Datasets -> nn.Module (joint count from the source)
    cfg,  # lbi.train.TrainConfig
    p: Params,
    *,
    out_name: str,
    log_params: dict,
    progress: bool,
    extra_state: dict | None = None,
    datasets=None,  # lbi.experiment.Datasets; None: make_datasets(source) of the stores
):  # type: ignore[no-untyped-def]
    """The body every training stage shares: datasets, MLflow run, the loop, outputs.

    Writes ``${paths.models}/<source>/<out_name>.pt`` and the per-epoch curve
    ``${paths.plots}/<source>/<out_name>.json``; resumes from
    ``${paths.checkpoints}/<out_name>_<source>/last.pt``.
    """
    from lbi.experiment import DataPaths, make_datasets, train_phase
    from lbi.io import save_json
    from lbi.tracking import stage_run

    ds = datasets or make_datasets(
        DataPaths.from_params(p.paths),
        source,
        flip=cfg.flip_augment,
        seed=cfg.seed,
        background_augment=cfg.background_augment,
        color_augment=cfg.color_augment,
    )
    from lbi.train import seeded

    if callable(model) and not hasattr(model, "parameters"):
        with seeded(cfg.seed):  # initial weights depend on the seed only
            model = model(ds)
    with stage_run(
        stage, dataset=ds.dataset, synthetic=ds.synthetic, source=source, params=log_params,
        run_name=f"{stage}@{source}",
    ) as mlf:  # fmt: skip
        res = train_phase(
            model, phase, ds, cfg,
            Path(p.paths.checkpoints) / f"{out_name}_{source}",
            Path(p.paths.models) / source / f"{out_name}.pt",
            mlflow_module=mlf, progress=progress, extra_state=extra_state,
        )  # fmt: skip
        mlf.log_artifact(str(res.checkpoint), artifact_path="checkpoints")
    save_json(out_dir(Path(p.paths.plots) / source) / f"{out_name}.json", res.history)
    print(f"{stage}@{source}: {res.history[-1]} in {res.seconds:.0f} s")
    return res

"""Shared argument handling for the stage CLIs (each stage stays a thin ``main``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import lbi  # noqa: F401 - installs the torchvision shim before anything imports timm
from lbi.params import Params, check_output_paths, load_params


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
    check_output_paths(params.paths, args.params)  # every stage writes under them
    if source and args.source not in params.data.sources:
        ap.error(
            f"--source {args.source} is not in data.sources {list(params.data.sources)} of {args.params}"
        )
    return args, params


def run(main_fn) -> None:  # type: ignore[no-untyped-def]
    """Run a stage; known errors print one clear line and exit 1 (no traceback noise)."""
    from lbi.config import ConfigError
    from lbi.data.store import StoreError
    from lbi.model.encoder import WeightFileError
    from lbi.train import CheckpointError

    known = (ConfigError, StoreError, CheckpointError, WeightFileError, FileNotFoundError,
             ConnectionError)  # fmt: skip
    try:
        main_fn()
    except known as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def out_dir(path: str | Path) -> Path:
    p = Path(path)
    p.mkdir(parents=True, exist_ok=True)
    return p


def paths(p: Params):  # type: ignore[no-untyped-def]
    """The pipeline's :class:`lbi.experiment.StagePaths` (from ``params.paths``)."""
    from lbi.experiment import StagePaths

    return StagePaths.from_params(p.paths)


def trained(stage: str, source: str, res) -> None:  # type: ignore[no-untyped-def]
    """The one line a training stage prints: its last epoch."""
    last = {k: round(v, 4) for k, v in res.history[-1].items()}
    print(f"{stage}@{source}: {last} in {res.seconds:.0f} s")

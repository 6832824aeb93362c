"""Command line shared by the sweep drivers: budget, cluster and recovery options.

Every driver is ``build(args, source) -> SweepSpec`` and ``arguments()`` (its grid axis)
over :func:`main`; the work is done by :func:`lbi.sweep.run_sweep`. Telemetry
(Ray usage stats, MLflow, DVC) is switched off by :func:`lbi.sweep.init_ray`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lbi  # noqa: F401 - torchvision shim before anything imports timm
from lbi.sweep import (
    Base,
    RunOptions,
    SearchSpec,
    SweepError,
    SweepSpec,
    format_summary,
    init_ray,
    results_frame,
    run_sweep,
    summarize,
)


def parser(description: str) -> argparse.ArgumentParser:
    """Options every sweep takes; drivers add their grid axis."""
    ap = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    ap.add_argument("--params", default="params.yaml", help="params file (paths, model, training)")
    ap.add_argument("--source", default=None, help="2D source (default: first data.train_sources)")
    ap.add_argument(
        "--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2; smoke: 0)"
    )
    ap.add_argument(
        "--smoke", action="store_true", help="tiny budget and grid: minutes on a laptop"
    )
    ap.add_argument("--stage1-epochs", type=int, default=None, help="override train_stage1.epochs")
    ap.add_argument("--stage2-epochs", type=int, default=None, help="override train_stage2.epochs")
    ap.add_argument("--max-batches", type=int, default=None, help="cap batches per epoch (0 = all)")
    ap.add_argument(
        "--out", default="data/sweeps", help="results, checkpoints, stage-1 cache, Tune state"
    )
    ap.add_argument("--cpus-per-trial", type=float, default=1.0)
    ap.add_argument(
        "--gpus-per-trial",
        type=float,
        default=None,
        help="fractions allowed (default: 1 if GPUs, else 0)",
    )
    ap.add_argument("--max-concurrent", type=int, default=0, help="0 = as many as resources allow")
    ap.add_argument("--max-failures", type=int, default=1, help="retries per failed trial")
    ap.add_argument(
        "--resume", action="store_true", help="continue the sweep's last Tune experiment"
    )
    ap.add_argument(
        "--address", default=None, help="join a Ray cluster (else RAY_ADDRESS, else local)"
    )
    ap.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray cluster")
    ap.add_argument(
        "--ray-tmp", default=None, help="Ray temp dir of a local cluster (keep it short)"
    )
    ap.add_argument("--quiet", action="store_true", help="no Tune progress table")
    return ap


def axis(
    args: argparse.Namespace, given: list[Any] | None, full: tuple[Any, ...], smoke: tuple[Any, ...]
) -> tuple[Any, ...]:
    """A grid axis: as given on the command line, else the smoke or the full one."""
    if given is not None:
        return tuple(given)
    return smoke if args.smoke else full


def seeds(args: argparse.Namespace) -> tuple[int, ...]:
    if args.seeds:
        return tuple(args.seeds)
    return (0,) if args.smoke else (0, 1, 2)


def make_base(args: argparse.Namespace) -> tuple[Base, str]:
    """Base config from ``--params`` with the budget options applied; and the 2D source."""
    import dataclasses

    from lbi.params import load_params

    p = load_params(args.params)
    base = Base.from_params(p)
    if args.smoke:
        base = base.smoke()
    for flag, section in (
        (args.stage1_epochs, "train_stage1"),
        (args.stage2_epochs, "train_stage2"),
    ):
        if flag is not None:
            base = dataclasses.replace(
                base, **{section: dataclasses.replace(getattr(base, section), epochs=flag)}
            )
    if args.stage1_epochs is not None or args.stage2_epochs is not None:
        # The lifter keeps the LBI budget (stage 1 + stage 2 epochs), as in the pipeline.
        budget = base.train_stage1.epochs + base.train_stage2.epochs
        base = dataclasses.replace(
            base, baseline_train=dataclasses.replace(base.baseline_train, epochs=budget)
        )
    if args.max_batches is not None:
        base = dataclasses.replace(
            base,
            **{
                section: dataclasses.replace(
                    getattr(base, section), max_batches_per_epoch=args.max_batches
                )
                for section in ("train_stage1", "train_stage2", "baseline_train")
            },
        )
    source = args.source or p.data.train_sources[0]
    if source not in p.data.sources:
        raise SystemExit(
            f"error: --source {source} is not in data.sources {list(p.data.sources)} of {args.params}"
        )
    return base, source


def options(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        out_dir=Path(args.out),
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        max_failures=args.max_failures,
        resume=args.resume,
        address=args.address,
        num_cpus=args.num_cpus,
        ray_tmp=args.ray_tmp,
        verbose=0 if args.quiet else 1,
    )


def main(
    args: argparse.Namespace,
    build: Callable[[argparse.Namespace, str], SweepSpec],
    search: Callable[[argparse.Namespace], SearchSpec] | None = None,
) -> Any:
    """Build the spec, run it on Ray Tune, print the summary; returns the ResultGrid."""
    import ray

    from lbi.config import ConfigError
    from lbi.data.store import StoreError

    try:
        base, source = make_base(args)
        spec = build(args, source)
    except (ConfigError, StoreError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    init_ray(options(args))
    try:
        grid = run_sweep(
            spec,
            base,
            options(args),
            search=search(args) if search else None,
            params_file=Path(args.params).resolve(),
        )
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    finally:
        ray.shutdown()
    out = Path(args.out) / spec.name
    if search is None:
        summary = summarize(spec, results_frame(grid))
        where = f"paper Table {spec.table}" if spec.table.isdigit() else "not a paper table"
        print(f"\n{spec.name} ({where}), mean ± std over seeds {list(spec.seeds)}:")
        print(format_summary(summary))
    else:
        df = results_frame(grid)
        metric = search(args).metric
        best = df.sort_values(metric) if metric in df else df
        cols = ["status", *[c for c in df.columns if c.startswith("search.")], "epochs", metric]
        print(f"\n{spec.name}: trials by {metric} (incomplete = stopped early by ASHA):")
        print(best[[c for c in cols if c in best]].head(10).to_string(index=False))
    status = results_frame(grid)["status"].value_counts().to_dict() if len(grid) else {}
    print(f"\n{len(grid)} trials {status}; per-trial rows: {out / 'results.csv'}")
    if status.get("error") or (search is None and status.get("incomplete")):
        print("some trials did not finish: rerun with --resume to continue them", file=sys.stderr)
        sys.exit(1)
    return grid

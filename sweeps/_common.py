"""Command line shared by the sweep drivers: budget, cluster, recovery, ``--check``,
``--revalidate``, ``--plan``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lbi  # noqa: F401 - pins numerics, torchvision shim, before torch
from lbi.fingerprint import repo_root
from lbi.sweep import RunOptions, SearchSpec, SweepSpec


def parser(doc: str, **axes: dict[str, Any]) -> argparse.ArgumentParser:
    """Options every sweep takes, and the driver's grid ``axes`` (``--<name>``: kwargs)."""
    fmt = argparse.ArgumentDefaultsHelpFormatter
    ap = argparse.ArgumentParser(description=doc.splitlines()[0], formatter_class=fmt)
    a = ap.add_argument
    a("--params", default="params.yaml", help="params file (paths, model, training)")
    a("--source", default=None, help="2D source (default: first data.train_sources)")
    a("--stores", default=None, help="a data variant of sweeps/stores.yaml, on stores of its own")
    a("--seeds", type=int, nargs="+", default=None, help="seeds (default 0-4; smoke: 0)")
    a("--smoke", action="store_true", help="tiny budget and grid; records say smoke")
    a("--stage1-epochs", type=int, default=None, help="override train_stage1.epochs")
    a("--stage2-epochs", type=int, default=None, help="override train_stage2.epochs")
    a("--max-batches", type=int, default=None, help="cap batches per epoch (0 = all)")
    a("--out", default="data/sweeps", help="trial folders, stage-1 cache, Tune state")
    a("--results-dir", default=str(repo_root() / "results"), help="results/<sweep>.jsonl")
    a("--check", action="store_true", help="list stale records (code/data changed); exit 1 if any")
    a("--revalidate", action="store_true", help="rerun one stale trial per mode; re-key if equal")
    a("--plan", action="store_true", help="list what would be trained (nothing runs)")
    a("--plan-out", default=None, help="with --plan: append its models to this JSON-lines file "
      "(sweeps/plan_total.py sums several sweeps' plans)")  # fmt: skip
    a("--cpus-per-trial", type=float, default=2.0, help="torch threads each (not 2: own numerics)")
    a("--gpus-per-trial", type=float, default=None, help="default: 1 if GPUs, else 0")
    a("--max-concurrent", type=int, default=0, help="0 = as many as resources allow")
    a("--max-failures", type=int, default=1, help="retries per failed trial")
    a("--resume", action="store_true", help="continue the sweep's last Tune experiment")
    a("--address", default=None, help="join a Ray cluster (else RAY_ADDRESS, else local)")
    a("--num-cpus", type=int, default=None, help="CPUs of a local Ray cluster")
    a("--ray-tmp", default=None, help="Ray temp dir of a local cluster (keep it short)")
    a("--quiet", action="store_true", help="no Tune progress table")
    a("--no-ray", action="store_true", help="trials in processes of this machine (no search)")
    a("--no-mlflow", action="store_true", help="no MLflow runs (records only)")
    a("--no-pool", action="store_true", help="rerun the cells of a seed recorded only under "
      "another CPU vendor's or thread count's numerics (default: done, as the ledger pools)")  # fmt: skip
    a("--val-every", type=int, default=RunOptions.val_every,
      help="validate every n-th epoch and the last (same weights; a search: every epoch)")  # fmt: skip
    for name, kw in axes.items():
        a(f"--{name.replace('_', '-')}", **kw)
    return ap


def axis(args: argparse.Namespace, given: Any, full: tuple, smoke: tuple) -> tuple:
    """A grid axis: as given on the command line, else the smoke or the full one."""
    return tuple(given) if given is not None else (smoke if args.smoke else full)


def seeds(args: argparse.Namespace) -> tuple[int, ...]:
    return tuple(args.seeds) if args.seeds else ((0,) if args.smoke else tuple(range(5)))


def variant_stores(args: argparse.Namespace, source: str) -> bool:
    """``--stores``: point ``args.params`` at the variant's (:mod:`lbi.sweep.stores`) and make
    its stores, or (``--plan``, ``--check``) say they are not made yet: False then."""
    from lbi.sweep.stores import STAGES, prepare, prepared, variant_params

    args.params = str(variant_params(Path(args.params), args.stores, Path(args.out)))
    if not (args.plan or args.check):
        prepare(Path(args.params), source)
    elif not prepared(Path(args.params), source):
        print(f"stores {args.stores}: not made yet ({', '.join(STAGES)} into "
              f"{Path(args.params).parent}); a run makes them first, then trains")  # fmt: skip
        return False
    return True


def main(args: argparse.Namespace, build: Callable[[argparse.Namespace, str], SweepSpec],
         search: Callable[[argparse.Namespace], SearchSpec] | None = None) -> list[Any]:  # fmt: skip
    """Build the spec; ``--check``, or run it on Ray Tune and print the summary."""
    from lbi.config import ConfigError
    from lbi.data.store import StoreError
    from lbi.params import load_params
    from lbi.record import RecordError
    from lbi.sweep import budget, check, context, init_ray, plan, revalidate, run_sweep, summary
    from lbi.sweep.stores import on_variant

    a = args
    opts = RunOptions(Path(a.out), Path(a.results_dir), a.cpus_per_trial, a.gpus_per_trial,
                      a.max_concurrent, a.max_failures, a.resume, a.address, a.num_cpus,
                      a.ray_tmp, 0 if a.quiet else 1, a.smoke, mlflow=not a.no_mlflow,
                      ray=not a.no_ray, val_every=a.val_every, pool=not a.no_pool)  # fmt: skip
    try:
        p = load_params(args.params)
        source = args.source or p.data.train_sources[0]
        if source not in p.data.sources:
            raise ValueError(f"--source {source} is not in data.sources {list(p.data.sources)}")
        default_params = Path(args.params)
        if args.stores and not variant_stores(args, source):
            return []
        spec = build(args, source)
        spec = on_variant(spec, args.stores) if args.stores else spec
        bud = budget(p, smoke=args.smoke, stage1_epochs=args.stage1_epochs,
                     stage2_epochs=args.stage2_epochs, max_batches=args.max_batches)  # fmt: skip
        ctx = context(spec, Path(args.params), opts, bud, default_params if args.stores else None)
        if args.check:
            stale, notes = check(opts.results_dir, ctx)
            print("\n".join([*notes, *stale]) or f"{opts.results_dir}: no stale records")
            sys.exit(1 if stale else 0)
        if args.plan:
            units: list[dict[str, Any]] = []
            print("\n".join(plan(spec, ctx, opts, units)))
            if args.plan_out:
                with open(args.plan_out, "a", encoding="utf-8") as fh:
                    fh.writelines(json.dumps(u, sort_keys=True) + "\n" for u in units)
            return []
        if opts.ray:
            init_ray(opts)
        try:
            if args.revalidate:
                print("\n".join(revalidate(spec, ctx, opts)))
                return []
            records = run_sweep(spec, ctx, opts, search=search(args) if search else None)
        finally:
            if opts.ray:
                import ray

                ray.shutdown()
    except (RecordError, ConfigError, StoreError, FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    where = f"paper Table {spec.table}" if spec.table.isdigit() else "not a paper table"
    print(f"\n{spec.name} ({where}), mean ± std over seeds {list(spec.seeds)}:")
    print(summary(spec, records))
    failed = [r for r in records if r.status != "finished"]
    missing = search is None and len(records) < len(spec.cells) * len(spec.seeds)
    print(f"{len(records)} records -> {Path(opts.results_dir) / (spec.name + '.jsonl')}")
    if failed or missing:
        print("some trials did not finish: rerun (--resume) to continue them", file=sys.stderr)
        sys.exit(1)
    return records

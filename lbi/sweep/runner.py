"""Driver side: skip what the records already hold, run the rest on Ray Tune, write records."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lbi import numerics
from lbi.config import to_dict
from lbi.data.store import open_store
from lbi.experiment import CROSS_VAL_SPLIT, StagePaths, fingerprints
from lbi.io import save_json, save_text
from lbi.record import RunRecord, merge_records, read_all, read_records, write_summary
from lbi.report.stats import stores_variant
from lbi.sweep.spec import RunOptions, SearchSpec, SweepSpec, resolve_params
from lbi.sweep.trial import (
    CUDA,
    STAGE1_WHAT,
    Context,
    record_file,
    run_trial,
    stage1_what,
    strip_trial_metrics,
    trial_key,
    trial_paths,
    twin_model,
    what_key,
)
from lbi.tracking.logged import tag_value

# Telemetry off everywhere (a remote cluster gets them explicitly); Tune's compact table.
QUIET_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true", "DVC_NO_ANALYTICS": "1",
             "TQDM_DISABLE": "1", "RAY_AIR_NEW_OUTPUT": "0"}  # fmt: skip


def init_ray(opts: RunOptions) -> None:
    """Join ``opts.address`` / ``RAY_ADDRESS`` (every node sees ``--out``, the stores and the
    tracking URI), else start a local cluster."""
    import ray

    env = {k: os.environ.get(k, v) for k, v in QUIET_ENV.items()}
    os.environ.update(env)  # a joined cluster's workers also start with the numerics pinned:
    env |= {k: os.environ[k] for k in (*numerics.PINNED_ENV, numerics.ENV_VAR) if k in os.environ}
    address = opts.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env={"env_vars": env})
    else:
        ray.init(num_cpus=opts.num_cpus or os.cpu_count(), include_dashboard=False,
                 _temp_dir=opts.ray_tmp, configure_logging=False)  # fmt: skip


def _trainable(config: dict[str, Any], ctx: Context, spec: SweepSpec) -> None:
    from ray import tune

    job = config["job"]
    run_trial(ctx, spec.cell(job["cell"]), job["seed"], config.get("search"), report=tune.report)


def _mlflow_parent(spec: SweepSpec, ctx: Context) -> Context:
    """The sweep invocation's parent MLflow run (experiment ``lbi-sweep-<name>``)."""
    from mlflow.tracking import MlflowClient

    from lbi.tracking import git_commit, setup_mlflow, tracking_uri

    uri = tracking_uri()
    exp_id = setup_mlflow(f"lbi-sweep-{spec.name}", uri)  # driver first: SQLite races
    tags = {"lbi.sweep": spec.name, "lbi.smoke": tag_value(ctx.smoke), "mlflow.runName": spec.name,
            "lbi.source_2d": spec.source, "lbi.git_commit": git_commit()}  # fmt: skip
    run = MlflowClient(uri).create_run(exp_id, tags=tags)
    return dataclasses.replace(ctx, tracking_uri=uri, experiment_id=exp_id,
                               parent_run_id=run.info.run_id)  # fmt: skip


def gpu_share(opts: RunOptions) -> float:
    """GPUs per trial: ``--gpus-per-trial``, else 1 where this machine has a GPU (a joined
    cluster's GPUs need the option); trials with a share train on it (numerics ``cuda``)."""
    import torch

    return opts.gpus_per_trial if opts.gpus_per_trial is not None else float(torch.cuda.is_available())  # fmt: skip


def context(spec: SweepSpec, params_file: Path, opts: RunOptions, budget: dict[str, Any],
            twin_params: Path | None = None) -> Context:  # fmt: skip
    """What every trial shares; each cell is resolved here (a typo fails now, not in trial 17).
    ``twin_params``: on a store variant, the default params, whose trials' models a trial
    on the same training inputs evaluates instead of training (:mod:`lbi.sweep.twin`)."""
    from lbi.params import load_params

    p = load_params(params_file)
    threads = max(1, round(opts.cpus_per_trial))  # a trial's torch threads: its CPUs
    described = CUDA if gpu_share(opts) > 0 else numerics.describe(threads)
    ctx = Context(spec.name, spec.table, spec.source, to_dict(p),
                  StagePaths.from_params(p.paths).absolute(), Path(opts.out_dir).resolve(),
                  budget, opts.smoke, described, val_every=opts.val_every)  # fmt: skip
    for c in spec.cells:
        ctx.params(c, spec.seeds[0])
    if twin_params is not None:
        ctx = dataclasses.replace(ctx, twin=context(spec, twin_params, opts, budget))
    return ctx


def pairing_groups(spec: SweepSpec) -> list[tuple[str, ...]]:
    """The sweep's cells in the groups :func:`recorded` takes a seed of whole: each set of
    cells the claims ledger pairs with one another (:data:`lbi.report.ledger.CLAIMS` of this
    sweep, joined through a shared cell), and the cells no claim names as one more group
    (other tables may pair them by seed: a seed-spread treatment with its default)."""
    from lbi.report.ledger import CLAIMS

    names = [c.name for c in spec.cells]
    group = {n: {n} for n in names}
    edges = [(c.a.cell, c.b.cell) for c in CLAIMS if c.a.sweep == c.b.sweep == spec.name]
    for a, b in ((a, b) for a, b in edges if a in group and b in group):
        if group[a] is not group[b]:
            joined = group[a] | group[b]
            group |= {n: joined for n in joined}
    claimed = {n for a, b in edges for n in (a, b)}
    rest = tuple(n for n in names if n not in claimed)
    out = list(dict.fromkeys(tuple(n for n in names if n in group[m]) for m in names if m in claimed))  # fmt: skip
    return out + ([rest] if rest else [])


def recorded(spec: SweepSpec, ctx: Context, opts: RunOptions,
             done: dict[str, RunRecord]) -> dict[tuple[str, int], RunRecord]:  # fmt: skip
    """The finished records (of ``done``, by key) of the sweep's (cell name, seed) trials:
    under this sweep's numerics; and, with ``opts.pool`` and pinned CPU numerics here, per
    seed and :func:`pairing_groups` group, a group none of whose cells has one here but
    every one has one under one other pinned CPU numerics (another vendor or thread count:
    the same training rounded in another order; the claims ledger pools seeds across them,
    each seed once, pairing within one numerics, so a group's seed is taken whole or not at
    all; a cell no claim pairs never makes the claimed cells of its seed train again)."""
    pool = opts.pool and numerics.threads_of(ctx.numerics) is not None
    others = sorted({d.numerics for d in done.values() if numerics.threads_of(d.numerics) is not None} - {ctx.numerics}) if pool else []  # fmt: skip
    cells, groups = {c.name: c for c in spec.cells}, pairing_groups(spec)
    out: dict[tuple[str, int], RunRecord] = {}
    for s, group in ((s, g) for s in spec.seeds for g in groups):
        here = {(n, s): done.get(trial_key(ctx, cells[n], s)) for n in group}
        out |= {k: r for k, r in here.items() if r is not None}
        for num in others if not any(here.values()) else ():
            at = dataclasses.replace(ctx, numerics=num)
            got = {(n, s): done.get(trial_key(at, cells[n], s)) for n in group}
            if all(got.values()):
                out |= {k: r for k, r in got.items() if r is not None}
                break
    return out


def run_sweep(spec: SweepSpec, ctx: Context, opts: RunOptions, *,
              search: SearchSpec | None = None) -> list[RunRecord]:  # fmt: skip
    """Run the (cell, seed) trials without a finished record in ``<results_dir>/*.jsonl``
    (:func:`recorded`: here, or a seed's paired cells whole under another CPU numerics), or
    ``search``, on Ray Tune (after :func:`init_ray`), or without Ray (``opts.ray`` False:
    :mod:`lbi.sweep.local`, no search); merge new and reused records into
    ``<results_dir>/<sweep>.jsonl``; return them."""
    done = {r.key: r for r in read_all(opts.results_dir) if r.status == "finished"}
    jobs, reused = [], []
    # a search on the wild val split: fail here, not in Tune (the store is read only for it)
    if search is not None and search.metric.startswith("val_cross") and CROSS_VAL_SPLIT not in (st := open_store(ctx.paths.store_cross)).splits:  # fmt: skip
        raise ValueError(f"{st.root}: no '{CROSS_VAL_SPLIT}' split for --metric {search.metric}: set mpi3dhp.val_sequences, rerun `dvc repro preprocess`")  # fmt: skip
    if search is None:
        have = recorded(spec, ctx, opts, done)
        for c in spec.cells:
            for s in spec.seeds:
                r = have.get((c.name, s))
                if r is None:
                    jobs.append({"cell": c.name, "seed": s})
                else:  # the same model: placed in this sweep's table
                    reused.append(dataclasses.replace(
                        r, sweep=spec.name, table=c.table or spec.table, row=c.row or c.name,
                        column=c.column, cell=c.name, smoke=ctx.smoke))  # fmt: skip
    other = sum(r.numerics != ctx.numerics for r in reused)
    at = f"; {other} under other CPU numerics, pooled" if other else ""
    print(f"sweep {spec.name}: {len(reused)} trials have records (skipped{at}), {len(jobs)} to run")
    if search is not None:  # ASHA stops trials on each epoch's validation
        ctx = dataclasses.replace(ctx, val_every=1)
    new: list[RunRecord] = []
    if jobs or search is not None:
        if opts.mlflow:
            ctx = _mlflow_parent(spec, ctx)
        if opts.ray:
            new = _tune(spec, ctx, opts, jobs, search)
        elif search is not None:
            raise ValueError("a search needs Ray Tune (Optuna, ASHA): drop --no-ray")
        else:
            from lbi.sweep.local import run_local

            new = run_local(spec, ctx, opts, jobs, gpu_share(opts))
    records = reused + new
    if records:
        merge_records(Path(opts.results_dir) / f"{spec.name}.jsonl", records)
        write_summary(opts.results_dir)
    return records


def plan(spec: SweepSpec, ctx: Context, opts: RunOptions,
         units: list[dict[str, Any]] | None = None) -> list[str]:  # fmt: skip
    """What :func:`run_sweep` would train, training nothing: a line per (cell, seed) without a
    finished record, then totals. A stage 1 is trained once per key: cached (a finished model
    under ``<out>/stage1_cache``) or shared with an earlier trial of this sweep. A phase a
    killed run left part-trained (its ``last.pt``) counts only the epochs it has left.
    ``units``: gets a dict per phase to train (model ``unit``: its stage-1 or trial key;
    ``phase``, ``epochs`` left, ``numerics``) for :func:`plan_total` across sweeps."""
    have = recorded(spec, ctx, opts, {r.key: r for r in read_all(opts.results_dir) if r.status == "finished"})  # fmt: skip
    out, seen, n, epochs = [], set(), Counter(), Counter()
    for c, s in ((c, s) for c in spec.cells for s in spec.seeds):
        key = trial_key(ctx, c, s)
        if (r := have.get((c.name, s))) is not None:
            n["has a record" if r.key == key else "has a record at other CPU numerics"] += 1
            continue
        if twin_model(ctx, c, s) is not None:
            n["to run"], n["twin's model"] = n["to run"] + 1, n["twin's model"] + 1
            out.append(f"  {c.name} seed {s}: evaluates the default stores' model (same training inputs)")  # fmt: skip
            continue
        p, _ = ctx.params(c, s)
        e1, e2 = p.train_stage1.epochs, p.train_stage2.epochs
        paths = trial_paths(ctx, p, c.mode, key)
        phases = {"lifter": [("lifter", "lifter", p.lifter.train.epochs)]}.get(c.mode, [("end-to-end", c.mode, e1 + e2)])  # fmt: skip
        if paths.stage1 is not None:  # trains stage 1: once per stage-1 key
            cached = paths.model("stage1", ctx.source).exists()
            phases = [("stage 1 cached", "", 0) if cached else ("stage 1 shared", "", 0) if paths.stage1 in seen else ("stage 1", "stage1", e1)]  # fmt: skip
            phases += [("stage 2", "stage2", e2)] if c.mode == "progressive" else []
            seen.add(paths.stage1)
        n["to run"] += 1
        parts = []
        for label, name, e in phases:
            left = max(0, e - _epochs_done(paths.ckpt(name, ctx.source))) if e else 0
            n[label], epochs[label] = n[label] + 1, epochs[label] + left
            if left and units is not None:
                unit = paths.stage1.name if name == "stage1" and paths.stage1 else key
                units.append({"sweep": spec.name, "unit": unit, "phase": label, "epochs": left,
                              "numerics": ctx.numerics})  # fmt: skip
            parts.append(label if not e else f"{label} ({e} epochs)" if left == e else f"{label} ({left} of {e} epochs left)")  # fmt: skip
        out.append(f"  {c.name} seed {s}: " + ", ".join(parts))
    trained = ", ".join(f"{m} x{k} ({epochs[m]} epochs)" for m, k in n.items() if epochs[m])
    reused = ", ".join(f"{m} x{n[m]}" for m in ("has a record", "has a record at other CPU numerics", "twin's model", "stage 1 cached", "stage 1 shared") if n[m])  # fmt: skip
    head = f"sweep {spec.name}: {n['to run']} trials to run; trains {trained or 'nothing'}; reuses {reused or 'nothing'}"  # fmt: skip
    return [head, *out]


def plan_total(units: Sequence[dict[str, Any]]) -> list[str]:
    """The plans of several sweeps (:func:`plan`'s ``units``) as one: a model two sweeps
    share (one stage-1 or trial key) counted once; epochs by phase and numerics."""
    first: dict[str, dict[str, Any]] = {}
    for u in units:
        first.setdefault(u["unit"], u)
    epochs: Counter[tuple[str, str]] = Counter()
    for u in first.values():
        epochs[u["phase"], u["numerics"]] += u["epochs"]
    head = (f"all sweeps: {len(first)} models to train ({len(units)} listed by their sweeps; a "
            "model several sweeps share counted once)")  # fmt: skip
    return [head, *(f"  {ph} at {num}: {e} epochs" for (ph, num), e in sorted(epochs.items()))]


def _epochs_done(ckpt_dir: Path) -> int:
    """Epochs a killed training of this checkpoint folder finished (its ``last.pt``; 0: none,
    or unreadable, which the training then moves aside and starts afresh)."""
    from lbi.train import CheckpointError, load_checkpoint

    last = ckpt_dir / "last.pt"
    if not last.exists():
        return 0
    try:
        return int(load_checkpoint(last).get("epoch", 0))
    except CheckpointError:
        return 0


def revalidate(spec: SweepSpec, ctx: Context, opts: RunOptions) -> list[str]:
    """Re-key records only a code change made stale, once a rerun shows their numbers did not
    move: per mode, the stale (cell, seed) with the lowest seed is retrained under today's
    code in a fresh folder (no cached stage 1 or checkpoint; the modes' reruns of one seed
    in one sweep run, so they train side by side); if its key and every metric but
    its wall time equal the stale record's, re-keyed, the mode's stale records get today's
    code fingerprint and key, else they stay stale (the rerun's record is kept either way)."""
    import tempfile

    from lbi.experiment import record_key
    from lbi.record import write_records

    path, out, stale = Path(opts.results_dir) / f"{spec.name}.jsonl", [], {}
    for r in [r for r in read_records(path) if any(c.name == r.cell for c in spec.cells)]:
        p, code, data = _today(ctx, r)
        if r.status == "finished" and code != r.code_fingerprint and data == r.data_fingerprint:
            key = record_key(p, r.mode, r.source_2d, code, data, r.numerics)
            stale.setdefault(r.mode, []).append((r, dataclasses.replace(r, key=key, code_fingerprint=code)))  # fmt: skip
    ctx.out.mkdir(parents=True, exist_ok=True)
    probes = {mode: min(pairs, key=lambda rf: (rf[0].seed, rf[0].cell)) for mode, pairs in stale.items()}  # fmt: skip
    reruns: list[RunRecord] = []
    for seed in sorted({old.seed for old, _ in probes.values()}):  # one run per seed: in parallel
        names = dict.fromkeys(old.cell for old, _ in probes.values() if old.seed == seed)
        with tempfile.TemporaryDirectory(dir=ctx.out, prefix="revalidate-") as tmp:
            one = dataclasses.replace(spec, cells=tuple(spec.cell(n) for n in names), seeds=(seed,))
            reruns += run_sweep(one, dataclasses.replace(ctx, out=Path(tmp)), opts)
    for mode, pairs in sorted(stale.items()):
        old, fresh = probes[mode]
        new = [n for n in reruns if (n.cell, n.seed) == (old.cell, old.seed)]
        ok = [(n.key, strip_trial_metrics(n.metrics)) for n in new] == [(fresh.key, strip_trial_metrics(old.metrics))]  # fmt: skip
        if ok:  # the rerun's own record stays; the other stale ones take today's key
            gone = {r.key for r, _ in pairs}
            kept = [r for r in read_records(path) if r.key not in gone]
            write_records(path, kept + [f for _, f in pairs if f.key != fresh.key])
            for r, f in pairs:  # and their trial folders (models, record.json) go with it
                _rekey_folder(ctx, r, f)
            if mode in ("stage1", "progressive"):  # and the stage-1 caches its cells share
                out.append(f"{mode}: {_rekey_stage1_caches(spec, ctx)} stage-1 caches re-keyed")
        verdict = "equal" if ok else "differs" if new else "did not finish (interrupted or failed)"
        out.append(f"{mode}: {old.cell} seed {old.seed} rerun {verdict}: "
                   f"{len(pairs) if ok else 0} of {len(pairs)} stale records re-keyed")  # fmt: skip
    write_summary(opts.results_dir)
    return out or [f"{path}: no records stale by code alone"]


def _rekey_folder(ctx: Context, old: RunRecord, new: RunRecord) -> None:
    """Move ``<out>/trials/<old key>`` to ``<new key>`` (its ``record.json``: ``new``), so the
    trained model stays where the record's key says (:func:`~lbi.sweep.trial.twin_model`)."""
    src, dst = ctx.out / "trials" / old.key, ctx.out / "trials" / new.key
    if src.is_dir() and not dst.exists():
        src.rename(dst)
        save_text(dst / "record.json", new.to_json() + "\n")


def _rekey_stage1_caches(spec: SweepSpec, ctx: Context) -> int:
    """Rename each stage-1 cache of ``spec``'s cells and seeds whose :data:`STAGE1_WHAT`
    differs from today's only in its code fingerprint to today's key (after a rerun showed
    the code change leaves the numbers alone); return how many."""
    root = ctx.out / "stage1_cache"
    found = {}
    for f in sorted(root.glob(f"*/{STAGE1_WHAT}")):
        found[_sans_code(json.loads(f.read_text(encoding="utf-8")))] = f.parent
    n = 0
    for c, s in ((c, s) for c in spec.cells for s in spec.seeds if c.mode in ("stage1", "progressive")):  # fmt: skip
        p, _ = ctx.params(c, s)
        what = stage1_what(p, ctx.source, ctx.paths, ctx.numerics)
        old, new = found.get(_sans_code(what)), root / what_key(what)
        if old is not None and old != new and not new.exists():
            old.rename(new)
            save_json(new / STAGE1_WHAT, what)
            n += 1
    return n


def _sans_code(what: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in what.items() if k != "code"}, sort_keys=True)


def _today(ctx: Context, r: RunRecord) -> tuple[Any, str, str]:
    """``r``'s params over today's ``params.yaml`` key by key (a key added since the record
    takes today's value; a rerun shows whether it matters); today's fingerprints."""

    def over(today: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
        return today | {k: over(today[k], v) if isinstance(v, dict) and isinstance(today.get(k), dict) else v for k, v in rec.items()}  # fmt: skip

    p = resolve_params(over(ctx.base, r.params), {}, r.seed)
    return (p, *fingerprints(p, r.mode, r.source_2d, ctx.paths))


def _tune(spec: SweepSpec, ctx: Context, opts: RunOptions, jobs: list[dict[str, Any]],
          search: SearchSpec | None) -> list[RunRecord]:  # fmt: skip
    import ray
    from ray import tune

    gpus, have = gpu_share(opts), ray.cluster_resources().get("GPU", 0)
    if gpus > have:  # Tune would wait forever for a GPU the cluster lacks
        raise ValueError(f"--gpus-per-trial {gpus:g}: the Ray cluster has {have:g} GPUs; use 0")
    trainable = tune.with_resources(tune.with_parameters(_trainable, ctx=ctx, spec=spec),
                                    {"cpu": opts.cpus_per_trial, "gpu": gpus})  # fmt: skip
    names = {"trial_name_creator": lambda t: "{cell}_s{seed}".format(**t.config["job"]),
             "trial_dirname_creator": lambda t: f"trial_{t.trial_id}"}  # fmt: skip
    if search is None:
        space: dict[str, Any] = {"job": tune.grid_search(jobs)}
        tcfg = tune.TuneConfig(max_concurrent_trials=opts.max_concurrent or None, **names)
    else:
        from ray.tune.schedulers import ASHAScheduler
        from ray.tune.search import ConcurrencyLimiter
        from ray.tune.search.optuna import OptunaSearch

        cell = spec.cells[0]
        p, _ = ctx.params(cell, spec.seeds[0])
        epochs = p.train_stage1.epochs + (p.train_stage2.epochs if cell.mode != "stage1" else 0)
        space = {"job": {"cell": cell.name, "seed": spec.seeds[0]}, "search": dict(search.space)}
        searcher: Any = OptunaSearch(seed=search.seed)
        if opts.max_concurrent:
            searcher = ConcurrencyLimiter(searcher, max_concurrent=opts.max_concurrent)
        asha = ASHAScheduler(time_attr="epoch", max_t=epochs + 1, grace_period=min(
            search.grace_period, epochs), reduction_factor=search.reduction_factor)  # fmt: skip
        tcfg = tune.TuneConfig(metric=search.metric, mode="min", search_alg=searcher,
                               scheduler=asha, num_samples=search.num_samples, **names)  # fmt: skip
    reporter = tune.CLIReporter(metric_columns={"epoch": "epoch", "val_cross_mpjpe_mm": "wild val MPJPE"},
                                parameter_columns={"job/cell": "cell", "job/seed": "seed"},
                                max_report_frequency=30)  # fmt: skip
    exp_dir = ctx.out / "ray" / spec.name

    class MergeRecord(tune.Callback):  # a finished trial's record reaches results/ at once
        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            if (f := _record_file(ctx, spec, trial.config or {})).exists():
                merge_records(Path(opts.results_dir) / f"{spec.name}.jsonl", read_records(f))
                write_summary(opts.results_dir)

    rcfg = tune.RunConfig(name=spec.name, storage_path=str(ctx.out / "ray"), verbose=opts.verbose,
                          failure_config=tune.FailureConfig(max_failures=opts.max_failures),
                          progress_reporter=reporter, callbacks=[MergeRecord()])  # fmt: skip
    if opts.resume and tune.Tuner.can_restore(str(exp_dir)):
        print(f"sweep {spec.name}: resuming {exp_dir}")
        tuner = tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_errored=True)
    else:  # Tune state only (trials and records stay), and only a folder Tune made
        if exp_dir.is_dir() and any(exp_dir.iterdir()) and not tune.Tuner.can_restore(str(exp_dir)):
            raise ValueError(f"{exp_dir}: not a Ray Tune experiment folder; pick another --out")
        shutil.rmtree(exp_dir, ignore_errors=True)
        tuner = tune.Tuner(trainable, param_space=space, tune_config=tcfg, run_config=rcfg)
    done = [res for res in tuner.fit() if "job" in (res.config or {})]  # stopped: never started
    files = [_record_file(ctx, spec, res.config) for res in done]
    return [r for f in files if f.exists() for r in read_records(f)]  # finished or failed


def _record_file(ctx: Context, spec: SweepSpec, config: dict[str, Any]) -> Path:
    job = config["job"]
    return record_file(ctx, spec.cell(job["cell"]), int(job["seed"]), config.get("search"))


def summary(spec: SweepSpec, records: list[RunRecord]) -> str:
    """Per cell: mean ± std over seeds of ``spec.show`` (finished records)."""

    from lbi.report.stats import stat

    def cell(name: str) -> str:
        rs = [r for r in records if r.cell == name and r.status == "finished"]
        txt = [f"{m} {stat(rs, m).text()}" for m in spec.show if stat(rs, m).n]
        return f"  {name:<24} n={len(rs)}  " + "; ".join(txt)

    return "\n".join(cell(c.name) for c in spec.cells)


def check(results_dir: Path, ctx: Context) -> tuple[list[str], list[str]]:
    """Records stale for the current code or data (``file: key (cell, seed): why``) and notes
    (data not checkable here); a malformed line raises ``RecordError`` naming file:line.
    Data is checked against ``ctx``'s stores: a record of another store variant (its table's
    ``@<variant>``, :func:`lbi.sweep.stores.on_variant`) gets a note, not a verdict."""
    from lbi.report.inputs import today_code

    stale, notes, here = [], [], stores_variant(ctx.table)
    for f in sorted(Path(results_dir).glob("*.jsonl")):
        for r in read_records(f):
            code, data = today_code(r.mode), r.data_fingerprint
            if (theirs := stores_variant(r.table)) != here:
                how = f"--stores {theirs}" if theirs else "without --stores"
                notes.append(f"{f}: {r.key}: data not checked (stores "
                             f"{theirs or 'default'}, not these: --check {how})")  # fmt: skip
            else:
                try:
                    data = _today(ctx, r)[2]
                except (FileNotFoundError, ValueError) as e:
                    notes.append(f"{f}: {r.key}: data not checked ({e})")
            why = [f"{k} {a} != {b}" for k, a, b in (("code", r.code_fingerprint, code),
                                                     ("data", r.data_fingerprint, data)) if a != b]  # fmt: skip
            if why:
                stale.append(f"{f}: {r.key} ({r.cell}, seed {r.seed}): stale: {'; '.join(why)}")
    return stale, notes

"""Read the report's inputs: the pipeline's per-source outputs and the sweeps' runs.

Pipeline (one trained model per 2D source; files written by ``pipeline/evaluate.py``,
``pipeline/train_*.py``, ``pipeline/prune.py``):

- ``${paths.metrics}/<source>.json``: flat metrics (``test_refined_p1_mm``, ...);
- ``${paths.eval}/<source>/tables.json``: per-action Protocol 1/2, dataset, ``synthetic``,
  the 2D source's ``source_method``, ``retention``, ``test_n``, ``cross_n``;
- ``${paths.eval}/<source>/examples.npz``: crops, 2D poses, attention, kept tokens;
- ``${paths.plots}/<source>/{stage1,stage2,baseline}.json``: per-epoch curves;
- ``${paths.prune}/<source>/afsm.json``: AFSM statistics;
- the MLflow run of stage ``evaluate@<source>`` (experiment ``lbi-pipeline``) whose logged
  metrics equal the metrics file, named in the provenance when found.

Sweeps. **Source of truth: MLflow** -- finished runs of every experiment whose name starts
with ``lbi-sweep-`` in the tracking store of :func:`lbi.tracking.tracking_uri`. A table
that has no MLflow run falls back to ``<sweeps_dir>/<sweep>/results.csv`` (one row per
trial). The contract (tags on MLflow runs, columns in the CSV):

- ``lbi.table``: the paper table the run belongs to (``"7"``, ``"table7"``, ``"Table 7"``
  all read as ``"7"``; anything else, e.g. ``"hparams"``, is kept lower-cased). Without
  it the sweep name decides (:data:`SWEEP_TABLES`: ``lbi-sweep-retention`` -> 7, ...).
- ``lbi.row``: the row's setting as free text (``"0.3"``, ``"tl,pgtl,tl"``, ``"after"``,
  ``"hrnet_w32"``, ``"progressive"``); matched to the paper's rows by the rules in
  :mod:`lbi.report.ablations`.
- ``lbi.column``: where the cell sits (free text, e.g. Table 7's ``"0.3"``); the values
  ``coarse`` / ``refined`` / ``baseline`` also pick which model's metrics fill the row.
- ``lbi.cell`` (optional): the sweep's cell name (``"r=0.3"``, ``"hrnet_w32"``).
- ``lbi.seed``, ``lbi.source_2d``, ``lbi.synthetic``, ``lbi.dataset``, ``lbi.git_commit``.
- metrics: the pipeline's flat keys (``test_refined_p1_mm``, ``cross_coarse_mpjpe_mm``, ...).

A trial run twice counts once, the latest: the same (sweep, table, row, column, cell,
source, seed), so a rerun after a code or data change replaces the old run; search
trials (table ``search``) once per ``lbi.trial_key`` tag (CSV: ``trial_id``).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

CURVES = ("stage1", "stage2", "baseline")
SWEEP_PREFIX = "lbi-sweep-"
PIPELINE_EXPERIMENT = "lbi-pipeline"
# Sweep name (experiment suffix or CSV folder) -> paper table, when a run has no table tag.
SWEEP_TABLES: dict[str, str] = {
    "straightforward": "1",
    "progressive": "4",
    "pgtl": "5",
    "layers": "6",
    "retention": "7",
    "pretraining": "9",
    "backbone": "10",
    "normalization": "11",
}
MODEL_COLUMNS = ("coarse", "refined", "baseline")
# Tables whose runs at another epoch budget are another setting, kept beside the old ones:
# compare_lifter's (Table 3 over seeds), which pairs LBI with the lifter of the same budget.
# Elsewhere a rerun at another budget replaces the old run, like a rerun on new code.
BUDGET_KEYED_TABLES = ("lifter",)
PAPER_LR = (0.001, 0.9, 4.0)  # Adam lr, x decay every n epochs: the paper's schedule


def decay_text(decay: float, every: float) -> str:
    """``"x0.8 every epoch"`` / ``"x0.9 every 4 epochs"``."""
    return f"x{decay:g} " + ("every epoch" if every == 1 else f"every {every:g} epochs")


def lr_text(lr: float, decay: float, every: float) -> str:
    """``"lr 0.001 x0.8 every epoch"``: a step schedule in words."""
    return f"lr {lr:g} {decay_text(decay, every)}"


@dataclass(frozen=True)
class SourceResult:
    """The pipeline's outputs for one 2D source (``gt``/``cpn``/``sh``); absent files -> None."""

    source: str
    metrics: Mapping[str, float]
    metrics_path: Path | None
    tables: Mapping[str, Any] | None
    tables_path: Path | None
    examples_path: Path | None
    curves: Mapping[str, list[dict[str, float]]]
    curve_paths: Mapping[str, Path]
    afsm: Mapping[str, Any] | None
    run_id: str | None = None  # the evaluate stage's MLflow run that logged these metrics

    @property
    def dataset(self) -> str | None:
        return None if self.tables is None else self.tables.get("dataset")

    @property
    def synthetic(self) -> bool | None:
        if self.tables is None or self.tables.get("synthetic") is None:
            return None
        return bool(self.tables["synthetic"])

    @property
    def finetunes_stage1(self) -> bool:
        """Its stage 2 trained stage 1 on (checkpoint phase ``e2e_both``, recorded by the
        evaluate stage) instead of freezing it as the paper does."""
        return self.tables is not None and self.tables.get("stage2_phase") == "e2e_both"

    @property
    def source_method(self) -> str | None:
        return None if self.tables is None else self.tables.get("source_method")

    @property
    def files(self) -> list[Path]:
        """The input files this source's numbers come from."""
        return [p for p in (self.metrics_path, self.tables_path) if p is not None]


@dataclass(frozen=True)
class RunRecord:
    """One trained model's flat metrics with its table/row tags (a sweep trial or the pipeline)."""

    run_id: str  # MLflow run id, "<csv path>#<line>", or "pipeline:<source>"
    origin: str  # "mlflow" | "csv" | "pipeline"
    table: str
    row: str
    metrics: Mapping[str, float]
    column: str | None = None  # the raw lbi.column tag
    cell: str | None = None
    seed: int | None = None
    source_2d: str | None = None
    synthetic: bool | None = None
    dataset: str | None = None
    git_commit: str | None = None
    sweep: str = ""
    start_time: float = 0.0
    params: Mapping[str, str] = field(default_factory=dict)
    trial_key: str | None = None  # identity of a sweep trial (config hash) when tagged
    # Stage 2 trained stage 1 on (train_stage2.finetune_stage1); the paper freezes it.
    finetune_stage1: bool = False

    @property
    def model(self) -> str | None:
        """``coarse``/``refined``/``baseline`` when the column tag names one, else None."""
        c = (self.column or "").strip().lower()
        return c if c in MODEL_COLUMNS else None

    def _epochs(self) -> tuple[str | None, tuple[int, ...]]:
        """``(mode, epochs per phase)`` from the logged params; ``()`` when unlogged."""
        p, mode = self.params, self.params.get("mode")
        s1, s2, tl = (_int(p.get(k)) for k in
                      ("train_stage1.epochs", "train_stage2.epochs", "train.epochs"))  # fmt: skip
        if mode == "lifter" and tl:
            return mode, (tl,)
        if mode == "stage1" and s1:
            return mode, (s1,)
        if mode == "progressive" and s1 and s2:
            return mode, (s1, s2)
        if mode in ("e2e_fine", "e2e_both") and s1 and s2:
            return mode, (s1 + s2,)  # one phase for the progressive budget
        total = _int(p.get("epochs"))  # a CSV row: the total its trial ran
        return mode, ((total,) if mode and total else ())

    def schedule(self) -> str:
        """The phases whose learning-rate schedule is not the paper's (Adam 1e-3, x0.9 every
        4 epochs), from the logged params, e.g. ``"stage 2: lr 0.001 x0.8 every epoch"``;
        ``""`` when all are the paper's or unlogged."""
        mode = self.params.get("mode")
        phases = {"lifter": (("train", ""),), "stage1": (("train_stage1", "stage 1"),),
                  "progressive": (("train_stage1", "stage 1"), ("train_stage2", "stage 2")),
                  "e2e_fine": (("train_stage1", ""),), "e2e_both": (("train_stage1", ""),)}  # fmt: skip
        parts = []
        for section, name in phases.get(str(mode), ()):
            lr, decay, every = (_float(self.params.get(f"{section}.{k}"))
                                for k in ("lr", "lr_decay", "lr_decay_every"))  # fmt: skip
            if lr is None or decay is None or every is None or (lr, decay, every) == PAPER_LR:
                continue
            parts.append(f"{name + ': ' if name else ''}{lr_text(lr, decay, every)}")
        return "; ".join(parts)

    def _epochs_text(self) -> tuple[str, str] | None:
        """``("20 + 15", schedule)``; None if unlogged."""
        _, e = self._epochs()
        return (" + ".join(map(str, e)), self.schedule()) if e else None

    @property
    def epochs(self) -> str | None:
        """Epochs per phase as ``"20 + 15"`` (progressive) or ``"35"``, and the schedule when
        it is not the paper's (``"20 + 15 (stage 2: lr 0.001 x0.8 every epoch)"``); None if
        unlogged. Runs that differ here are different settings in the seeds tables."""
        if (t := self._epochs_text()) is None:
            return None
        return t[0] + (f" ({t[1]})" if t[1] else "")

    @property
    def epochs_words(self) -> str | None:
        """:attr:`epochs` for running text: ``"20 + 15 epochs; stage 2: lr 0.001 x0.8 every
        epoch"``; None if unlogged."""
        if (t := self._epochs_text()) is None:
            return None
        return f"{t[0]} epochs" + (f"; {t[1]}" if t[1] else "")

    @property
    def epochs_total(self) -> int | None:
        """All epochs trained (the budget a lifter is matched to); None if unlogged."""
        _, e = self._epochs()
        return sum(e) if e else None

    @property
    def budget(self) -> str | None:
        """The training budget in words, e.g. ``"stage 1 20 + stage 2 15"``, ``"end to end
        35"``, ``"lifter 35"``, ``"... (capped at 4 batches/epoch)"``; None if unlogged.

        MLflow runs log per-stage epochs (``train_stage1.epochs``, ``train_stage2.epochs``,
        the lifter's ``train.epochs``); CSV rows their total (``epochs``)."""
        mode, e = self._epochs()
        if not e:
            return None
        if len(e) == 2:  # progressive: per stage
            text = f"stage 1 {e[0]} + stage 2 {e[1]}"
        else:
            what = {"stage1": "stage 1", "e2e_fine": "end to end", "e2e_both": "end to end"}
            text = f"{what.get(str(mode), mode)} {e[0]}"
        caps = [_int(self.params.get(f"{k}.max_batches_per_epoch"))
                for k in ("train_stage1", "train_stage2", "train")]  # fmt: skip
        cap = max((c for c in caps if c), default=0)
        sched = self.schedule()
        notes = ([f"capped at {cap} batches/epoch"] if cap else []) + ([sched] if sched else [])
        return f"{text} ({'; '.join(notes)})" if notes else text


@dataclass(frozen=True)
class Inputs:
    """Everything the report reads."""

    sources: Mapping[str, SourceResult]
    runs: tuple[RunRecord, ...]
    runs_origin: tuple[str, ...] = ()  # where the sweep runs were read from (for provenance)
    store_meta: Mapping[str, Any] | None = None
    missing: tuple[str, ...] = field(default_factory=tuple)  # expected inputs not found


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); rerun the stage that writes it") from e


def load_source(
    source: str, metrics_dir: Path, eval_dir: Path, plots_dir: Path, prune_dir: Path
) -> SourceResult:
    """Read the pipeline's outputs of one source; files that do not exist are left out."""
    mp = metrics_dir / f"{source}.json"
    tp = eval_dir / source / "tables.json"
    ep = eval_dir / source / "examples.npz"
    ap = prune_dir / source / "afsm.json"
    curves, curve_paths = {}, {}
    for name in CURVES:
        cp = plots_dir / source / f"{name}.json"
        if cp.exists():
            hist = _read_json(cp)
            if not isinstance(hist, list):
                raise ValueError(
                    f"{cp}: expected a list of per-epoch dicts, got {type(hist).__name__}"
                )
            curves[name], curve_paths[name] = hist, cp
    metrics = _read_json(mp) if mp.exists() else {}
    return SourceResult(
        source=source,
        metrics={k: float(v) for k, v in metrics.items() if isinstance(v, int | float)},
        metrics_path=mp if mp.exists() else None,
        tables=_read_json(tp) if tp.exists() else None,
        tables_path=tp if tp.exists() else None,
        examples_path=ep if ep.exists() else None,
        curves=curves,
        curve_paths=curve_paths,
        afsm=_read_json(ap) if ap.exists() else None,
    )


def norm_table(value: Any) -> str:
    """``"Table 7"`` / ``"table7"`` / ``7`` -> ``"7"``; other labels lower-cased."""
    s = str(value).strip().lower()
    m = re.fullmatch(r"(?:tab(?:le)?[\s_\-]*)?(\d+)", s)
    return m.group(1) if m else s


def _bool(v: Any) -> bool | None:
    if v is None or v == "":
        return None
    if isinstance(v, bool):
        return v
    return str(v).strip().lower() in ("true", "1", "yes")


def _int(v: Any) -> int | None:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def _float(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _metrics(d: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in d.items():
        if not (k.startswith(("test_", "cross_"))):
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[k] = f
    return out


def _record(
    run_id: str,
    origin: str,
    sweep: str,
    tags: Mapping[str, Any],
    metrics: Mapping[str, Any],
    start_time: float = 0.0,
    params: Mapping[str, Any] | None = None,
) -> RunRecord | None:
    """A record from tag-like fields; ``None`` when it has no row or no metric (e.g. a parent run)."""
    m = _metrics(metrics)
    row = tags.get("lbi.row", tags.get("row"))
    table = tags.get("lbi.table", tags.get("table")) or SWEEP_TABLES.get(sweep)
    if not m or row in (None, "") or table in (None, ""):
        return None
    column = tags.get("lbi.column", tags.get("column"))
    cell = tags.get("lbi.cell", tags.get("cell"))
    return RunRecord(
        run_id=run_id,
        origin=origin,
        table=norm_table(table),
        row=str(row),
        metrics=m,
        column=None if column in (None, "") else str(column),
        cell=None if cell in (None, "") else str(cell),
        seed=_int(tags.get("lbi.seed", tags.get("seed"))),
        source_2d=tags.get("lbi.source_2d", tags.get("source_2d")) or None,
        synthetic=_bool(tags.get("lbi.synthetic", tags.get("synthetic"))),
        dataset=tags.get("lbi.dataset", tags.get("dataset")) or None,
        git_commit=tags.get("lbi.git_commit", tags.get("git_commit")) or None,
        sweep=sweep,
        start_time=start_time,
        params={str(k): str(v) for k, v in (params or {}).items()},
        trial_key=tags.get("lbi.trial_key", tags.get("trial_id")) or None,
        finetune_stage1=_bool(tags.get("lbi.finetune_stage1", tags.get("finetune_stage1"))) is True,
    )


def mlflow_runs(uri: str, prefix: str = SWEEP_PREFIX) -> list[RunRecord]:
    """Finished runs of the experiments named ``<prefix>*``; [] when the store does not exist.

    A missing SQLite file is not created (reading must not leave a database behind).
    """
    if not _store_exists(uri):
        return []
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exps = [e for e in client.search_experiments() if e.name.startswith(prefix)]
    out: list[RunRecord] = []
    for exp in exps:
        token = None
        while True:
            page = client.search_runs(
                [exp.experiment_id],
                filter_string="attributes.status = 'FINISHED'",
                max_results=1000,
                page_token=token,
            )
            for r in page:
                rec = _record(
                    r.info.run_id,
                    "mlflow",
                    exp.name[len(prefix) :],
                    r.data.tags,
                    r.data.metrics,
                    float(r.info.start_time or 0) / 1000.0,
                    r.data.params,
                )
                if rec is not None:
                    out.append(rec)
            token = page.token
            if not token:
                break
    return out


def _store_exists(uri: str) -> bool:
    return not (uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///") :]).exists())


def evaluate_run_id(uri: str, source: str, metrics: Mapping[str, float]) -> str | None:
    """The latest finished ``evaluate@<source>`` run whose logged metrics equal ``metrics``."""
    if not metrics or not _store_exists(uri):
        return None
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(PIPELINE_EXPERIMENT)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=(
            "attributes.status = 'FINISHED' and tags.`dvc.stage` = 'evaluate' "
            f"and tags.`lbi.source_2d` = '{source}'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    for r in runs:
        logged = r.data.metrics
        if all(
            k in logged and abs(logged[k] - v) <= 1e-6 * max(1.0, abs(v))
            for k, v in metrics.items()
        ):
            return r.info.run_id
    return None


def csv_runs(sweeps_dir: Path) -> list[RunRecord]:
    """Rows of ``<sweeps_dir>/<sweep>/results.csv`` (one trial per line)."""
    out: list[RunRecord] = []
    for path in sorted(sweeps_dir.glob("*/results.csv")):
        sweep = path.parent.name
        with path.open(newline="") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                if row.get("status") not in (None, "", "completed"):
                    continue  # early-stopped or failed trial
                params = {k: v for k, v in row.items()
                          if k.startswith("search.") or k in ("mode", "epochs")}  # fmt: skip
                rec = _record(f"{path}#{line}", "csv", sweep, row, row, float(line), params)
                if rec is not None:
                    out.append(rec)
    return out


def latest_per_seed(runs: Iterable[RunRecord]) -> list[RunRecord]:
    """The latest run per (sweep, table, row, column, cell, 2D source, seed, whether stage 2
    fine-tuned stage 1, and for :data:`BUDGET_KEYED_TABLES` the epochs): a grid trial
    rerun on other code or data (another ``trial_key``) replaces the older run. Search
    trials (table ``search``: one cell, many sampled configs) count once per ``trial_key``.
    Unseeded runs all count."""
    best: dict[tuple[Any, ...], RunRecord] = {}
    rest: list[RunRecord] = []
    for r in runs:
        if r.trial_key is not None and r.table == "search":
            key: tuple[Any, ...] = (r.origin, r.table, r.trial_key)
        elif r.seed is not None:
            budget = r.epochs if r.table in BUDGET_KEYED_TABLES else None
            key = (r.origin, r.sweep, r.table, r.row, r.column, r.cell, r.source_2d, r.seed,
                   r.finetune_stage1, budget)  # fmt: skip
        else:
            rest.append(r)
            continue
        if key not in best or r.start_time >= best[key].start_time:
            best[key] = r
    return [*best.values(), *rest]


def sweep_runs(uri: str, sweeps_dir: Path) -> tuple[list[RunRecord], list[str]]:
    """MLflow runs, plus CSV rows for tables MLflow has no run for; and where they came from."""
    mlf = mlflow_runs(uri)
    have = {r.table for r in mlf}
    csvs = [r for r in csv_runs(sweeps_dir) if r.table not in have]
    origin = []
    if mlf:
        origin.append(f"MLflow {uri} (experiments {SWEEP_PREFIX}*)")
    if csvs:
        files = sorted({r.run_id.split("#")[0] for r in csvs})
        origin.append("CSV fallback: " + ", ".join(files))
    return latest_per_seed([*mlf, *csvs]), origin


def collect(
    paths: Any,
    sources: Iterable[str],
    *,
    sweeps_dir: str | Path = "data/sweeps",
    tracking_uri: str | None = None,
) -> Inputs:
    """All inputs; ``paths`` is :class:`lbi.params.Paths` (or anything with its fields)."""
    from lbi.tracking import tracking_uri as default_uri

    srcs = {
        s: load_source(
            s, Path(paths.metrics), Path(paths.eval), Path(paths.plots), Path(paths.prune)
        )
        for s in sources
    }
    missing = [
        f"{Path(paths.metrics) / (s + '.json')}" for s, r in srcs.items() if r.metrics_path is None
    ]
    uri = tracking_uri or default_uri()
    srcs = {s: replace(r, run_id=evaluate_run_id(uri, s, r.metrics)) for s, r in srcs.items()}
    runs, origin = sweep_runs(uri, Path(sweeps_dir))
    meta_path = Path(paths.store_in) / "meta.json"
    meta = _read_json(meta_path) if meta_path.exists() else None
    return Inputs(srcs, tuple(runs), tuple(origin), meta, tuple(missing))

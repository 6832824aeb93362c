"""Means over seeds and what keeps runs apart: budget, width, schedule, data, 2D source.

A table cell is the mean of the runs of one setting *and* one :class:`Variant`; runs
trained for a different number of epochs or at another token width are another row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from scipy.stats import t

from lbi.numerics import PIPELINE, THREADS, threads_of
from lbi.record import RunRecord

NOT_RUN = "not run"
NONE = "–"  # no value: the paper prints none, or the setting does not apply
NO_COMMIT = "commit not recorded (pipeline outputs are commit-independent)"  # git_commit ""
WALL = "_wall_s"  # a metric so named is its run's wall time (s), not a model's (trial_wall_s)
# Names the sweeps write into records (lbi.sweep imports them from here: the report stage's
# code deps leave lbi/sweep out, so the names both sides share live on this side).
TWIN = "trial_twin_model"  # 1.0: the trial evaluated the default stores' model (lbi.sweep.twin)
WAIT = "trial_wait_s"  # of a trial's wall time, waiting on another trial (the stage 1 they share)
FINETUNED = "stage 1 fine-tuned in stage 2"  # the schedule of :func:`finetuned` runs, as named


def stores_variant(table: str) -> str | None:
    """The stores variant a record's table is on (``"spread@bigtest"``: ``"bigtest"``, as
    :func:`lbi.sweep.stores.on_variant` names it); None: the default stores."""
    return table.partition("@")[2] or None


@dataclass(frozen=True)
class Stat:
    """Values of one metric over runs (one per seed): mean ± sample std (ddof=1), n."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return math.fsum(self.values) / self.n if self.n else math.nan

    @property
    def std(self) -> float:
        m, n = self.mean, self.n
        return math.sqrt(math.fsum((v - m) ** 2 for v in self.values) / (n - 1)) if n > 1 else math.nan  # fmt: skip

    @property
    def ci95(self) -> float:
        """Half-width of the mean's 95 % confidence interval (Student t); NaN if n < 2."""
        n = self.n
        return float(t.ppf(0.975, n - 1)) * self.std / math.sqrt(n) if n > 1 else math.nan

    def text(self, n_row: int | None = None) -> str:
        """``"72.7"`` (one run) or ``"74.8 ± 1.6"``; `` (n=k)`` when the cell has fewer runs
        than its row (a run without this metric); "–" when no run has it."""
        if self.n == 0:
            return NONE
        out = f"{self.mean:.1f}" if self.n == 1 else f"{self.mean:.1f} ± {self.std:.1f}"
        return out if n_row in (None, self.n) else f"{out} (n={self.n})"


def interval(d: Stat) -> str:
    """``"-0.1 [-7.7, +7.5]"`` (mean, 95 % CI); ``"+2.0"`` for one value; "–" for none."""
    ci = f" [{d.mean - d.ci95:+.1f}, {d.mean + d.ci95:+.1f}]" if d.n > 1 else ""
    return f"{d.mean:+.1f}{ci}" if d.n else NONE


def stat(records: Iterable[RunRecord], metric: str) -> Stat:
    """``metric`` over ``records`` (runs without that metric are left out)."""
    return Stat(tuple(float(r.metrics[metric]) for r in records if metric in r.metrics))


def value(v: float | None) -> str:
    """A single number (a pipeline run, a paper value); "–" for None."""
    return NONE if v is None else f"{v:.1f}"


def budget(r: RunRecord) -> str:
    """Epochs by phase, e.g. ``"stage1 30 + stage2 15"``."""
    return " + ".join(f"{phase} {n}" for phase, n in sorted(r.epochs.items()))


def finetuned(r: RunRecord) -> bool:
    """Stage 1 trained on with stage 2 (``train_stage2.finetune_stage1``; not the paper's)."""
    return r.mode == "progressive" and bool(
        r.params.get("train_stage2", {}).get("finetune_stage1", False)
    )


@dataclass(frozen=True, order=True)
class Variant:
    """What a cell must not mix: budget, width, stage-2 schedule, data, 2D source, numerics."""

    epochs_total: int
    budget: str
    dim: int  # the LBI token width model.dim; 0 for a lifter
    finetune: bool
    dataset: str
    source_2d: str
    numerics: str  # a GPU run or another thread count trains other weights: named when not PIPELINE

    def text(self, datasets: int = 1) -> str:
        parts = (self.budget, f"{self.source_2d} 2D", f"dim {self.dim}" if self.dim else "",
                 FINETUNED if self.finetune else "",
                 self.dataset if datasets > 1 else "", "" if self.numerics == PIPELINE else self.numerics)  # fmt: skip
        return ", ".join(p for p in parts if p)


# the column of Variant.text: numerics only where not PIPELINE, data only where a table mixes two
VARIANT_HEADER = "runs (epochs, 2D, width, schedule, numerics)"


def comparable(v: Variant, w: Variant) -> bool:
    """Whether runs of ``v`` and ``w`` may be paired by seed (LBI vs lifter, cell vs cell):
    the same total epochs, data, 2D source and numerics (width and schedule may differ)."""
    return (v.epochs_total, v.dataset, v.source_2d, v.numerics) == (w.epochs_total, w.dataset, w.source_2d, w.numerics)  # fmt: skip


def variant(r: RunRecord) -> Variant:
    dim = 0 if r.mode == "lifter" else r.params.get("model", {}).get("dim") or 0
    return Variant(r.epochs_total, budget(r), dim, finetuned(r), data_name(r), r.source_2d, r.numerics)  # fmt: skip


def lifter_label(r: RunRecord | None) -> str:
    """The 2D-only lifter's row, by the record's architecture: ``"2D-only lifter (mlp)"``."""
    arch = r.params.get("lifter", {}).get("model", {}).get("arch") if r else None
    return f"2D-only lifter ({arch or 'architecture not recorded'})"


def model_label(r: RunRecord | None, output: str) -> str:
    """A model's row, read from its run record (None: no record): the lifter by architecture
    (:func:`lifter_label`); LBI by ``output`` (coarse | refined) and whether stage 1 was
    fine-tuned in stage 2 (:func:`finetuned`), never by ``r.mode`` (the pipeline's LBI run is
    mode ``progressive`` either way): ``"LBI refined (stage 2, stage 1 fine-tuned in stage 2)"``."""
    if output == "lifter":
        return lifter_label(r)
    stage = "stage 2" if output == "refined" else "stage 1"
    if r is None:
        return f"LBI {output} ({stage}; schedule not recorded)"
    ft = f", {FINETUNED}" if output == "refined" else ", fine-tuned in stage 2"
    return f"LBI {output} ({stage}{ft if finetuned(r) else ''})"


def code(commit: str) -> str:  # a run's code as cited: "git 1a2b3c4d5e" or NO_COMMIT
    return f"git {commit[:10]}" if commit else NO_COMMIT


def data_name(r: RunRecord) -> str:
    """``"embedded synthetic"``, ``"h36m"``, ..."""
    return f"{r.dataset} synthetic" if r.synthetic else r.dataset


def ours(names: Iterable[str]) -> str:
    """The label of our numbers: ``"ours (embedded synthetic)"``."""
    found = sorted(set(names))
    return f"ours ({'; '.join(found)})" if found else "ours"


def once_per_seed(records: Sequence[RunRecord]) -> list[RunRecord]:
    """One record per seed (the first by cell): for a model several cells share."""
    seen: dict[int, RunRecord] = {}
    for r in sorted(records, key=lambda r: (r.seed, r.cell, r.key)):
        seen.setdefault(r.seed, r)
    return list(seen.values())


def _unseeded(d: object) -> object:
    return {k: _unseeded(v) for k, v in d.items() if k != "seed"} if isinstance(d, dict) else d


def same_setting(own: RunRecord, records: Iterable[RunRecord]) -> list[RunRecord]:
    """``own`` and the ``records`` trained as it at other seeds (mode, 2D source, numerics,
    data, epochs and every param but the seeds equal), one per seed (:func:`once_per_seed`)."""
    what = lambda r: (r.mode, r.source_2d, r.numerics, r.data_fingerprint, r.epochs, _unseeded(r.params))  # noqa: E731  # fmt: skip
    return once_per_seed([own, *(r for r in records if what(r) == what(own))])


def with_metric(records: Iterable[RunRecord], metric: str) -> list[RunRecord]:
    return [r for r in records if metric in r.metrics]


def paired(
    a: Sequence[RunRecord], b: Sequence[RunRecord], metric_a: str, metric_b: str
) -> tuple[tuple[int, ...], Stat]:
    """The seeds run on both sides (sorted) and ``metric_a`` of ``a`` minus ``metric_b`` of
    ``b`` at each (one record per seed and side, :func:`once_per_seed`)."""
    seeds, x, y = paired_values(a, b, metric_a, metric_b)
    return seeds, difference(x, y)


def difference(x: Stat, y: Stat) -> Stat:
    """``x - y`` value by value (values paired by seed, :func:`paired_values`)."""
    return Stat(tuple(p - q for p, q in zip(x.values, y.values, strict=True)))


def paired_values(
    a: Sequence[RunRecord], b: Sequence[RunRecord], metric_a: str, metric_b: str
) -> tuple[tuple[int, ...], Stat, Stat]:
    """The seeds run on both sides (sorted), ``metric_a`` of ``a`` and ``metric_b`` of ``b``
    at each, in that seed order (one record per seed and side, :func:`once_per_seed`)."""
    by_a, by_b = ({r.seed: float(r.metrics[m]) for r in once_per_seed(with_metric(rs, m))}
                  for rs, m in ((a, metric_a), (b, metric_b)))  # fmt: skip
    seeds = tuple(sorted(set(by_a) & set(by_b)))
    return seeds, Stat(tuple(by_a[s] for s in seeds)), Stat(tuple(by_b[s] for s in seeds))


def spread_ratio(x: Stat, y: Stat) -> tuple[float, float]:
    """``std(x) / std(y)`` of values paired by seed, and the two-sided p of the Pitman-Morgan
    test that their variances are equal: the correlation of x + y with x - y is 0 then
    (Student t, n - 2 df). NaN for fewer than 3 pairs or a constant sum or difference."""
    from scipy.stats import pearsonr

    u, v = [p + q for p, q in zip(x.values, y.values, strict=True)], difference(x, y).values
    if x.n < 3 or len(set(u)) < 2 or len(set(v)) < 2:
        return x.std / y.std if x.n > 1 and y.std else math.nan, math.nan
    return x.std / y.std, float(pearsonr(u, v).pvalue)


def wall_time(records: Sequence[RunRecord]) -> str:
    """The trials' measured machine time in hours, in all and by sweep and numerics, and how
    many lack it; a model two sweeps share counts once. A trial's wall time (metrics ending in
    :data:`WALL`) counts by the share of the pipeline's CPUs it held: a ``pinned:avx2:1``
    trial (packed two at a time on 2 cores) counts half its wall time, less what it waited on
    another trial (:data:`WAIT`: the stage 1 they share, trained by the other)."""
    by: dict[str, list[float]] = {}
    records = list({r.key: r for r in reversed(records)}.values())  # each key: its first record
    for rec, m in ((r, m) for r in records for m in r.metrics if m.endswith(WALL)):
        hours = (rec.metrics[m] - rec.metrics.get(WAIT, 0.0)) / 3600 * cpu_share(rec.numerics)
        by.setdefault(f"{rec.sweep} at {rec.numerics}", []).append(hours)
    n, total = sum(map(len, by.values())), math.fsum(map(math.fsum, by.values()))
    parts = "; ".join(f"{k} {math.fsum(v):.1f} h ({len(v)})" for k, v in sorted(by.items()))
    out = f"{total:.1f} h over {n} trials (by sweep: {parts})" if n else "none recorded yet"
    return f"{out}; older records without it: {len(records) - n}"


def cpu_share(numerics: str) -> float:
    """The share of the pipeline's :data:`~lbi.numerics.THREADS` CPU threads a run of these
    numerics held (``pinned:avx2:1``: 1/2); 1 for ``native`` and ``cuda`` runs."""
    threads = threads_of(numerics)
    return threads / THREADS if threads else 1.0

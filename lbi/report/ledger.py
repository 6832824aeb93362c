"""The claims ledger: which of the paper's claims hold on our data, by a stated rule.

A :class:`Claim` (an entry of ``paper/claims.yaml``) compares two sides, each a sweep cell
and a metric of its records; the paper's two numbers come from :mod:`lbi.report.paper` by
(table, row, column), never typed in the claim. Ours is the difference a - b **paired by
seed** (:func:`lbi.report.stats.paired`), judged by :data:`RULE`. A side uses one variant
(budget, width, schedule, data, 2D source, numerics; :func:`lbi.report.stats.variant`) of
the finished, non-smoke ``results/*.jsonl`` records, and the two sides agree on total
epochs, data, 2D source and numerics, so no difference mixes budgets or numerics. The
differences of one claim pool seeds across the pinned CPU numerics (another CPU vendor or
thread count: the same fp32 training, rounded in another order; :func:`pooled`), each seed
once: a session on either vendor can add seeds to a claim, never a pair across them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scipy.stats import t

from lbi.numerics import PIPELINE, threads_of
from lbi.record import RunRecord
from lbi.report.paper import PAPER_DIR, SOURCE, TABLES, load_entries
from lbi.report.stats import (
    NOT_RUN,
    Stat,
    Variant,
    comparable,
    data_name,
    interval,
    ours,
    paired,
    stores_variant,
    variant,
    with_metric,
)
from lbi.report.table import Block, Table

SEEDS_WANTED = 5  # the minimum per cell; a claim with fewer says so
SEEDS_MAX = 10  # seeds a claim whose interval is wider than the paper's effect gets at most
RULE = (
    "d = a − b per seed (paired; seeds run on both sides under one numerics; seeds pooled "
    "across pinned CPU numerics, each seed once, the pipeline's first), mean and 95 % t-interval "
    "mean ± t(0.975, n−1)·sd/√n. reproduced: the interval excludes 0 on the paper's side "
    "(the sign of the paper's a − b); reversed: it excludes 0 on the other side; "
    "inconclusive: it contains 0 ('smaller than the paper's' when it also excludes the "
    "paper's a − b: an effect of the paper's size is ruled out; else 'needs n seeds' while "
    f"its half-width exceeds the paper's |a − b|, n the fewest seeds that would narrow it "
    f"to that at the spread seen so far, at most {SEEDS_MAX}); "
    "too few seeds: n < 2."
)
VARIANTS_NOT_RUN = ("Store variants (sweeps/stores.yaml): not run; `python sweeps/compare_lifter"
                    ".py --stores cues` measures what the old look's cues add to T2 and T3.")  # fmt: skip
CLAIM_LAYOUT = (
    "A claim is: key: <id>, text: <the claim>, a: <side>, b: <side>; a side is {sweep, cell, "
    f"metric, paper: [<table key in {SOURCE}>, <row>, <column>]}}"
)


@dataclass(frozen=True)
class Side:
    sweep: str  # record.sweep, e.g. "lifter"
    cell: str  # record.cell, e.g. "lbi_d128_ft"
    metric: str  # e.g. "test_refined_p1_mm"
    paper: tuple[str, str, str]  # (paper table key, row, column)

    def __post_init__(self) -> None:
        paper_value(self)  # the paper prints this side's number


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    a: Side
    b: Side


def paper_value(side: Side) -> float:
    """The paper's number for ``side``; a missing table, row, column or value: ValueError."""
    t, row, col = side.paper
    try:
        v = TABLES[t].cell(row, col) if t in TABLES else None
    except KeyError as e:
        raise ValueError(f"{e.args[0]}; name them as {SOURCE} does") from None
    if v is None:
        have = f"no value at {side.paper}" if t in TABLES else f"no table {t!r} ({list(TABLES)})"
        raise ValueError(f"the paper has {have}; name a number {SOURCE} holds")
    return v


def load_claims(path: str | Path) -> tuple[Claim, ...]:
    """The claims of ``path`` (``claims:``, a list; :func:`load_entries`), sides checked."""
    return tuple(load_entries(path, Claim, CLAIM_LAYOUT, "claim", "claims", listed=True).values())


CLAIMS: tuple[Claim, ...] = load_claims(PAPER_DIR / "claims.yaml")


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    paper_a: float
    paper_b: float
    d: Stat  # a - b per paired seed, in seed order
    seeds: tuple[int, ...]
    numerics: str = ""  # of the paired runs: "pinned:avx2:1", "<one> (4 seeds) + <other> (5 seeds)"; "" when none ran

    @property
    def verdict(self) -> str:
        if self.d.n < 2:
            return "too few seeds" if self.d.n else NOT_RUN
        lo, hi = self.d.mean - self.d.ci95, self.d.mean + self.d.ci95
        effect = self.paper_a - self.paper_b
        if hi < 0 or lo > 0:  # the interval excludes 0: on the paper's side or the other
            return "reproduced" if (hi < 0) == (math.copysign(1.0, effect) < 0) else "reversed"
        if not lo <= effect <= hi:
            return "inconclusive, smaller than the paper's"
        want = seeds_to_resolve(self.d.std, abs(effect))
        return "inconclusive" + (f", needs {want} seeds" if self.d.n < want else "")


def seeds_to_resolve(sd: float, effect: float, most: int = SEEDS_MAX) -> int:
    """The fewest seeds n (2..``most``) whose 95 % t half-width t(0.975, n−1)·sd/√n is at most
    ``effect`` (mm, > 0), for a paired difference of sample std ``sd``; ``most`` if none."""
    return next((n for n in range(2, most) if t.ppf(0.975, n - 1) * sd / math.sqrt(n) <= effect), most)  # fmt: skip


def _by_variant(records: Sequence[RunRecord], side: Side) -> dict[Variant, list[RunRecord]]:
    """The side's records with its metric, by variant (:func:`lbi.report.stats.variant`)."""
    out: dict[Variant, list[RunRecord]] = {}
    for r in with_metric(records, side.metric):
        if r.sweep == side.sweep and r.cell == side.cell:
            out.setdefault(variant(r), []).append(r)
    return out


def pooled(v: Variant) -> Variant:
    """``v`` with its numerics replaced by their pool: every pinned CPU numerics (any vendor
    or thread count) is one pool, ``"pinned"``; any other (``cuda``, ``native``) its own."""
    return replace(v, numerics="pinned" if threads_of(v.numerics) is not None else v.numerics)


def _sides(records: Sequence[RunRecord], claim: Claim) -> list[tuple[list[RunRecord], list[RunRecord]]]:  # fmt: skip
    """Side a's and side b's records, one :func:`comparable` variant pair (total epochs, data,
    2D source, numerics) per numerics: of the pairs alike but for pooled numerics
    (:func:`pooled`), the group with most seeds run on both sides; the pipeline's numerics
    first, then the pair with more seeds."""
    a, b = _by_variant(records, claim.a), _by_variant(records, claim.b)
    groups: dict[tuple[Variant, Variant], list[tuple[Variant, Variant]]] = {}
    for va, vb in sorted(((va, vb) for va in a for vb in b if comparable(va, vb)), key=str):
        groups.setdefault((pooled(va), pooled(vb)), []).append((va, vb))

    def both(p: tuple[Variant, Variant]) -> set[int]:
        return {r.seed for r in a[p[0]]} & {r.seed for r in b[p[1]]}

    if not groups:
        return []
    best = max(groups.values(), key=lambda g: len(set().union(*map(both, g))))
    best = sorted(best, key=lambda p: (p[0].numerics != PIPELINE, -len(both(p)), p[0].numerics))
    return [(a[va], b[vb]) for va, vb in best]


def judge(claim: Claim, records: Sequence[RunRecord]) -> Verdict:
    """The claim's paired-by-seed verdict on ``records``: pairs within one numerics, seeds
    pooled across the numerics of :func:`_sides` in its order, each seed once."""
    at: dict[int, float] = {}
    used: list[tuple[str, int]] = []  # (numerics, seeds it adds)
    for a, b in _sides(records, claim):
        seeds, d = paired(a, b, claim.a.metric, claim.b.metric)
        new = {s: x for s, x in zip(seeds, d.values, strict=True) if s not in at}
        at |= new
        used += [(a[0].numerics, len(new))] if new else []
    seeds = tuple(sorted(at))
    numerics = (
        used[0][0]
        if len(used) == 1
        else " + ".join(f"{n} ({k} seed{'s' * (k != 1)})" for n, k in used)
    )
    d = Stat(tuple(at[s] for s in seeds))
    return Verdict(claim, paper_value(claim.a), paper_value(claim.b), d, seeds, numerics)


def variant_notes(records: Sequence[RunRecord]) -> list[str]:
    """Per claim on sweep ``X``: its a − b on each store variant (sweep ``X-<name>``, tables
    ``<t>@<name>``: :mod:`lbi.sweep.stores`) and that minus the default's, paired by seed."""
    out = []
    for c, base in ((c, judge(c, records)) for c in CLAIMS):
        at = dict(zip(base.seeds, base.d.values, strict=True))
        for sw in sorted({r.sweep for r in records if stores_variant(r.table) and r.sweep.startswith(f"{c.a.sweep}-")}):  # fmt: skip
            v = judge(replace(c, a=replace(c.a, sweep=sw), b=replace(c.b, sweep=sw)), records)
            worth = Stat(tuple(x - at[s] for s, x in zip(v.seeds, v.d.values, strict=True) if s in at))  # fmt: skip
            if v.d.n:
                out.append(f"{c.key} on the stores of sweep {sw}: a − b {interval(v.d)} (n = "
                           f"{v.d.n}); minus the default stores', paired by seed: "
                           f"{interval(worth)} (n = {worth.n}): what the variant changes.")  # fmt: skip
    return out


def ledger_table(records: Sequence[RunRecord]) -> Table:
    """The ledger as a report table (one row per claim)."""
    rows = []
    data = ours(data_name(r) for r in records) if records else "no finished runs yet"
    for v in (judge(c, records) for c in CLAIMS):
        c, d = v.claim, v.d
        short = f"{d.n} < {SEEDS_WANTED}" if 0 < d.n < SEEDS_WANTED else str(d.n)
        at = f" at {v.numerics}" if v.numerics not in ("", PIPELINE) else ""  # e.g. packed, Intel
        sides = f"{c.a.sweep}{at}: {c.a.cell} {c.a.metric} − {c.b.cell} {c.b.metric}"
        rows.append(
            (f"{c.key}: {c.text}", f"{v.paper_a:g} vs {v.paper_b:g} ({v.paper_a - v.paper_b:+.1f})",
             sides, interval(d), short, v.verdict)
        )  # fmt: skip
    header = ("claim (paper table)", "paper a vs b (a − b)", "ours: sweep, a − b",
              "ours a − b, mean [95 % CI]", "n (seeds)", "verdict")  # fmt: skip
    notes = (f"Rule: {RULE}", f"Seeds wanted per cell: ≥ {SEEDS_WANTED}.",
             *(variant_notes(records) or [VARIANTS_NOT_RUN]))  # fmt: skip
    return Table(
        "ledger",
        "Claims ledger — which of the paper's claims hold here",
        f"Each claim as a paired difference a − b; paper numbers from {SOURCE}, "
        "ours from results/*.jsonl (finished, non-smoke records). Units: mm, or % for "
        f"background attention. Ours: {data}.",
        (Block("", header, tuple(rows)),),
        notes=notes,
    )

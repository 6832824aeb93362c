"""The claims ledger: which of the paper's claims hold on our data, by a stated rule.

A :class:`Claim` compares two sides, each a sweep cell and a metric of its records
(``Side("lifter", "lifter", "test_lifter_p1_mm")``); the paper's two numbers come from
:mod:`lbi.report.paper` by (table, row, column), never typed here. Ours is the
difference a - b **paired by seed** (seeds present on both sides): its mean, the 95 %
t-interval ``mean ± t(0.975, n-1) · sd / sqrt(n)`` and n. Verdict (:data:`RULE`):
``reproduced`` when the interval excludes 0 on the paper's side (the sign of paper a - b),
``reversed`` when it excludes 0 on the other side, ``inconclusive`` otherwise, ``too few
seeds`` below n = 2, ``not run`` without records. An inconclusive claim whose interval is
wider than the paper's effect is flagged: more seeds are needed before it says anything.

Records come from ``results/*.jsonl`` (finished, non-smoke). A side uses one variant
(budget, width, schedule, data, 2D source; :func:`lbi.report.stats.variant`): the one with
most seeds, so no difference mixes budgets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lbi.record import RunRecord
from lbi.report.paper import TABLES
from lbi.report.stats import NONE, NOT_RUN, Stat, once_per_seed, variant
from lbi.report.table import Block, Table

SEEDS_WANTED = 5  # the minimum per cell; a claim with fewer says so
RULE = (
    "d = a − b per seed (paired; seeds run on both sides), mean and 95 % t-interval "
    "mean ± t(0.975, n−1)·sd/√n. reproduced: the interval excludes 0 on the paper's side "
    "(the sign of the paper's a − b); reversed: it excludes 0 on the other side; "
    "inconclusive: it contains 0 ('needs seeds' when it is wider than the paper's effect); "
    "too few seeds: n < 2."
)


@dataclass(frozen=True)
class Side:
    sweep: str  # record.sweep, e.g. "lifter"
    cell: str  # record.cell, e.g. "lbi_d128_ft"
    metric: str  # e.g. "test_refined_p1_mm"
    paper: tuple[str, str, str]  # (paper table key, row, column)


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    a: Side
    b: Side


def _s(sweep: str, cell: str, metric: str, table: str, row: str, col: str) -> Side:
    return Side(sweep, cell, metric, (table, row, col))


LBI, T2 = "lbi_d128_ft", "table2_gt"  # compare_lifter's default LBI cell (width 128, ft)
PROG = "progressive"
# fmt: off
CLAIMS: tuple[Claim, ...] = (
    Claim("T2", "the image model beats a 2D-only lifter in-domain (P1, GT 2D)",
          _s("lifter", LBI, "test_refined_p1_mm", T2, "Ours *", "Avg."),
          _s("lifter", "lifter", "test_lifter_p1_mm", T2,
             "Graformer (Zhao, Wang, and Tian 2022)", "Avg.")),
    Claim("T3", "... and cross-domain (MPJPE)",
          _s("lifter", LBI, "cross_refined_mpjpe_mm", "table3", "Ours", "MPJPE"),
          _s("lifter", "lifter", "cross_lifter_mpjpe_mm", "table3",
             "Simple (Martinez et al. 2017)", "MPJPE")),
    Claim("T1", "a plain image model attends more to the background cross-domain",
          _s("layers", "stage1=2/0", "cross_stage1_bg_attention_pct", "table1",
             "H3.6M -> 3DHP", "Background Attention"),
          _s("layers", "stage1=2/0", "test_stage1_bg_attention_pct", "table1",
             "H3.6M -> H3.6M", "Background Attention")),
    Claim("T5a", "PGTL lowers background attention",
          _s("layers", "stage1=1/1", "test_stage1_bg_attention_pct", "table5",
             "w/ PGTL, H3.6M", "Background Attention"),
          _s("layers", "stage1=2/0", "test_stage1_bg_attention_pct", "table5",
             "w/o PGTL, H3.6M", "Background Attention")),
    Claim("T5b", "PGTL lowers the coarse error in-domain",
          _s("layers", "stage1=1/1", "test_coarse_p1_mm", "table5", "w/ PGTL, H3.6M", "MPJPE"),
          _s("layers", "stage1=2/0", "test_coarse_p1_mm", "table5", "w/o PGTL, H3.6M", "MPJPE")),
    Claim("T5c", "... and cross-domain",
          _s("layers", "stage1=1/1", "cross_coarse_mpjpe_mm", "table5", "w/ PGTL, 3DHP", "MPJPE"),
          _s("layers", "stage1=2/0", "cross_coarse_mpjpe_mm", "table5", "w/o PGTL, 3DHP",
             "MPJPE")),
    Claim("T6", "TL-PGTL-TL (1/1) beats PGTL-PGTL-TL (0/2) in stage 1",
          _s("layers", "stage1=1/1", "test_coarse_p1_mm", "table6", "1,1", "MPJPE"),
          _s("layers", "stage1=0/2", "test_coarse_p1_mm", "table6", "0,2", "MPJPE")),
    Claim("T4a", "stage 2 (AFSM) improves on stage 1 in-domain (paper's frozen stage 1)",
          _s(PROG, "progressive", "test_refined_p1_mm", "table4", "Refined Pose", "Human3.6m"),
          _s(PROG, "progressive", "test_coarse_p1_mm", "table4", "Coarse Pose", "Human3.6m")),
    Claim("T4b", "... and cross-domain",
          _s(PROG, "progressive", "cross_refined_mpjpe_mm", "table4", "Refined Pose", "3DHP"),
          _s(PROG, "progressive", "cross_coarse_mpjpe_mm", "table4", "Coarse Pose", "3DHP")),
    Claim("T4c", "progressive beats end-to-end (both supervision) in-domain",
          _s(PROG, "progressive", "test_refined_p1_mm", "table4", "Refined Pose", "Human3.6m"),
          _s(PROG, "e2e_both", "test_refined_p1_mm", "table4",
             "end-to-end w/ both supervision", "Human3.6m")),
    Claim("T4d", "... and cross-domain",
          _s(PROG, "progressive", "cross_refined_mpjpe_mm", "table4", "Refined Pose", "3DHP"),
          _s(PROG, "e2e_both", "cross_refined_mpjpe_mm", "table4",
             "end-to-end w/ both supervision", "3DHP")),
    Claim("T7a", "keeping r = 0.3 of the tokens beats keeping all (r = 1)",
          _s("retention", "r=0.3", "test_refined_p1_mm", "table7", "0.3", "MPJPE"),
          _s("retention", "r=1", "test_refined_p1_mm", "table7", "1", "MPJPE")),
    Claim("T7b", "r = 0.3 beats r = 0.01",
          _s("retention", "r=0.3", "test_refined_p1_mm", "table7", "0.3", "MPJPE"),
          _s("retention", "r=0.01", "test_refined_p1_mm", "table7", "0.01", "MPJPE")),
    Claim("T9", "2D-pose pretraining of the encoder helps (vs no pose pretraining)",
          _s("pretraining", "pipeline", "test_refined_p1_mm", "table9",
             "MS COCO / 2D human pose estimation", "MPJPE"),
          _s("pretraining", "none", "test_refined_p1_mm", "table9",
             "ImageNet / Image Classification", "MPJPE")),
    Claim("T10", "HRNet-W32 beats ResNet-50 as the encoder",
          _s("backbone", "hrnet_w32", "test_refined_p1_mm", "table10", "HRNet-w32", "MPJPE"),
          _s("backbone", "resnet50", "test_refined_p1_mm", "table10", "Resnet50", "MPJPE")),
    Claim("T11a", "normalisation before transposition beats after (cross-domain)",
          _s("normalization", "before", "cross_coarse_mpjpe_mm", "table11",
             "Normalization before Transposition", "3DHP"),
          _s("normalization", "after", "cross_coarse_mpjpe_mm", "table11",
             "Normalization after Transposition", "3DHP")),
    Claim("T11b", "normalisation before transposition beats two cross-attentions (cross)",
          _s("normalization", "before", "cross_coarse_mpjpe_mm", "table11",
             "Normalization before Transposition", "3DHP"),
          _s("normalization", "two_cross", "cross_coarse_mpjpe_mm", "table11",
             "Two Cross-attention", "3DHP")),
)
# fmt: on


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    paper_a: float
    paper_b: float
    diffs: tuple[float, ...]  # a - b per paired seed, in seed order
    seeds: tuple[int, ...]

    @property
    def paper_delta(self) -> float:
        return self.paper_a - self.paper_b

    @property
    def n(self) -> int:
        return len(self.diffs)

    @property
    def mean(self) -> float:
        return Stat(self.diffs).mean

    @property
    def half_width(self) -> float:
        """Half the 95 % t-interval of the mean difference (nan below n = 2)."""
        return Stat(self.diffs).ci95

    @property
    def verdict(self) -> str:
        if self.n == 0:
            return NOT_RUN
        if self.n < 2:
            return "too few seeds"
        lo, hi = self.mean - self.half_width, self.mean + self.half_width
        sign = math.copysign(1.0, self.paper_delta)
        if (hi < 0 and sign < 0) or (lo > 0 and sign > 0):
            return "reproduced"
        if hi < 0 or lo > 0:
            return "reversed"
        return "inconclusive" + (", needs seeds" if self.half_width > abs(self.paper_delta) else "")


def _by_seed(records: Sequence[RunRecord], side: Side) -> dict[int, float]:
    """Seed -> the side's metric, from the side's most-seeded variant."""
    mine = [
        r
        for r in records
        if r.sweep == side.sweep and r.cell == side.cell and side.metric in r.metrics
    ]
    by_variant: dict[object, list[RunRecord]] = {}
    for r in mine:
        by_variant.setdefault(variant(r), []).append(r)
    if not by_variant:
        return {}
    best = max(sorted(by_variant, key=str), key=lambda v: len({r.seed for r in by_variant[v]}))
    return {r.seed: float(r.metrics[side.metric]) for r in once_per_seed(by_variant[best])}


def judge(claim: Claim, records: Sequence[RunRecord]) -> Verdict:
    """The claim's paired-by-seed verdict on ``records``."""
    a, b = _by_seed(records, claim.a), _by_seed(records, claim.b)
    seeds = tuple(sorted(set(a) & set(b)))
    pa, pb = (TABLES[t].cell(row, col) for t, row, col in (claim.a.paper, claim.b.paper))
    if pa is None or pb is None:
        raise ValueError(f"claim {claim.key}: the paper prints no value at {claim.a.paper}")
    return Verdict(claim, pa, pb, tuple(a[s] - b[s] for s in seeds), seeds)


def ledger_table(records: Sequence[RunRecord]) -> Table:
    """The ledger as a report table (one row per claim)."""
    rows = []
    for v in (judge(c, records) for c in CLAIMS):
        c = v.claim
        ours = NONE
        if v.n:
            ci = "" if v.n < 2 else f" [{v.mean - v.half_width:+.1f}, {v.mean + v.half_width:+.1f}]"
            ours = f"{v.mean:+.1f}{ci}"
        short = f"{v.n} < {SEEDS_WANTED}" if 0 < v.n < SEEDS_WANTED else str(v.n)
        sides = f"{c.a.sweep}: {c.a.cell} {c.a.metric} − {c.b.cell} {c.b.metric}"
        rows.append(
            (f"{c.key}: {c.text}", f"{v.paper_a:g} vs {v.paper_b:g} ({v.paper_delta:+.1f})",
             sides, ours, short, v.verdict)
        )  # fmt: skip
    header = ("claim (paper table)", "paper a vs b (a − b)", "ours: sweep, a − b",
              "ours a − b, mean [95 % CI]", "n (seeds)", "verdict")  # fmt: skip
    return Table(
        "ledger",
        "Claims ledger — which of the paper's claims hold here",
        "Each claim as a paired difference a − b; paper numbers from lbi/report/paper.py, "
        "ours from results/*.jsonl (finished, non-smoke records). Units: mm, or % for "
        "background attention. Ours is the embedded synthetic benchmark, not Human3.6M.",
        (Block("", header, tuple(rows)),),
        notes=(f"Rule: {RULE}", f"Seeds wanted per cell: ≥ {SEEDS_WANTED}."),
    )

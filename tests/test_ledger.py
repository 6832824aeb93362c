"""The claims ledger: paired-by-seed differences, the stated verdict rule, and claims that
name cells the sweeps really run."""

from __future__ import annotations

import math
import statistics

import pytest
from scipy import stats as st

from lbi.report.ledger import CLAIMS, SEEDS_MAX, judge, ledger_table, seeds_to_resolve
from tests.test_report import rec

T7A = next(c for c in CLAIMS if c.key == "T7a")  # r=0.3 vs r=1: the paper says a < b


def _pair(a: list[float], b: list[float], **kw) -> list:  # type: ignore[no-untyped-def]
    """Retention records: cell r=0.3 gets ``a[i]``, r=1 gets ``b[i]`` at seed i (P1 in mm)."""
    out = []
    for cell, vals in (("r=0.3", a), ("r=1", b)):
        for seed, v in enumerate(vals):
            out.append(rec(cell=cell, seed=seed, metrics={"test_refined_p1_mm": v}, **kw))
    return out


def test_mean_and_interval_are_the_paired_t_interval() -> None:
    a, b = [50.0, 52.0, 49.0, 51.0, 50.5], [53.0, 53.5, 52.0, 52.5, 54.0]
    v = judge(T7A, _pair(a, b))
    d = [x - y for x, y in zip(a, b, strict=True)]
    assert v.d.n == 5 and v.seeds == (0, 1, 2, 3, 4)
    assert v.d.mean == pytest.approx(statistics.fmean(d))
    want = st.t.ppf(0.975, 4) * statistics.stdev(d) / math.sqrt(5)
    assert v.d.ci95 == pytest.approx(want)
    assert (v.paper_a, v.paper_b) == (28.6, 29.0)  # from paper/tables.yaml
    assert v.verdict == "reproduced"


def test_verdicts_follow_the_rule() -> None:
    assert judge(T7A, _pair([55, 56, 54.5, 55.5, 56], [53, 53.5, 52, 52.5, 54])).verdict == (
        "reversed"
    )
    wide = judge(T7A, _pair([50, 60, 45, 58, 47], [55, 50, 52, 49, 56]))
    assert wide.verdict == "inconclusive, needs 10 seeds"  # CI far wider than the paper's 0.4 mm
    near = judge(T7A, _pair([50, 50.1, 49.9, 50, 50.05], [50] * 5))  # d ~ 0 +- 0.1, paper -0.4
    assert near.verdict == "inconclusive, smaller than the paper's"
    mid = judge(T7A, _pair([50.3, 49.6, 49.9, 50.1, 49.6], [50] * 5))  # CI holds 0 and -0.4
    lo, hi = mid.d.mean - mid.d.ci95, mid.d.mean + mid.d.ci95
    assert lo < -0.4 < 0 < hi and mid.verdict == "inconclusive"
    assert judge(T7A, _pair([50.0], [51.0])).verdict == "too few seeds"
    assert judge(T7A, []).verdict == "not run"


def test_seeds_to_resolve_is_the_fewest_n_whose_interval_fits_the_effect() -> None:
    half = [st.t.ppf(0.975, n - 1) / math.sqrt(n) for n in range(2, 11)]  # sd 1
    assert half[4] > 1.0 >= half[5]  # n = 7 is the first half-width <= 1 mm
    assert seeds_to_resolve(1.0, 1.0) == 7
    assert seeds_to_resolve(2.0, 2.0) == 7 and seeds_to_resolve(0.0, 0.4) == 2
    assert seeds_to_resolve(1.0, 0.5) == SEEDS_MAX == 10  # none fits: the cap
    # T7a (paper: -0.4 mm) at n = 5, d = -0.3 +- 0.45: the interval holds 0 and -0.4 and is
    # wider than 0.4 mm; at that spread 8 seeds would narrow it to 0.4 mm
    v = judge(T7A, _pair([49.7 + x for x in (-0.4, 0.4, 0.0, -0.5, 0.5)], [50.0] * 5))
    assert v.d.ci95 > 0.4 and v.d.mean - v.d.ci95 < -0.4
    want = seeds_to_resolve(v.d.std, 0.4)
    assert want == 8 and v.verdict == f"inconclusive, needs {want} seeds"


def test_only_seeds_on_both_sides_pair_and_budgets_never_mix() -> None:
    recs = _pair([50, 51, 52], [53, 54])  # seed 2 has no r=1 run
    only = judge(T7A, recs)
    assert only.seeds == (0, 1) and only.d.values == (-3.0, -3.0)
    nine = {"stage1": 9, "stage2": 9}
    recs += [rec(cell="r=1", seed=s, epochs=nine, metrics={"test_refined_p1_mm": 0.0})
             for s in range(3)]  # fmt: skip
    v = judge(T7A, recs)  # r=1 has 3 seeds at another budget, r=0.3 none: never paired
    assert v.seeds == (0, 1) and v.d.values == (-3.0, -3.0)
    recs += [rec(cell="r=0.3", seed=s, epochs=nine, metrics={"test_refined_p1_mm": 1.0})
             for s in range(3)]  # fmt: skip
    v = judge(T7A, recs)  # now both sides have 3 seeds at 9 + 9: that pair wins
    assert v.seeds == (0, 1, 2) and v.d.values == (1.0, 1.0, 1.0)


def test_sides_never_pair_across_numerics() -> None:
    a = _pair([50, 51, 52, 53, 54], [])  # r=0.3: 5 seeds at the pipeline's numerics
    one = [rec(cell=c, seed=s, numerics="pinned:avx2:1", metrics={"test_refined_p1_mm": m})
           for c, m in (("r=0.3", 10.0), ("r=1", 12.0)) for s in range(3)]  # fmt: skip
    v = judge(T7A, a + one)  # r=1 exists only at 1 thread: r=0.3's 1-thread runs pair with it
    assert v.seeds == (0, 1, 2) and v.d.values == (-2.0, -2.0, -2.0)
    # the row says which numerics the pair ran at when they are not the pipeline's
    (row,) = [r for r in ledger_table(a + one).blocks[0].rows if r[0].startswith("T7a")]
    assert row[2].startswith("retention at pinned:avx2:1: r=0.3 ")
    (row,) = [r for r in ledger_table(_pair([50, 51], [53, 54])).blocks[0].rows if r[0].startswith("T7a")]  # fmt: skip
    assert row[2].startswith("retention: r=0.3 ")


def test_seeds_pool_across_cpu_numerics_but_never_pair_across_them() -> None:
    """A claim's seeds come from every pinned CPU numerics (an Intel session adds seeds to
    an AMD claim), each seed once (the pipeline's numerics first); a seed pairs only within
    one numerics, and a GPU (cuda) run never joins a CPU claim's pool."""
    intel = "pinned:avx2-intel:2"
    amd = _pair([50, 50, 50], [53, 53, 53])  # seeds 0-2 at the pipeline's numerics: d = -3
    more = [rec(cell=c, seed=s, numerics=intel, metrics={"test_refined_p1_mm": m})
            for c, m in (("r=0.3", 50.0), ("r=1", 51.0)) for s in (2, 3, 4)]  # fmt: skip
    lone = [  # seed 5: side a on AMD, side b on Intel
        rec(cell="r=0.3", seed=5, metrics={"test_refined_p1_mm": 0.0}),
        rec(cell="r=1", seed=5, numerics=intel, metrics={"test_refined_p1_mm": 9.0}),
    ]
    gpu = [rec(cell=c, seed=s, numerics="cuda", metrics={"test_refined_p1_mm": 0.0})
           for c in ("r=0.3", "r=1") for s in (6, 7)]  # fmt: skip
    v = judge(T7A, amd + more + lone + gpu)
    assert v.seeds == (0, 1, 2, 3, 4)  # seed 2 once (the pipeline's), seed 5 never paired
    assert v.d.values == (-3.0, -3.0, -3.0, -1.0, -1.0)
    assert v.numerics == f"pinned:avx2:2 (3 seeds) + {intel} (2 seeds)"
    one = judge(T7A, amd + [r for r in more if r.seed == 3])
    assert one.numerics == f"pinned:avx2:2 (3 seeds) + {intel} (1 seed)"
    (row,) = [r for r in ledger_table(amd + more).blocks[0].rows if r[0].startswith("T7a")]
    assert row[2].startswith(f"retention at pinned:avx2:2 (3 seeds) + {intel} (2 seeds): r=0.3")


def test_ledger_table_rows_and_rule() -> None:
    t = ledger_table(_pair([50, 51, 49], [53, 54, 52]))
    rows = {r[0].split(":")[0]: r for r in t.blocks[0].rows}
    assert set(rows) == {c.key for c in CLAIMS}
    assert rows["T7a"][-1] == "reproduced" and rows["T7a"][4] == "3 < 5"
    assert rows["T2"][-1] == "not run"
    assert any(n.startswith("Rule:") for n in t.notes)


def test_ledger_caption_names_the_records_data() -> None:
    """The caption's "Ours" is the records' data, not a fixed "embedded synthetic"."""
    h36m = ledger_table(_pair([50, 51], [53, 54], dataset="h36m", synthetic=False)).caption
    assert h36m.endswith("Ours: ours (h36m).") and "synthetic" not in h36m
    assert ledger_table(_pair([50], [53])).caption.endswith("Ours: ours (embedded synthetic).")
    assert ledger_table([]).caption.endswith("Ours: no finished runs yet.")


def test_claims_name_cells_the_default_sweeps_run() -> None:
    """A renamed cell would leave its claim "not run" for ever: the default grids have them."""
    from lbi.params import load_params
    from tests.test_sweeps import REPO, _driver

    built = {}
    for name in ("compare_lifter", "ablate_layers", "ablate_progressive", "ablate_retention",
                 "ablate_pretraining", "ablate_backbone", "ablate_normalization"):  # fmt: skip
        mod = _driver(name)
        args = mod.arguments().parse_args(["--params", str(REPO / "params.yaml")])
        spec = mod.build(args, "gt")
        built[spec.name] = {c.name for c in spec.cells}
    assert load_params(REPO / "params.yaml").model.dim == 128  # LBI's cell is lbi_d128_ft
    for c in CLAIMS:
        for side in (c.a, c.b):
            assert side.cell in built[side.sweep], (c.key, side)


SIDE = '{sweep: retention, cell: "r=1", metric: m, paper: [table7, "1", MPJPE]}'


def _claims(b: str = SIDE, times: int = 1) -> str:
    return "claims:\n" + f"  - {{key: K, text: t, a: {SIDE},\n     b: {b}}}\n" * times


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_claims(SIDE.replace("table7", "table77")), "the paper has no table 'table77'"),
        (_claims(SIDE.replace('"1"', '"2"')), "paper table7 has no row '2'"),
        (_claims(SIDE.replace("MPJPE", "P-MPJPE")), "paper table7 has no column 'P-MPJPE'"),
        (_claims(SIDE.replace("[table7", "[tnull").replace('"1", MPJPE', "r, A")),
         r"the paper has no value at \('tnull', 'r', 'A'\)"),
        (_claims(SIDE.replace("metric", "metrc")), r"unknown key\(s\) \['b.metrc'\].*a side is"),
        (_claims(SIDE.replace(", MPJPE", "")), "key 'b.paper': expected 3 items, got 2"),
        (_claims(times=2), "a second claim with this key"),
    ],
    ids=["no-table", "no-row", "no-column", "no-value", "unknown-key", "short-paper", "dup-key"],
)  # fmt: skip
def test_malformed_claim_is_one_clear_error(tmp_path, monkeypatch, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    from lbi.config import ConfigError
    from lbi.report import ledger
    from lbi.report.paper import PaperTable

    monkeypatch.setitem(ledger.TABLES, "tnull", PaperTable("tnull", 1, "c", ("A",), {"r": (None,)}))
    (tmp_path / "good.yaml").write_text(_claims())
    assert [c.key for c in ledger.load_claims(tmp_path / "good.yaml")] == ["K"]
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ConfigError, match=rf"bad.yaml: claim 'K': .*{message}") as e:
        ledger.load_claims(tmp_path / "bad.yaml")
    assert "\n" not in str(e.value)


def test_a_store_variant_is_judged_as_its_claim_and_against_the_default() -> None:
    """Issue 20 item 0: T2 on sweep ``lifter-cues`` (table ``3@cues``), and its a − b minus
    the default stores' at the same seeds: what the look's cues are worth to LBI's advantage."""
    t2 = next(c for c in CLAIMS if c.key == "T2")
    a, b = t2.a, t2.b

    def runs(sweep: str, table: str, lbi: list[float], lifter: list[float]) -> list:  # type: ignore[type-arg]
        return [rec(sweep=sweep, table=table, cell=side.cell, seed=s, metrics={side.metric: v})
                for side, vals in ((a, lbi), (b, lifter)) for s, v in enumerate(vals)]  # fmt: skip

    natural = runs(a.sweep, "3", [100, 102, 110], [101, 103, 104])  # d: -1, -1, +6
    cues = runs(
        f"{a.sweep}-cues", "3@cues", [90, 95, 100, 97], [101, 104, 104, 100]
    )  # d: -11, -9, -4, -3
    (note,) = [n for n in ledger_table(natural + cues).notes if n.startswith("T2 on")]
    d = [-11.0, -9.0, -4.0, -3.0]
    half = st.t.ppf(0.975, 3) * statistics.stdev(d) / 2
    w = [-10.0, -8.0, -10.0]  # cues' d minus natural's d at seeds 0-2
    wh = st.t.ppf(0.975, 2) * statistics.stdev(w) / math.sqrt(3)
    m = statistics.fmean(w)
    assert note == (
        f"T2 on the stores of sweep {a.sweep}-cues: a − b {-6.75:+.1f} [{-6.75 - half:+.1f}, "
        f"{-6.75 + half:+.1f}] (n = 4); minus the default stores', paired by seed: {m:+.1f} "
        f"[{m - wh:+.1f}, {m + wh:+.1f}] (n = 3): what the variant changes."
    )
    assert judge(t2, natural + cues).d.values == (-1.0, -1.0, 6.0)  # the claim: default look
    assert not [n for n in ledger_table(natural + cues).notes if n.startswith("T3 on")]  # no runs
    assert (
        "not run; `python sweeps/compare_lifter.py --stores cues`"
        in ledger_table(natural).notes[-1]
    )

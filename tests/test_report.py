"""The report from tiny run records and pipeline outputs written in ``tmp_path``."""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as st

from lbi.io import save_json, save_npz
from lbi.params import Paths
from lbi.record import RecordError, RunRecord, write_records
from lbi.report import ablations
from lbi.report.build import MANIFEST, build_report, main
from lbi.report.paper import PAPER_ACTION_COLUMNS, TABLES

SEED_TEXT = Path("/work/shared/seeds/000_55c22f0de0f62747.txt")
LBI_PARAMS = {
    "model": {"dim": 32, "stage1": ["tl", "pgtl", "tl"], "backbone": "resnet18_s4"},
    "prune": {"retention": 0.3},
    "train_stage2": {"finetune_stage1": False},
}


def rec(**kw: Any) -> RunRecord:
    """A finished record; ``metrics`` default from ``mm`` (every output, both domains)."""
    mm = kw.pop("mm", 50.0)
    d: dict[str, Any] = {
        "sweep": "retention",
        "table": "7",
        "row": "MPJPE",
        "column": "r",
        "cell": "r=0.3",
        "mode": "progressive",
        "seed": 0,
        "source_2d": "gt",
        "epochs": {"stage1": 2, "stage2": 1},
        "params": json.loads(json.dumps(LBI_PARAMS)),
        "overrides": {},
        "git_commit": "a" * 40,
        "code_fingerprint": "c",
        "data_fingerprint": "d",
        "dataset": "embedded",
        "synthetic": True,
        "numerics": "pinned:avx2:2",
        "metrics": {
            f"{s}_{o}_{k}": mm + i
            for i, (s, k) in enumerate(
                [
                    ("test", "p1_mm"),
                    ("cross", "mpjpe_mm"),
                    ("cross", "pck150_pct"),
                    ("cross", "auc_pct"),
                ]
            )
            for o in ("coarse", "refined", "lifter")
        },
    }
    d.update(kw)
    d["key"] = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
    return RunRecord(**d)


def with_param(section: str, name: str, v: Any, **kw: Any) -> RunRecord:
    p = json.loads(json.dumps(LBI_PARAMS))
    p.setdefault(section, {})[name] = v
    return rec(params=p, **kw)


def write_pipeline(root: Path) -> None:
    metrics = {
        f"test_{o}_{p}{f}_mm": 70.0 + i
        for i, o in enumerate(("coarse", "refined", "lifter"))
        for p in ("p1", "p2")
        for f in ("", "_framewise")
    }
    metrics |= {
        f"cross_{o}_{k}": 90.0
        for o in ("coarse", "refined", "lifter")
        for k in ("mpjpe_mm", "pck150_pct", "auc_pct")
    }
    save_json(root / "metrics/gt.json", metrics)
    per = {o: {"p1": {"kick": 60.0, "walk": 80.0}, "p2": {"kick": 50.0}} for o in ("refined",)}
    tables = {"per_action": per, "dataset": "embedded", "synthetic": True}
    save_json(root / "data/eval/gt/tables.json", tables)
    rng = np.random.default_rng(0)
    att = rng.random((2, 17, 12)).astype(np.float32)
    att /= att.sum(-1, keepdims=True)
    ex = {}
    for split in ("test",):  # the cross split is drawn the same way (and takes seconds)
        ex |= {
            f"{split}_crops": rng.integers(0, 255, (2, 16, 12, 3), dtype=np.uint8),
            f"{split}_pose2d_px": rng.random((2, 17, 2)) * 12,
            f"{split}_attention": att,
            f"{split}_kept_idx": np.array([[0, 3, 5], [1, 2, 4]]),
            f"{split}_joint_area": rng.random((17, 17)),
        }
    save_npz(root / "data/eval/gt/examples.npz", **ex)
    hist = [
        {"epoch": float(e), "val_cross_mpjpe_mm": 100.0 - e, "val_test_mpjpe_mm": 90.0 - e}
        for e in (1, 2)
    ]
    for c in ("stage1", "stage2", "lifter"):
        save_json(root / f"plots/gt/{c}.json", hist)
    save_json(
        root / "data/prune/gt/afsm.json", {"retention": 0.3, "test_kept_tokens": 3, "hw_tokens": 12}
    )
    save_json(root / "data/models/pretrain2d/backbone.json", {"enabled": False})
    p = dict(LBI_PARAMS, train_stage2={"finetune_stage1": True})
    write_records(
        root / "data/eval/gt/records.jsonl",
        [
            rec(
                sweep="pipeline",
                table="",
                cell="pipeline",
                params=p,
                epochs={"stage1": 20, "stage2": 15},
            ),
            rec(
                sweep="pipeline",
                table="",
                cell="lifter",
                mode="lifter",
                epochs={"lifter": 35},
                params={"lifter": {"model": {"arch": "lifter_graformer"}}},
            ),
        ],
    )


RETENTION = [
    with_param("prune", "retention", r, cell=f"r={r:g}", seed=s, mm=m)
    for r, vals in ((0.01, (60.0, 62.0, 67.0)), (0.3, (55.0, 57.0, 58.0)))
    for s, m in enumerate(vals)
]


def write_inputs(root: Path) -> None:
    write_pipeline(root)
    smoke = with_param("prune", "retention", 0.5, cell="r=0.5", smoke=True, mm=999.0)
    failed = with_param("prune", "retention", 0.1, cell="r=0.1", status="failed", error="x")
    write_records(root / "results/retention.jsonl", [*RETENTION, smoke, failed])
    layers = [
        with_param(
            "model",
            "stage1",
            p,
            sweep="layers",
            table="6",
            mode="stage1",
            cell=",".join(p),
            seed=s,
            mm=40.0 + s,
            epochs={"stage1": 3},
        )
        for p in (["tl", "tl", "tl"], ["tl", "pgtl", "tl"])
        for s in (0, 1)
    ]
    write_records(root / "results/layers.jsonl", layers)
    prog = [
        rec(
            sweep="progressive",
            table="4",
            cell=f"p{e}",
            seed=s,
            mm=m,
            epochs={"stage1": e, "stage2": 1},
        )
        for e, ms in ((2, (70.0, 72.0)), (4, (30.0, 32.0)))
        for s, m in enumerate(ms)
    ]
    write_records(root / "results/progressive.jsonl", prog)
    lifter = {"lifter": {"model": {"arch": "lifter_graformer"}}}
    compare = [
        rec(sweep="lifter", table="3", cell="lbi", seed=s, mm=m) for s, m in ((0, 60.0), (1, 64.0))
    ]
    compare += [
        rec(
            sweep="lifter",
            table="3",
            cell="lifter",
            mode="lifter",
            seed=s,
            mm=m,
            epochs={"lifter": 3},
            params=lifter,
        )
        for s, m in ((0, 70.0), (1, 62.0))
    ]
    write_records(root / "results/lifter.jsonl", compare)
    other = rec(sweep="layers", table="stage2-depth", row="3")
    write_records(root / "results/depth.jsonl", [other])


def files(root: Path) -> dict[Path, bytes]:
    return {
        p.relative_to(root): p.read_bytes()
        for p in sorted(root.glob("reports/**/*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One build of the full fixture (shared: figures take seconds); yields root, files."""
    root = tmp_path_factory.mktemp("repo")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        write_inputs(root)
        build()
        yield root, files(root)


def gen(built: tuple[Path, dict[Path, bytes]], name: str) -> str:
    return built[1][Path("reports") / name].decode()


def build(commit: str = "0" * 40) -> str:
    build_report(Paths(), "results", commit=commit)
    return Path("reports/README.md").read_text()


def md_rows(text: str, first: str) -> list[list[str]]:
    """Cells of the Markdown table rows that start with ``| first |``."""
    return [
        [c.strip() for c in line.strip("|").split(" | ")]
        for line in text.splitlines()
        if line.startswith(f"| {first} |")
    ]


def test_cell_is_mean_and_std_of_its_records(built) -> None:
    t7 = gen(built, "generated/table7.md")
    (row,) = md_rows(t7, "0.01")
    vals = [60.0, 62.0, 67.0]
    assert row[3] == f"{statistics.mean(vals):.1f} ± {statistics.stdev(vals):.1f}"
    assert row[2] == "28.9" and row[-1] == "3"  # the paper's value beside ours
    (coarse,) = md_rows(t7, "Coarse Pose")  # shared stage 1: once per seed, not per cell
    assert coarse[-1] == "3"
    assert coarse[3] == f"{statistics.mean([60.0, 62.0, 67.0]):.1f} ± 3.6"


def test_smoke_and_failed_records_never_appear(built) -> None:
    text = "".join(b.decode() for p, b in built[1].items() if p.suffix == ".md")
    t7 = gen(built, "generated/table7.md")  # r = 0.5 (smoke), 0.1 (failed): no fixed row
    assert not md_rows(t7, "0.5") and not md_rows(t7, "0.1")
    assert "999" not in text and "1 failed, 1 smoke" in text


def test_budgets_are_kept_apart(built) -> None:
    rows = md_rows(gen(built, "generated/table4.md"), "Refined Pose")
    assert [r[1].split(",")[0] for r in rows] == ["stage1 2 + stage2 1", "stage1 4 + stage2 1"]
    assert [r[3] for r in rows] == ["71.0 ± 1.4", "31.0 ± 1.4"]
    (e2e,) = md_rows(gen(built, "generated/table4.md"), "end-to-end w/ fine supervision")
    assert e2e[3] == "not run" and e2e[2] == "32.6"


def test_widths_and_schedules_are_kept_apart() -> None:
    from lbi.report import ablations

    t7 = next(s for s in ablations.SPECS if s.key == "table7")

    runs = [
        rec(cell="a", seed=0, mm=10.0),
        rec(cell="a", seed=1, mm=12.0),
        with_param("model", "dim", 64, cell="b", mm=40.0),
        with_param("train_stage2", "finetune_stage1", True, cell="c", mm=70.0),
    ]
    rows = [r for r in ablations.group(t7, runs) if r.setting.label == "0.3"]
    assert [(r.variant.dim, r.variant.finetune, len(r.records)) for r in rows] == [
        (32, False, 2),
        (32, True, 1),
        (64, False, 1),
    ]
    assert [r.stat(t7.columns[0]).text() for r in rows] == ["11.0 ± 1.4", "70.0", "40.0"]
    twice = ablations.block(t7, ablations.group(t7, [*runs[:2], rec(cell="z", mm=1.0)]), "ours")
    (r03,) = [r for r in twice.rows if r[0].startswith("0.3")]
    assert r03[-1] == "3 (2 seeds)"  # seeds 0, 1 and 0 again
    assert twice.header[1] == "runs (epochs, 2D, width, schedule, numerics)"  # as in ", cuda"
    gpu = rec(cell="a", seed=2, mm=90.0, numerics="cuda")  # other weights: a row of its own
    rows = [r for r in ablations.group(t7, [*runs[:2], gpu]) if r.setting.label == "0.3"]
    assert [(r.variant.numerics, len(r.records)) for r in rows] == [("cuda", 1), ("pinned:avx2:2", 2)]  # fmt: skip
    assert rows[0].variant.text().endswith(", cuda") and "pinned" not in rows[1].variant.text()


def test_tables_from_layers_and_other_sweeps(built) -> None:
    (t1,) = md_rows(gen(built, "generated/table1.md"), "tl, tl, tl")
    assert t1[3] == "40.5 ± 0.7" and t1[-1] == "2"
    t5 = gen(built, "generated/table5.md")
    assert md_rows(t5, "w/ PGTL (tl, pgtl, tl)")[0][3] == "40.5 ± 0.7"
    (t6,) = md_rows(gen(built, "generated/table6.md"), "1,1")
    assert t6[2] == "29.2" and t6[3] == "40.5 ± 0.7"
    (other,) = md_rows(gen(built, "generated/sweeps_other.md"), "stage2-depth · 3")
    assert other[2] == "50.0" and other[3] == "51.0" and other[-1] == "1"


def test_not_run_everywhere_without_records(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    text = build()
    for key in ("table1", "table4", "table5", "table6", "table7", "table9", "table10", "table11"):
        t = Path(f"reports/generated/{key}.md").read_text()
        assert "not run" in t, key
    assert md_rows(Path("reports/generated/table10.md").read_text(), "HRNet-w32")[0][3] == "not run"
    assert "Table 2 — per-action" in text and "SH 2D · ours: not run" in text
    assert md_rows(Path("reports/generated/sweeps_other.md").read_text(), "not run")


def test_pipeline_tables_and_not_appended_to_ablations(built) -> None:
    text = gen(built, "README.md")
    t2 = gen(built, "generated/table2_p1.md")
    (refined,) = [
        r
        for r in md_rows(
            t2, "LBI refined (stage 2, stage 1 fine-tuned in stage 2) · ours (embedded synthetic)"
        )
    ]
    assert refined[1:] == ["60.0", "80.0", "71.0", "71.0", "1"]
    # the provenance names each run as its rows do, never by its mode ("progressive")
    assert "; 2D-only lifter (lifter_graformer): epochs lifter 35, code:" in t2
    assert "; LBI refined (stage 2, stage 1 fine-tuned in stage 2): epochs stage1 20 + stage2 15, code:" in t2  # fmt: skip
    assert "progressive" not in t2
    assert "2D-only lifter (lifter_graformer)" in gen(built, "generated/table3.md")
    for key in ("table4", "table6", "table7"):  # the pipeline's run (20 + 15) is no sweep cell
        assert "stage1 20" not in gen(built, f"generated/{key}.md")
    assert "](generated/fig3_attention_gt_test.png)" in text
    (fig8,) = [x for x in text.splitlines() if x.startswith("**Fig. 8 analogue")]
    # the in-domain curve is the in-domain test split: there is no in-domain validation split
    assert "validation MPJPE" not in fig8 and "dotted: in-domain test split" in fig8
    assert "solid: cross-domain validation split" in fig8


def test_table3_runs_over_seeds_and_paired_differences(built) -> None:
    t3 = gen(built, "generated/table3.md")
    (lbi,) = md_rows(t3, "LBI refined (stage 2)")  # the rows name the schedule (stats.model_label)
    (coarse,) = md_rows(t3, "LBI coarse (stage 1)")
    assert coarse[1] == lbi[1]
    assert lbi[1] == "stage1 2 + stage2 1, gt 2D, dim 32" and lbi[4] == "63.0 ± 2.8"  # cross MPJPE
    pipeline_row, lifter = md_rows(t3, "2D-only lifter (lifter_graformer)")
    assert (
        pipeline_row[1:3] == ["gt", "lifter 35"] and pipeline_row[-1] == "1"
    )  # the pipeline run, one seed
    assert lifter[1] == "lifter 3, gt 2D" and lifter[-1] == "2"
    # seed 0: 60 - 70, seed 1: 64 - 62 -> mean -4.0, std 8.5, LBI ahead in 1 of 2
    assert "cross MPJPE -4.0 ± 8.5 mm (LBI ahead in 1 of 2)" in t3


def test_header_states_the_seed_spread_of_the_pipelines_setting(
    tmp_path: Path, monkeypatch
) -> None:
    """The default's seed std: the pipeline's own run (seed 0) and the sweep runs that trained
    its setting at other seeds; a run of another setting (here stage 1 frozen) is not counted."""
    monkeypatch.chdir(tmp_path)
    write_pipeline(tmp_path)
    p, epochs = (
        dict(LBI_PARAMS, train_stage2={"finetune_stage1": True}),
        {"stage1": 20, "stage2": 15},
    )
    same = [rec(sweep="lifter", table="3", cell="lbi", seed=s, mm=m, params=p, epochs=epochs)
            for s, m in ((1, 60.0), (2, 64.0))]  # fmt: skip
    other = rec(sweep="lifter", table="3", cell="lbi", seed=3, mm=10.0, epochs=epochs)
    write_records("results/lifter.jsonl", [*same, other])
    text = build().splitlines()
    (cell,) = [x for x in text if x.startswith("- A cell is")]  # what a row's runs share
    assert "data, 2D source and numerics, named in the 'runs' column" in cell
    (line,) = [x for x in text if x.startswith("- Seed spread")]
    std = statistics.stdev([50.0, 60.0, 64.0])  # test P1 = mm, cross MPJPE = mm + 1: same std
    # named as Tables 2 and 3 name the model (its schedule from its params), not by its mode
    lbi = "LBI refined (stage 2, stage 1 fine-tuned in stage 2)"
    assert f"{lbi}, gt 2D: {std:.1f} / {std:.1f} mm (n = 3: seeds 0, 1, 2)" in line
    assert "(progressive)" not in line
    assert (
        "2D-only lifter (lifter_graformer), gt 2D: one seed, no spread yet (n = 1: seeds 0)" in line
    )


def test_header_says_what_training_did_to_the_pretrained_encoder() -> None:
    """The encoder line follows the pipeline's LBI record: fine-tuned in stage 1, in stage 2
    too when stage 1 is trained on there, fixed with freeze_backbone."""
    from lbi.report.build import encoder_training, fill

    def lbi(s1: dict[str, Any], s2: dict[str, Any]) -> RunRecord:
        return rec(params=dict(LBI_PARAMS, train_stage1=s1, train_stage2=s2))

    assert (
        encoder_training(lbi({}, {"finetune_stage1": True})) == "then fine-tuned in stages 1 and 2"
    )
    assert encoder_training(lbi({}, {"finetune_stage1": False})) == "then fine-tuned in stage 1"
    fixed = {"freeze_backbone": True}
    assert encoder_training(lbi(fixed, {**fixed, "finetune_stage1": True})) == "then kept fixed (freeze_backbone)"  # fmt: skip
    assert "no LBI run record" in encoder_training(None)
    line = fill("encoder.md", backbone="b", samples=1, test_px=1, cross_px=1, tuned="<tuned>")
    assert "cross-domain validation), <tuned> (" in line  # the template says it, not a constant


def test_header_spread_counts_only_runs_with_both_metrics(tmp_path: Path, monkeypatch) -> None:
    """n and the seeds listed are the runs both std's are over (a run without the cross-domain
    metric is left out of both)."""
    monkeypatch.chdir(tmp_path)
    write_pipeline(tmp_path)
    p, epochs = dict(LBI_PARAMS, train_stage2={"finetune_stage1": True}), {"stage1": 20, "stage2": 15}  # fmt: skip
    runs = [rec(sweep="lifter", table="3", cell="lbi", seed=s, mm=60.0 + s, params=p, epochs=epochs)
            for s in (1, 2)]  # fmt: skip
    runs[1] = replace(runs[1], metrics={k: v for k, v in runs[1].metrics.items() if not k.startswith("cross_")})  # fmt: skip
    write_records("results/lifter.jsonl", runs)
    (line,) = [x for x in build().splitlines() if x.startswith("- Seed spread")]
    assert "(n = 2: seeds 0, 1)" in line


def test_header_sums_the_trials_wall_time_by_sweep(tmp_path: Path, monkeypatch) -> None:
    """Item 4 of issue 20: the measured trial time (metrics ``*_wall_s``), by sweep and
    numerics, as a share of the 2 cores (a 1-thread trial, packed two at a time, counts half);
    records from before the field are counted as lacking it, not as 0 h; time a trial spent
    waiting on another (``trial_wait_s``: the stage 1 they share) is not counted."""
    monkeypatch.chdir(tmp_path)
    timed = lambda r, s, **more: replace(r, metrics={**r.metrics, "trial_wall_s": s, **more})  # noqa: E731
    a, b, c = (rec(sweep="lifter", table="3", cell="lbi", seed=s) for s in (0, 1, 2))
    write_records("results/lifter.jsonl", [timed(a, 1800.0), timed(b, 5400.0), c])
    waited = timed(RETENTION[1], 2160.0, trial_wait_s=720.0)  # 1440 s its own
    packed = replace(waited, numerics="pinned:avx2:1", key="k-packed")
    write_records("results/retention.jsonl", [timed(RETENTION[0], 720.0), packed])  # 0.4 h / 2
    shared = replace(timed(a, 1800.0), sweep="spread", table="seed-spread")  # a's model, reused
    write_records("results/spread.jsonl", [shared])
    (line,) = [x for x in build().splitlines() if x.startswith("- Sweep trials' time on 2 CPU")]
    assert line.endswith(
        ": 2.4 h over 4 trials (by sweep: lifter at pinned:avx2:2 2.0 h (2); "
        "retention at pinned:avx2:1 0.2 h (1); retention at pinned:avx2:2 0.2 h (1)); "
        "older records without it: 1."
    )


def test_seed_spread_treatments_are_set_against_their_default_by_seed(
    tmp_path, monkeypatch
) -> None:
    """Issue 20 item 3: "Other sweeps" says, per treatment, mean ± std of it and of its model's
    default at the seeds both ran, and the difference paired by seed."""
    monkeypatch.chdir(tmp_path)
    cell = lambda c, s, mm: rec(sweep="spread", table="seed-spread", cell=c, row=c, seed=s, mm=mm)  # noqa: E731
    default = [cell("lbi_default", s, mm) for s, mm in ((0, 50.0), (1, 56.0), (2, 53.0))]
    ema = [cell("lbi_ema", s, mm) for s, mm in ((0, 51.0), (1, 52.0))]  # seed 2 not yet run
    write_records("results/spread.jsonl", [*default, *ema])
    (note,) = [x for x in build().splitlines() if x.startswith("- Note: Seed spread:")]
    d = st.t.ppf(0.975, 1) * statistics.stdev([1.0, -4.0]) / math.sqrt(2)
    assert note.startswith(
        "- Note: Seed spread: lbi_ema vs its default, paired by seed: test_refined_p1_mm "
        f"51.5 ± 0.7 vs 53.0 ± 4.2, difference -1.5 [{-1.5 - d:+.1f}, {-1.5 + d:+.1f}] (n = 2); "
    )


def test_seed_spread_pairs_a_treatment_only_with_its_default_at_the_same_numerics(
    tmp_path, monkeypatch
) -> None:
    """A 1-thread treatment is set against the 1-thread default, never the 2-thread one."""
    monkeypatch.chdir(tmp_path)
    cell = lambda c, s, mm, n: rec(sweep="spread", table="seed-spread", cell=c, row=c, seed=s,  # noqa: E731
                                   mm=mm, numerics=n)  # fmt: skip
    two, one = "pinned:avx2:2", "pinned:avx2:1"
    recs = [cell("lbi_default", s, 50.0 + 3 * s, two) for s in range(3)]
    recs += [cell("lbi_default", s, 40.0, one) for s in range(3)]
    recs += [cell("lbi_ema", s, 41.0, one) for s in range(3)]
    write_records("results/spread.jsonl", recs)
    (note,) = [x for x in build().splitlines() if x.startswith("- Note: Seed spread:")]
    assert "test_refined_p1_mm 41.0 ± 0.0 vs 40.0 ± 0.0, difference +1.0" in note


def test_seed_spread_verdict_tests_the_std_ratio_by_pitman_morgan(tmp_path, monkeypatch) -> None:
    """Issue 20 item 3's rule: a treatment whose paired values vary far less than the default's
    (Pitman-Morgan p < 0.05) and whose mean is not worse is adopted; one that is worse is not."""
    from scipy.stats import pearsonr

    monkeypatch.chdir(tmp_path)
    cell = lambda c, s, mm: rec(sweep="spread", table="seed-spread", cell=c, row=c, seed=s, mm=mm)  # noqa: E731
    base, ema, late = [50.0, 56.0, 53.0, 47.0, 59.0], [52.0, 53.0, 52.5, 51.5, 53.5], [58.0, 64.0, 61.0, 56.0, 66.0]  # fmt: skip
    write_records("results/spread.jsonl", [cell(c, s, mm) for c, vals in (
        ("lbi_default", base), ("lbi_ema", ema), ("lbi_low_final_lr", late)) for s, mm in enumerate(vals)])  # fmt: skip
    notes = [x for x in build().splitlines() if x.startswith(("- Note: Seed-", "- Note: Seed s"))]
    assert notes[0].startswith("- Note: Seed-spread rule (issue 20 item 3): adopt a treatment")
    ema_note, late_note = notes[1:]
    ratio = statistics.stdev(ema) / statistics.stdev(base)
    pairs = list(zip(ema, base, strict=True))
    p = pearsonr([a + b for a, b in pairs], [a - b for a, b in pairs]).pvalue
    assert p < 0.05 and f"std ratio {ratio:.2f} (Pitman-Morgan p = {p:.2f})" in ema_note
    assert ema_note.endswith("verdict: narrows the spread without hurting the mean: adopt.")
    assert late_note.startswith("- Note: Seed spread: lbi_low_final_lr vs its default")
    assert late_note.endswith("verdict: hurts the mean: keep the default.")


def test_a_larger_test_set_is_judged_by_the_spread_of_the_claims(tmp_path, monkeypatch) -> None:
    """Issue 20 item 3's larger test set: the default models on a store variant's test sets
    (tables ``seed-spread@bigtest``) serve both models of a claim, so the verdict is on the
    spread of LBI refined minus the lifter, paired by seed, against the default stores'
    (here narrower: adopted, although every mean moved)."""
    monkeypatch.chdir(tmp_path)

    def cells(table: str, lbi: list[float], lifter: list[float]) -> list[RunRecord]:
        return [rec(sweep="spread", table=table, cell=c, row="x", seed=s, mm=mm,
                    **({"mode": "lifter"} if c.startswith("lifter") else {}))
                for c, vals in (("lbi_default", lbi), ("lifter_default", lifter))
                for s, mm in enumerate(vals)]  # fmt: skip

    base = [50.0, 56.0, 53.0, 47.0, 59.0]
    write_records("results/spread.jsonl", cells("seed-spread", base, [50.0] * 5))
    big = [60.0, 61.0, 60.5, 59.5, 61.5]  # minus 58: 2, 3, 2.5, 1.5, 3.5 (default: 0, 6, 3, -3, 9)
    write_records("results/spread-bigtest.jsonl", cells("seed-spread@bigtest", big, [58.0] * 5))
    notes = [x for x in build().splitlines() if x.startswith(("- Note: Seed-", "- Note: Seed s"))]
    assert "serves both models of a claim, so it is judged by the spread of the claims'" in notes[0]
    lbi, lifter, claims = notes[1:]
    assert lbi.startswith("- Note: Seed spread: lbi_bigtest vs its default, paired by seed")
    assert lbi.endswith("verdict: see the claims' spread below.") and lifter.endswith("below.")
    ratio = statistics.stdev([2, 3, 2.5, 1.5, 3.5]) / statistics.stdev([0, 6, 3, -3, 9])
    assert claims.startswith("- Note: Seed spread of the claims on the bigtest stores")
    assert (
        "T2 2.5 ± 0.8 vs 3.0 ± 4.7, difference -0.5" in claims
        and f"std ratio {ratio:.2f}" in claims
    )
    assert claims.endswith("verdict: narrows the claims' spread: adopt.")


def test_provenance_says_which_records_evaluated_the_default_models(tmp_path, monkeypatch) -> None:
    """A store variant's trial that evaluated its twin (lbi.sweep.twin) trained nothing: the
    provenance of the table it feeds says how many did."""
    from lbi.report.stats import TWIN  # the one name: lbi.sweep.trial writes it from here

    monkeypatch.chdir(tmp_path)
    recs = [rec(sweep="spread-bigtest", table="seed-spread@bigtest", cell="lbi_default", seed=s)
            for s in (0, 1)]  # fmt: skip
    recs[1] = replace(recs[1], metrics={**recs[1].metrics, TWIN: 1.0})
    write_records("results/spread-bigtest.jsonl", recs)
    build()
    other = (tmp_path / "reports" / "generated" / "sweeps_other.md").read_text()
    assert "1 of them evaluated the default stores' model of their cell and seed" in other


def test_a_model_two_sweeps_share_is_cited_from_each_sweeps_file(tmp_path, monkeypatch) -> None:
    """seed_spread reuses compare_lifter's models (one key, a record in each file): Table 3
    cites results/lifter.jsonl, "Other sweeps" results/spread.jsonl."""
    monkeypatch.chdir(tmp_path)
    a = rec(sweep="lifter", table="3", cell="lbi", seed=0)
    write_records("results/lifter.jsonl", [a])
    write_records("results/spread.jsonl", [replace(a, sweep="spread", table="seed-spread")])
    build()
    read = lambda name: (tmp_path / "reports" / "generated" / name).read_text()  # noqa: E731
    assert "- results/lifter.jsonl: 1 finished records (sweep lifter;" in read("table3.md")
    assert "- results/spread.jsonl: 1 finished records (sweep spread;" in read("sweeps_other.md")


def test_malformed_results_line_names_file_and_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    write_records("results/layers.jsonl", RETENTION[:2])
    with open("results/layers.jsonl", "a") as f:
        f.write('{"key": "broken"}\n')
    with pytest.raises(RecordError, match=r"results/layers.jsonl:3: malformed"):
        build()


def test_rebuild_is_byte_identical_and_portable(built, monkeypatch) -> None:
    root, first = built
    monkeypatch.chdir(root)
    build()
    assert files(root) == first and any(p.suffix == ".png" for p in first)
    text = "".join(b.decode() for p, b in first.items() if p.suffix in (".md", ".tex"))
    for b in first.values():
        assert str(root).encode() not in b
    assert "/tmp" not in text and "/work" not in text and "samples_per_s" not in text
    readme = first[Path("reports/README.md")].decode()
    assert [line for line in readme.splitlines() if "commit" in line] == [
        f"Built at git commit `{'0' * 40}`."
    ]
    assert "Built at" not in text.replace(readme, "")


def test_rebuild_deletes_only_files_it_wrote(built, monkeypatch) -> None:
    """A file someone else put in generated/ survives a rebuild; one an earlier build wrote
    (listed in its manifest) that this build does not write is removed."""
    root, first = built
    monkeypatch.chdir(root)
    gen = root / "reports/generated"
    (gen / "notes.md").write_text("mine")
    (gen / "table99.md").write_text("an earlier build's table")
    with open(gen / MANIFEST, "a") as f:
        f.write("table99.md\n")
    build()
    assert (gen / "notes.md").read_text() == "mine" and not (gen / "table99.md").exists()
    (gen / "notes.md").unlink()
    assert files(root) == first


def test_cli(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    import shutil

    shutil.copy(Path(__file__).resolve().parents[1] / "params.yaml", "params.yaml")
    write_records("results/retention.jsonl", RETENTION)
    main(["--params", "params.yaml", "--results-dir", "results"])
    assert Path("reports/generated/table7.tex").read_text().count("\\begin{tabular}") == 1
    assert (tmp_path / "reports/generated/ablation_table7.png").exists()


def test_paper_tables_consistent() -> None:
    for key in ("table2_sh", "table2_gt"):
        g = TABLES[key].rows["Graformer (Zhao, Wang, and Tian 2022)"]
        assert abs(sum(g[:15]) / 15 - g[15]) < 0.1  # a 2D-only row's Avg. is its column mean
    assert TABLES["table7"].cell("0.3", "MPJPE") == 28.6
    assert TABLES["table4"].cell("Refined Pose", "3DHP") == TABLES["table3"].cell("Ours", "MPJPE")
    with pytest.raises(KeyError, match="no row"):
        TABLES["table7"].cell("0.5", "MPJPE")
    assert not math.isnan(TABLES["table1"].cell("H3.6M -> 3DHP", "MPJPE"))


@pytest.mark.skipif(not SEED_TEXT.exists(), reason="paper text not available")
def test_paper_numbers_match_the_paper_text() -> None:
    """Every transcribed row appears in the paper text as printed (label, tab, values)."""
    text = SEED_TEXT.read_text().replace("<u>", "").replace("</u>", "").replace(" *", "*")

    def printed(v: float | int | None) -> str:
        return "-" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)

    labelled = ("table2_sh", "table2_cpn", "table2_gt", "table3", "table4", "table8_sh")
    labelled += ("table8_cpn", "table11")
    for key, t in TABLES.items():
        if key in ("table7", "table9", "table10"):
            continue  # transposed / side by side: checked below
        for row, values in t.rows.items():
            if key.startswith(("table2", "table8")):
                assert len(values) == len(PAPER_ACTION_COLUMNS) + 1
            cells = [printed(v) for v in values]
            if key in ("table1", "table5"):  # background attention printed as "73%"
                cells[1] = f"{values[1]:.0f}%"
            line = "\t".join(cells)
            line = f"{row.replace(' *', '*')}\t{line}" if key in labelled else line
            assert line in text, (key, row, line)
    assert "MPJPE\t28.9\t28.6\t29.0\t29.2" in text
    assert "Resnet50\t33.7\tHRNet-w32\t28.6" in text and "Resnet101\t37.5\tHRNet-w48\t30.3" in text
    assert "ImageNet\tImage Classification\t35.2" in text
    assert "MS COCO\t2D human pose estimation\t28.6" in text


GOOD_TABLE = "t:\n  number: 7\n  caption: c\n  columns: [A, B]\n  rows:\n    r: [1.0, 2]\n"


@pytest.mark.parametrize(
    ("good", "message", "bad"),
    [
        ("r: [1.0, 2]", r"table 't'.*row 'r': 1 values for 2 columns \('A', 'B'\)", "r: [1.0]"),
        ("r: [1.0, 2]", r"table 't': key 'rows.r\[1\]': '-' matches none", 'r: [1.0, "-"]'),
        ("r: [1.0, 2]", r"table 't': key 'rows': expected a string, got 0.3.*quote", "0.3: [1, 2]"),
        ("caption: c", r"table 't': unknown key\(s\) \['capton'\]", "capton: c"),
        ("number: 7", r"table 't'.*missing 1 required positional argument: 'number'", ""),
        ("r: [1.0, 2]", r"line 7: duplicate key 'r'", "r: [1.0, 2]\n    r: [3.0, 4]"),
    ],
    ids=["row-length", "not-a-number", "unquoted-label", "unknown-key", "missing-key", "dup-row"],
)
def test_malformed_paper_table_is_one_clear_error(
    tmp_path: Path, good: str, message: str, bad: str
) -> None:
    from lbi.config import ConfigError
    from lbi.report.paper import load_tables

    assert load_tables(_write(tmp_path, GOOD_TABLE))["t"].cell("r", "B") == 2
    with pytest.raises(ConfigError, match=rf"bad.yaml: {message}") as e:
        load_tables(_write(tmp_path, GOOD_TABLE.replace(good, bad), "bad.yaml"))
    assert "\n" not in str(e.value)


def _write(folder: Path, text: str, name: str = "good.yaml") -> Path:
    (folder / name).write_text(text)
    return folder / name


def test_paper_data_files_load() -> None:
    from lbi.report.ledger import CLAIMS
    from lbi.report.paper import PAPER_DIR

    assert sorted(p.name for p in PAPER_DIR.iterdir()) == [
        "ablations.yaml",
        "claims.yaml",
        "tables.yaml",
    ]
    assert len(TABLES) == 14 and len(CLAIMS) == 23 and len(ablations.SPECS) == 8


def test_table6_note_states_the_papers_own_numbers() -> None:
    """Table 6's note: the paper's 'w/o PGTL' (Table 5) equals its row 0,2, not 2,0."""
    note = " ".join(next(s for s in ablations.SPECS if s.key == "table6").notes)
    assert "Tables 5 and 6 disagree" in note
    wo_pgtl = TABLES["table5"].rows["w/o PGTL, H3.6M"][0]
    assert wo_pgtl == TABLES["table6"].rows["0,2"][2] != TABLES["table6"].rows["2,0"][2]


GOOD_ABLATION = """columns:
  in: {label: L, metric: "test_{out}_p1_mm", paper: H}
tables:
  table7:
    title: T
    caption: C
    records: ["7"]
    by: prune.retention
    output: refined
    columns: {in: MPJPE}
    rows: [{label: "0.3"}, {label: "0.5", paper: []}]
"""


@pytest.mark.parametrize(
    ("good", "message", "bad"),
    [
        ("table7:", "table 'table77': no paper table 'table77'", "table77:"),
        ('label: "0.3"', "table 'table7': paper table7 has no row '0.4'", 'label: "0.4"'),
        ("{in: MPJPE}", "table 'table7': paper table7 has no column 'P-MPJPE'", "{in: P-MPJPE}"),
        ("{in: MPJPE}", r"table 'table7': unknown column\(s\) \['out'\]", "{out: MPJPE}"),
        ("by: prune.retention", "table 'table7': by: 'prune.r' is no record field", "by: prune.r"),
        (
            'records: ["7"]',
            r"table 'table7': unknown record table\(s\) \['77'\]",
            'records: ["77"]',
        ),
        ("caption: C", r"table 'table7': unknown key\(s\) \['capton'\]", "capton: C"),
    ],
    ids=["no-table", "no-row", "no-column", "no-our-column", "no-field", "no-record-table", "key"],
)
def test_malformed_ablation_is_one_clear_error(
    tmp_path: Path, good: str, message: str, bad: str
) -> None:
    from lbi.config import ConfigError

    _, specs = ablations.load_specs(_write(tmp_path, GOOD_ABLATION))
    (col,) = specs[0].columns
    assert [d.label for d in specs[0].rows] == ["0.3", "0.5"] and col.printed == "MPJPE"
    assert specs[0].paper("0.3", col) == 28.6 and specs[0].paper("0.5", col) is None
    with pytest.raises(ConfigError, match=rf"bad.yaml: {message}") as e:
        ablations.load_specs(_write(tmp_path, GOOD_ABLATION.replace(good, bad), "bad.yaml"))
    assert "\n" not in str(e.value)


def test_ablation_rows_name_values_the_default_sweeps_run() -> None:
    """A renamed sweep value would leave its row "not run" for ever: the grids have them."""
    from tests.test_sweeps import REPO, _driver

    ran: dict[str, set[str]] = {}
    for name in ("ablate_layers", "ablate_progressive", "ablate_retention",
                 "ablate_pretraining", "ablate_backbone", "ablate_normalization"):  # fmt: skip
        mod = _driver(name)
        spec = mod.build(mod.arguments().parse_args(["--params", str(REPO / "params.yaml")]), "gt")
        for c in spec.cells:
            p: dict[str, dict[str, Any]] = {}
            for k, v in c.overrides.items():
                sec, key = k.split(".", 1)
                p.setdefault(sec, {})[key] = list(v) if isinstance(v, tuple) else v
            r = rec(table=c.table or spec.table, row=c.row, cell=c.name, mode=c.mode, params=p)
            for s in ablations.SPECS:
                if r.table in s.records:
                    ran.setdefault(s.key, set()).update(x.label for x in s.settings(r))
    for s in ablations.SPECS:  # Table 9: the sweep's rows are not the paper's (known)
        assert {d.label for d in s.rows} <= ran[s.key] or s.key == "table9", (s.key, ran[s.key])


def test_report_says_whether_it_read_synthetic_data(tmp_path, monkeypatch) -> None:
    """Report.synthetic (the pipeline run's lbi.synthetic tag, via pipeline/report.py): true
    once a record or a pipeline output it reads is synthetic."""
    monkeypatch.chdir(tmp_path)
    write_records(tmp_path / "results/retention.jsonl", [rec(synthetic=False, dataset="h36m")])
    assert not build_report(Paths(), "results", commit="0" * 40).synthetic
    write_pipeline(tmp_path)  # its tables.json says synthetic
    assert build_report(Paths(), "results", commit="0" * 40).synthetic


def test_header_counts_records_trained_by_other_code(tmp_path: Path, monkeypatch) -> None:
    """A record whose code fingerprint is not what its mode's code gives today is stale by
    code: used (a code change need not move a number) and counted by file in the header."""
    from lbi.report.inputs import today_code

    monkeypatch.chdir(tmp_path)
    lbi_now, lifter_now = today_code("progressive"), today_code("lifter")
    assert lbi_now != lifter_now  # the lifter's stages run other code
    a, b = (rec(sweep="lifter", table="3", cell="lbi", seed=s) for s in (0, 1))
    lifter = rec(sweep="lifter", table="3", cell="lifter", mode="lifter")
    write_records("results/lifter.jsonl", [replace(a, code_fingerprint=lbi_now), b,
                                           replace(lifter, code_fingerprint=lifter_now)])  # fmt: skip
    write_records("results/retention.jsonl", [replace(RETENTION[0], code_fingerprint=lbi_now)])
    (line,) = [x for x in build().splitlines() if x.startswith("- Records trained by other code")]
    assert line.endswith("): results/lifter.jsonl: 1 of 3.")
    write_records("results/lifter.jsonl", [replace(lifter, code_fingerprint=lbi_now)])
    (line,) = [x for x in build().splitlines() if x.startswith("- Records trained by other code")]
    assert line.endswith("): results/lifter.jsonl: 1 of 1.")

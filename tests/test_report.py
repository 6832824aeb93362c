"""The report generator on a small but real set of inputs written to tmp_path.

Pipeline outputs (metrics JSON, tables.json, examples.npz, plots JSON, afsm.json, store
meta), sweep runs in a temporary MLflow SQLite store (real MLflow API, tags as
``lbi/sweep.py`` writes them) and a CSV fallback; then the real builder / CLIs.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lbi.report import rows as R
from lbi.report.build import ReportConfig, build_report
from lbi.report.collect import RunRecord, latest_per_seed, norm_table
from lbi.report.paper import PAPER_ACTION_COLUMNS, TABLES
from lbi.report.render import MISSING, Block, Table, aggregate, fmt_stat, table_latex

SEED_TEXT = Path("/work/shared/seeds/000_55c22f0de0f62747.txt")
ACTIONS = ("jump", "kick", "walk")
CROP_HW = (64, 48)  # feature map 16 x 12


# ---------------------------------------------------------------------------------------
# fixtures: inputs as the pipeline and the sweeps write them
# ---------------------------------------------------------------------------------------
def _metrics(offset: float) -> dict[str, float]:
    m = {}
    for i, model in enumerate(("coarse", "refined", "baseline")):
        base = 40.0 + offset + i  # refined 41.x, baseline 42.x
        m.update(
            {
                f"test_{model}_p1_mm": base + 0.12,
                f"test_{model}_p1_framewise_mm": base + 0.34,
                f"test_{model}_p2_mm": base - 10.0 + 0.12,
                f"test_{model}_p2_framewise_mm": base - 10.0 + 0.34,
                f"cross_{model}_pck150_pct": 80.0 + i + 0.21,
                f"cross_{model}_auc_pct": 50.0 + i + 0.21,
                f"cross_{model}_mpjpe_mm": 90.0 + offset + i + 0.21,
            }
        )
    for split in ("test", "cross"):
        m[f"{split}_stage1_bg_attention_pct"] = 61.04
        m[f"{split}_stage1_bg_attention_fgmask_pct"] = 55.04
    return m


def _write_source(root: Path, source: str, offset: float) -> None:
    metrics = _metrics(offset)
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / f"{source}.json").write_text(json.dumps(metrics))
    per = {
        model: {
            p: {
                a: 30.0 + offset + 10 * j + k + (0.43 if p == "p1" else 0.13)
                for k, a in enumerate(ACTIONS)
            }
            for p in ("p1", "p2")
        }
        for j, model in enumerate(("coarse", "refined", "baseline"))
    }
    ev = root / "eval" / source
    ev.mkdir(parents=True, exist_ok=True)
    tables = {
        "per_action": per,
        "source": source,
        "dataset": "embedded",
        "synthetic": True,
        "source_method": f"noise model {source}-like",
        "retention": 0.3,
        "test_n": 120,
        "cross_n": 80,
    }
    (ev / "tables.json").write_text(json.dumps(tables))
    rng = np.random.default_rng(0)
    h, w = CROP_HW
    hw = (h // 4) * (w // 4)
    att = rng.random((8, 17, hw)).astype(np.float32)
    ex = {}
    for split in ("test", "cross"):
        ex[f"{split}_crops"] = rng.integers(0, 255, (8, h, w, 3), dtype=np.uint8)
        ex[f"{split}_pose2d_px"] = (rng.random((8, 17, 2)) * [w, h]).astype(np.float32)
        ex[f"{split}_attention"] = att / att.sum(-1, keepdims=True)
        ex[f"{split}_kept_idx"] = np.stack([rng.permutation(hw)[:58] for _ in range(8)])
        ex[f"{split}_joint_area"] = rng.random((17, 17)).astype(np.float32)
    np.savez(ev / "examples.npz", **ex)
    plots = root / "plots" / source
    plots.mkdir(parents=True, exist_ok=True)
    for name, n in (("stage1", 3), ("stage2", 2), ("baseline", 5)):
        hist = [
            {
                "epoch": float(e + 1),
                "val_test_mpjpe_mm": 60.0 - e,
                "val_cross_mpjpe_mm": 95.0 - e,
                "train_loss_m2": 0.1,
            }
            for e in range(n)
        ]
        (plots / f"{name}.json").write_text(json.dumps(hist))
    (root / "prune" / source).mkdir(parents=True, exist_ok=True)
    (root / "prune" / source / "afsm.json").write_text(json.dumps({"r": 0.3, "source": source}))


def _log(client, exp_id: str, tags: dict[str, str], metrics: dict[str, float], params=None) -> str:
    from mlflow.entities import Metric, Param

    base = {
        "lbi.synthetic": "true",
        "lbi.dataset": "embedded",
        "lbi.source_2d": "gt",
        "lbi.git_commit": "abc123",
    }
    run = client.create_run(exp_id, tags={**base, **tags})
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()],
        params=[Param(k, str(v)) for k, v in (params or {}).items()],
    )
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """Write every input, build the report once; yield (root, report, uri, run ids)."""
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("report")
    _write_source(root, "gt", 0.0)
    _write_source(root, "sh", 10.0)
    store = root / "store_in"
    store.mkdir()
    (store / "meta.json").write_text(json.dumps({"dataset": "embedded", "synthetic": True}))
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    ids: dict[str, list[str]] = {}
    ret = client.create_experiment("lbi-sweep-retention")
    # r = 0.3 over three seeds; an older run of seed 0 is superseded by the rerun.
    old = _log(
        client,
        ret,
        {
            "lbi.table": "7",
            "lbi.row": "MPJPE",
            "lbi.column": "0.3",
            "lbi.cell": "r=0.3",
            "lbi.seed": "0",
        },
        {"test_refined_p1_mm": 99.0, "test_coarse_p1_mm": 99.0},
    )
    ids["old"] = [old]
    ids["r03"] = [
        _log(
            client,
            ret,
            {
                "lbi.table": "7",
                "lbi.row": "MPJPE",
                "lbi.column": "0.3",
                "lbi.cell": "r=0.3",
                "lbi.seed": str(s),
            },
            {
                "test_refined_p1_mm": 30.0 + s,
                "test_coarse_p1_mm": 33.0 + 2 * s,
                "cross_refined_mpjpe_mm": 70.0 + s,
            },
            {"mode": "progressive", "train_stage1.epochs": 20, "train_stage2.epochs": 15},
        )
        for s in (0, 1, 2)
    ]
    ids["r001"] = [
        _log(
            client,
            ret,
            {
                "lbi.table": "7",
                "lbi.row": "MPJPE",
                "lbi.column": "0.01",
                "lbi.cell": "r=0.01",
                "lbi.seed": "0",
            },
            {"test_refined_p1_mm": 28.04, "test_coarse_p1_mm": 33.0},
        )
    ]
    lay = client.create_experiment("lbi-sweep-layers")
    ids["l20"] = [
        _log(
            client,
            lay,
            {
                "lbi.table": "6",
                "lbi.row": "2/0",
                "lbi.column": "MPJPE",
                "lbi.cell": "stage1=2/0",
                "lbi.seed": str(s),
            },
            {
                "test_coarse_p1_mm": 50.0 + 2 * s,
                "cross_coarse_mpjpe_mm": 100.0,
                "test_stage1_bg_attention_pct": 70.0 + 2 * s,
                "cross_stage1_bg_attention_pct": 72.0,
            },
        )
        for s in (0, 1)
    ]
    ids["depth"] = [
        _log(
            client,
            lay,
            {"lbi.table": "stage2-depth", "lbi.row": "2", "lbi.seed": "0"},
            {"test_refined_p1_mm": 45.0},
        )
    ]
    lifter = client.create_experiment("lbi-sweep-lifter")  # sweeps/compare_lifter.py
    # Two epoch budgets (stage 1 30 / 20 + stage 2 15; the lifter 45 / 35): other settings,
    # kept apart, each LBI run paired with the lifter of its own budget.
    for s1, d in ((30, 0.0), (20, 100.0)):
        lift_p = {"mode": "lifter", "train.epochs": s1 + 15}
        lbi_p = {"model.arch": "lbi", "model.dim": "128", "mode": "progressive",
                 "train_stage1.epochs": s1, "train_stage2.epochs": 15}  # fmt: skip
        for s in (0, 1):
            _log(
                client,
                lifter,
                {"lbi.table": "lifter", "lbi.row": "2D-only lifter", "lbi.column": "baseline",
                 "lbi.seed": str(s), "lbi.source_2d": "gt"},
                {"test_baseline_p1_mm": 60.0 + 2 * s + d, "cross_baseline_mpjpe_mm": 90.0 + d},
                lift_p,
            )  # fmt: skip
            _log(
                client,
                lifter,
                {"lbi.table": "lifter", "lbi.row": "LBI (dim 128)", "lbi.column": "refined",
                 "lbi.seed": str(s), "lbi.source_2d": "gt"},
                {"test_refined_p1_mm": 50.0 + 2 * s + 2 * d, "cross_refined_mpjpe_mm": 80.0 + 4 * s + d,
                 "cross_refined_pck150_pct": 85.0, "cross_refined_auc_pct": 55.0 + s,
                 "test_coarse_p1_mm": 52.0, "cross_coarse_mpjpe_mm": 84.0},
                lbi_p,
            )  # fmt: skip
    pipe = client.create_experiment("lbi-pipeline")  # not a sweep: its table tags are ignored
    _log(client, pipe, {"lbi.table": "7", "lbi.row": "0.3"}, {"test_refined_p1_mm": 777.7})
    # The evaluate stage's run: the one whose metrics equal metrics/gt.json is named.
    ids["eval_gt"] = [_log(client, pipe, {"dvc.stage": "evaluate"}, _metrics(0.0))]
    _log(client, pipe, {"dvc.stage": "evaluate"}, {**_metrics(0.0), "test_refined_p1_mm": 1.0})
    search = client.create_experiment("lbi-sweep-search")
    for lr, v in (("0.001", 44.0), ("0.0003", 43.0)):
        _log(
            client,
            search,
            {"lbi.table": "search", "lbi.row": "search", "lbi.seed": "0", "lbi.trial_key": lr},
            {"test_refined_p1_mm": v},
            {"overrides.train.lr": lr, "model.dim": "64"},
        )
    # CSV: Table 11 has no MLflow run -> CSV rows; Table 7 has -> its CSV is ignored.
    sweeps = root / "sweeps"
    (sweeps / "normalization").mkdir(parents=True)
    (sweeps / "normalization" / "results.csv").write_text(
        "sweep,table,cell,row,column,mode,seed,status,test_coarse_p1_mm,cross_coarse_mpjpe_mm\n"
        'normalization,11,after,Normalization after Transposition,"H3.6M,3DHP",stage1,0,completed,35.0,80.0\n'
        'normalization,11,after,Normalization after Transposition,"H3.6M,3DHP",stage1,1,completed,37.0,82.0\n'
        'normalization,11,after,Normalization after Transposition,"H3.6M,3DHP",stage1,2,stopped,555.0,555.0\n'
    )
    (sweeps / "retention").mkdir()
    (sweeps / "retention" / "results.csv").write_text(
        "table,row,column,seed,status,test_refined_p1_mm\n7,MPJPE,0.3,0,completed,888.8\n"
    )
    from lbi.params import Paths

    paths = Paths(
        store_in=str(store),
        metrics=str(root / "metrics"),
        eval=str(root / "eval"),
        plots=str(root / "plots"),
        prune=str(root / "prune"),
        reports=str(root / "reports"),
    )
    cfg = ReportConfig(sources=("gt", "sh"), sweeps_dir=sweeps, tracking_uri=uri)
    rep = build_report(paths, cfg)
    return root, rep, uri, ids


def _table(rep, key: str) -> Table:
    return next(t for t in rep.tables if t.key == key)


def _row(block: Block, first: str) -> dict[str, str]:
    """The row whose first cell starts with ``first``, as header -> cell."""
    for r in block.rows:
        if r[0].startswith(first):
            return dict(zip(block.header, r, strict=True))
    raise AssertionError(f"no row {first!r} in {[r[0] for r in block.rows]}")


def _ours(header_cell: str) -> bool:
    return "ours (embedded synthetic" in header_cell


# ---------------------------------------------------------------------------------------
# the generated tables
# ---------------------------------------------------------------------------------------
def test_table2_paper_rows_and_our_action_columns(built) -> None:
    _, rep, _, _ = built
    t = _table(rep, "table2_p1")
    titles = [b.title for b in t.blocks]
    assert len(t.blocks) == 6  # paper + ours for SH, CPN, GT
    paper_sh = t.blocks[0]
    g = _row(paper_sh, "Graformer")
    assert g["Avg."] == "58.7" and g["SitD."] == "90.0"
    assert "paper (Human3.6M)" in g["Method"]
    ours_sh = t.blocks[1]
    assert ours_sh.header[1:4] == ACTIONS  # our own clips, not the 15 H36M actions
    r = _row(ours_sh, "LBI refined")
    assert "ours (embedded synthetic)" in r["Model"]
    # sh offset 10, refined = model index 1: 30 + 10 + 10 + k + 0.43
    assert (r["jump"], r["kick"], r["walk"]) == ("50.4", "51.4", "52.4")
    assert r["Avg. (action-wise)"] == "51.1" and r["Avg. (frame-wise)"] == "51.3"
    assert r["n"] == "1"
    assert "noise model sh-like" in ours_sh.title
    # CPN was not trained: its block says so and holds only "–".
    assert "not run" in titles[3]
    assert all(c == MISSING for row in t.blocks[3].rows for c in row[1:])
    gt_paper = _row(t.blocks[4], "Ours")
    assert gt_paper["Avg."] == "28.6" and gt_paper["Dir."] == "29.5"


def test_table8_protocol2_and_table3_cross(built) -> None:
    _, rep, _, _ = built
    t8 = _table(rep, "table8_p2")
    assert _row(t8.blocks[0], "Ours")["Avg."] == "40.1"  # paper SH P2
    assert _row(t8.blocks[1], "LBI coarse")["jump"] == "40.1"  # ours: 30 + 10 + 0.13
    t3 = _table(rep, "table3")
    paper = _row(t3.blocks[0], "Ours")
    assert (paper["PCK"], paper["AUC"], paper["MPJPE"]) == ("88.2", "59.3", "68.9")
    ours = _row(t3.blocks[1], "LBI refined (stage 2), trained on gt")
    assert (ours["PCK"], ours["AUC"], ours["MPJPE"]) == ("81.2", "51.2", "91.2")
    # Below the single run: the compare_lifter sweep's runs over seeds, in-domain P1 beside.
    seeds = t3.blocks[2]
    assert "over seeds" in seeds.title
    rows = {(r[0].split(" · ")[0], r[2]): dict(zip(seeds.header, r, strict=True))
            for r in seeds.rows}  # fmt: skip
    lbi = rows[("LBI (dim 128), refined", "30 + 15")]
    assert (lbi["PCK"], lbi["AUC"], lbi["MPJPE"]) == ("85.0 ± 0.0", "55.5 ± 0.7", "82.0 ± 2.8")
    p1 = "in-domain P1 (action-wise) · ours (embedded synthetic)"  # its own domain label
    assert (lbi[p1], lbi["n"], lbi["2D"]) == ("51.0 ± 1.4", "2", "gt")
    assert rows[("LBI (dim 128), refined", "20 + 15")]["MPJPE"] == "182.0 ± 2.8"
    assert rows[("LBI (dim 128), coarse", "30 + 15")]["MPJPE"] == "84.0 ± 0.0"
    lifter = rows[("2D-only lifter", "45")]
    assert (lifter["PCK"], lifter["MPJPE"], lifter["n"]) == ("–", "90.0 ± 0.0", "2")
    assert rows[("2D-only lifter", "35")]["MPJPE"] == "190.0 ± 0.0"
    assert any("LBI token width (model.dim) 128" in p for p in t3.provenance)
    paired = [n for n in t3.notes if "paired by seed" in n]
    assert paired == [
        "LBI (dim 128) [20 + 15 epochs] refined minus the lifter [35 epochs], paired by seed: "
        "in-domain P1 +90.0 ± 0.0 mm (LBI ahead in 0 of 2); cross MPJPE -8.0 ± 2.8 mm "
        "(LBI ahead in 2 of 2).",
        "LBI (dim 128) [30 + 15 epochs] refined minus the lifter [45 epochs], paired by seed: "
        "in-domain P1 -10.0 ± 0.0 mm (LBI ahead in 2 of 2); cross MPJPE -8.0 ± 2.8 mm "
        "(LBI ahead in 2 of 2).",
    ]


def test_table7_mean_std_over_seeds_from_mlflow(built) -> None:
    _, rep, _, ids = built
    t = _table(rep, "table7")
    b = t.blocks[0]
    r03 = _row(b, "0.3")
    ours_in = next(h for h in b.header if h.startswith("in-domain") and _ours(h))
    assert r03[ours_in] == "31.0 ± 1.0"  # seeds 30, 31, 32; the superseded 99 is dropped
    assert r03["n"] == "3" and r03["from"] == "MLflow"
    assert r03["H3.6M MPJPE · paper (Human3.6M)"] == "28.6"
    r001 = _row(b, "0.01")
    assert r001[ours_in] == "28.0" and r001["n"] == "1"
    assert _row(b, "1")[ours_in] == MISSING and _row(b, "1")["n"] == MISSING
    coarse = _row(b, "Coarse Pose")  # stage-1 output of the r-sweep, one run per seed: 33, 35, 37
    assert coarse[ours_in] == "35.0 ± 2.0" and coarse["n"] == "3"
    assert [r[0] for r in b.rows] == ["0.01", "0.3", "1", "Coarse Pose"]
    prov = " ".join(t.provenance)
    assert all(i in prov for i in ids["r03"]) and ids["old"][0] not in prov
    md = (Path(rep.readme).parent / "generated" / "table7.md").read_text()
    assert "888.8" not in md and "777.7" not in md  # CSV and non-sweep experiments ignored


def test_table1_and_table5_from_the_layers_sweep(built) -> None:
    _, rep, _, _ = built
    b1 = _table(rep, "table1").blocks[0]
    r = _row(b1, "H3.6M → H3.6M")
    assert r["MPJPE · paper"] == "30.4" and r["Background attention · paper"] == "73%"
    assert r["MPJPE · ours (embedded synthetic)"] == "51.0 ± 1.4"  # 50, 52
    assert r["Background attention (30-px rule) · ours (embedded synthetic)"] == "71.0 ± 1.4%"
    assert r["Background attention (exact mask) · ours (embedded synthetic)"] == MISSING
    assert r["n"] == "2"
    b5 = _table(rep, "table5").blocks[0]
    wo = b5.rows[0]
    w_in = dict(zip(b5.header, b5.rows[2], strict=True))
    assert wo[0] == "w/o PGTL" and "51.0 ± 1.4" in wo
    # w/ PGTL: no sweep run -> the pipeline's gt model (coarse 40.12, bg 61.04 / 55.04).
    assert w_in["MPJPE · ours (embedded synthetic)"] == "40.1"
    assert w_in["Background attention (exact mask) · ours (embedded synthetic)"] == "55.0%"
    assert w_in["from"] == "pipeline" and w_in["MPJPE · paper"] == "29.2"


def test_tables_4_9_10_11_fallbacks_and_missing(built) -> None:
    _, rep, _, _ = built
    b4 = _table(rep, "table4").blocks[0]
    coarse, refined = _row(b4, "Coarse Pose"), _row(b4, "Refined Pose")
    key = next(h for h in b4.header if h.startswith("in-domain"))
    assert (coarse[key], refined[key]) == ("40.1", "41.1")  # the pipeline's gt model
    assert refined["from"] == "pipeline"
    assert _row(b4, "end-to-end w/ fine")[key] == MISSING
    b9 = _table(rep, "table9").blocks[0]
    assert _row(b9, "ImageNet")["H3.6M MPJPE · paper (Human3.6M)"] == "35.2"
    assert all(r[-1] == MISSING and r[-2] == MISSING for r in b9.rows)
    b10 = _table(rep, "table10").blocks[0]
    assert _row(b10, "resnet18_s4")["from"] == "pipeline"  # our default backbone, extra row
    assert _row(b10, "HRNet-w32")["n"] == MISSING
    b11 = _table(rep, "table11").blocks[0]
    after = _row(b11, "Normalization after")
    assert after["cross-domain MPJPE · ours (embedded synthetic, cross domain)"] == "81.0 ± 1.4"
    assert after["n"] == "2" and after["from"] == "CSV"  # the stopped trial is left out
    search = _table(rep, "search").blocks[0]
    assert search.header[1] == "train.lr"  # the searched value, from MLflow params
    assert [r[1] for r in search.rows] == ["0.0003", "0.001"]  # best first
    other = _table(rep, "sweeps_other").blocks[0]
    rows = {(r[0], r[1], r[3]): r for r in other.rows}  # (table, row, epochs)
    assert "45.0" in rows[("stage2-depth", "2", MISSING)]  # no budget logged
    # A lifter run (column tag "baseline") shows the lifter's own metrics, per budget.
    assert rows[("lifter", "2D-only lifter", "45")][4:7] == ("61.0 ± 1.4", "90.0 ± 0.0", "2")
    assert rows[("lifter", "2D-only lifter", "35")][4:7] == ("161.0 ± 1.4", "190.0 ± 0.0", "2")


def test_synthetic_label_everywhere_and_provenance(built) -> None:
    _, rep, _, ids = built
    readme = rep.readme.read_text()
    assert "SYNTHETIC" in readme and "embedded (SYNTHETIC)" in readme
    for t in rep.tables:
        assert "ours (embedded synthetic" in t.caption, t.key
        assert not any("ours (Human3.6M)" in h for b in t.blocks for h in b.header)
        assert any("git commit" in p for p in t.provenance)
    prov = " ".join(_table(rep, "table2_p1").provenance)
    assert f"MLflow run {ids['eval_gt'][0]}" in prov and "MLflow run not found" in prov
    # Training budgets: the pipeline's from its curves, a sweep's from its runs' params.
    assert "epochs: stage 1 3 + stage 2 2, lifter 5" in prov
    assert "epochs: stage 1 20 + stage 2 15" in " ".join(_table(rep, "table7").provenance)
    for t in rep.tables:
        assert t.title in readme


def test_figures_written_and_readable(built) -> None:
    from matplotlib.image import imread

    _, rep, _, _ = built
    names = {f.path.name for f in rep.figures}
    for expect in (
        "fig3_attention_gt_test.png",
        "fig4_joint_attention_gt_cross.png",
        "fig9_kept_tokens_sh_test.png",
        "fig11_joint_area_gt_test.png",
        "fig8_curves_gt.png",
        "ablation_table7.png",
    ):
        assert expect in names
    for f in rep.figures:
        assert f.path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = imread(f.path)
        assert img.shape[0] > 100 and img.shape[1] > 100 and img.std() > 0
        assert f"generated/{f.path.name}" in rep.readme.read_text()
        assert "synthetic" in f.caption


def _check_latex(tex: str) -> None:
    assert tex.count("\\begin{tabular}") == tex.count("\\end{tabular}") >= 1
    assert tex.count("\\begin{table*}") == tex.count("\\end{table*}") == 1
    unescaped = re.sub(r"\\[{}&%_#$]", "", tex)
    assert unescaped.count("{") == unescaped.count("}")
    for body in re.findall(r"\\begin\{tabular\}\{([lr]+)\}(.*?)\\end\{tabular\}", tex, re.S):
        ncols = len(body[0])
        for line in body[1].splitlines():
            if line.endswith("\\\\"):
                assert re.sub(r"\\&", "", line).count("&") == ncols - 1, line
    assert "±" not in tex and "–" not in tex  # mapped to LaTeX


def test_latex_files_are_balanced(built) -> None:
    root, rep, _, _ = built
    files = sorted((root / "reports" / "generated").glob("*.tex"))
    assert {f.stem for f in files} == {t.key for t in rep.tables}
    for f in files:
        _check_latex(f.read_text())


def test_latex_escapes_specials() -> None:
    t = Table("x", "t", "50% of a_b & c", (Block("", ("a", "b"), (("1 ± 2", "–"),)),))
    tex = table_latex(t)
    assert r"50\% of a\_b \& c" in tex and r"1 $\pm$ 2 & --" in tex
    _check_latex(tex)


def test_cli_and_stage_rebuild_and_clean(built, tmp_path, monkeypatch) -> None:
    """``python -m lbi.report.build`` and the DVC stage CLI on a params file agree."""
    root, _, uri, _ = built
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "sweeps").symlink_to(root / "sweeps")  # the default --sweeps-dir
    out = tmp_path / "reports"
    params = tmp_path / "params.yaml"
    params.write_text(
        "paths:\n"
        f"  store_in: {root / 'store_in'}\n  metrics: {root / 'metrics'}\n  eval: {root / 'eval'}\n"
        f"  plots: {root / 'plots'}\n  prune: {root / 'prune'}\n  reports: {out}\n"
        "data:\n  train_sources: [gt]\n"
    )
    stale = out / "generated" / "fig3_attention_old_test.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")
    from lbi.report.build import main

    assert main(["--params", str(params)]) == 0
    readme = (out / "README.md").read_text()
    assert "31.0 ± 1.0" in readme  # MLflow runs found through MLFLOW_TRACKING_URI
    assert "81.0 ± 1.4" in readme  # CSV fallback from data/sweeps
    assert not stale.exists()
    assert not (out / "generated" / "fig3_attention_sh_test.png").exists()  # sh not trained
    import pipeline.report

    (out / "README.md").unlink()
    monkeypatch.setattr(sys, "argv", ["pipeline.report", "--params", str(params), "--no-progress"])
    pipeline.report.main()
    assert (out / "README.md").read_text() == readme  # same inputs, same report


# ---------------------------------------------------------------------------------------
# units: aggregation, tags, row rules, the paper's numbers
# ---------------------------------------------------------------------------------------
def test_aggregate_sample_std() -> None:
    st = aggregate([1.0, 2.0, 3.0, 4.0, None, float("nan")])
    assert st is not None and st.n == 4 and st.mean == 2.5
    assert st.std == pytest.approx(1.2909944, rel=1e-6)  # ddof = 1
    assert fmt_stat(st) == "2.5 ± 1.3" and fmt_stat(aggregate([7.25])) == "7.2"
    assert aggregate([None]) is None and fmt_stat(None) == MISSING


def test_tags_and_row_rules() -> None:
    assert [norm_table(x) for x in ("Table 7", "table7", 7, "search")] == ["7", "7", "7", "search"]

    def rec(
        row: str, column: str | None = None, cell: str | None = None, seed=None, t0=0.0
    ) -> RunRecord:
        return RunRecord(
            "id" + row + str(seed) + str(t0),
            "mlflow",
            "7",
            row,
            {"x": 1.0},
            column,
            cell,
            seed,
            start_time=t0,
        )

    assert R.retention(rec("MPJPE", "0.3")) == ["0.3"] and R.retention(rec("r=1.0")) == ["1"]
    assert R.retention(rec("Coarse Pose")) == ["coarse"]
    assert R.layers(rec("0/2")) == ["pgtl,pgtl,tl"] and R.layers(rec("tl,tl,tl")) == ["tl,tl,tl"]
    assert R.progressive(rec("progressive")) == ["coarse", "refined"]
    assert R.progressive(rec("end-to-end w/ both supervision")) == ["e2e_both"]
    assert R.normalization(rec("Two Cross-attention")) == ["two_cross"]
    assert R.backbone(rec("HRNet-w32", cell="hrnet_w32")) == ["hrnetw32"]
    assert R.pgtl(rec("w/o PGTL")) == ["wo"] and R.pgtl(rec("w/ PGTL")) == ["w"]
    kept = latest_per_seed([rec("a", seed=0, t0=1.0), rec("a", seed=0, t0=2.0), rec("a")])
    assert sorted(r.start_time for r in kept) == [0.0, 2.0]
    t1, t2 = rec("s", seed=0, t0=1.0), rec("s", seed=0, t0=2.0)
    trials = [replace(t1, trial_key="a"), replace(t2, trial_key="b"), replace(t2, trial_key="a")]
    search = [replace(t, table="search") for t in trials]
    assert len(latest_per_seed(search)) == 2  # same seed, different sampled configs
    # A grid trial rerun on new code/data (new trial key): only the latest counts.
    assert [r.trial_key for r in latest_per_seed(trials[:2])] == ["b"]


def test_run_budget_reads_epochs_by_mode() -> None:
    def run_budget(r: RunRecord) -> str | None:
        return r.budget

    def rec(**params: object) -> RunRecord:
        return RunRecord("id", "mlflow", "4", "x", {"x": 1.0},
                         params={k: str(v) for k, v in params.items()})  # fmt: skip

    s12 = {"train_stage1.epochs": 20, "train_stage2.epochs": 15}
    assert run_budget(rec(mode="progressive", **s12)) == "stage 1 20 + stage 2 15"
    assert run_budget(rec(mode="e2e_fine", **s12)) == "end to end 35"
    assert run_budget(rec(mode="stage1", **s12)) == "stage 1 20"
    assert run_budget(rec(mode="lifter", **{"train.epochs": 35})) == "lifter 35"
    capped = rec(mode="lifter", **{"train.epochs": 2, "train.max_batches_per_epoch": 4})
    assert run_budget(capped) == "lifter 2 (capped at 4 batches/epoch)"
    assert run_budget(rec(mode="progressive", epochs=35)) == "progressive 35"  # a CSV row
    # A schedule other than the paper's (lr 1e-3 x0.9 every 4 epochs) is part of the budget.
    paper = {f"train_stage{i}.{k}": v for i in (1, 2)
             for k, v in (("lr", 0.001), ("lr_decay", 0.9), ("lr_decay_every", 4))}  # fmt: skip
    assert rec(mode="progressive", **s12, **paper).epochs == "20 + 15"
    annealed = {**paper, "train_stage2.lr_decay": 0.8, "train_stage2.lr_decay_every": 1}
    r = rec(mode="progressive", **s12, **annealed)
    assert r.epochs == "20 + 15 (stage 2: lr 0.001 x0.8 every epoch)"
    assert r.epochs_words == "20 + 15 epochs; stage 2: lr 0.001 x0.8 every epoch"
    assert r.budget == "stage 1 20 + stage 2 15 (stage 2: lr 0.001 x0.8 every epoch)"
    assert r.epochs_total == 35
    assert run_budget(rec(mode="progressive")) is None and run_budget(rec()) is None


def test_table4_keeps_runs_that_fine_tuned_stage_1_apart_from_the_paper_rows() -> None:
    from lbi.report.ablations import FT_LABEL, PipelineConfig, pipeline_records, table4
    from lbi.report.collect import SourceResult

    def rec(seed: int, ft: bool, cross_refined: float) -> RunRecord:
        m = {"test_coarse_p1_mm": 80.0, "test_refined_p1_mm": 79.0,
             "cross_coarse_mpjpe_mm": 101.0, "cross_refined_mpjpe_mm": cross_refined}  # fmt: skip
        return RunRecord(f"r{seed}{ft}", "mlflow", "4", "progressive", m, "Human3.6m,3DHP",
                         "progressive_ft" if ft else "progressive", seed, source_2d="gt",
                         synthetic=True, dataset="embedded", finetune_stage1=ft)  # fmt: skip

    runs = [rec(0, False, 100.0), rec(1, False, 102.0), rec(0, True, 96.0), rec(1, True, 98.0)]
    t, _ = table4(runs, [], [])
    rows = {r[0]: dict(zip(t.blocks[0].header, r, strict=True)) for r in t.blocks[0].rows}
    cross = next(h for h in t.blocks[0].header if h.startswith("cross-domain"))
    assert rows["Refined Pose"][cross] == "101.0 ± 1.4"  # the paper's frozen schedule only
    assert rows[f"Refined Pose {FT_LABEL}"][cross] == "97.0 ± 1.4"
    assert rows[f"Coarse Pose {FT_LABEL}"][cross] == "101.0 ± 0.0"  # its own output, not refined
    assert rows[f"Refined Pose {FT_LABEL}"]["H3.6M MPJPE · paper (Human3.6M)"] == MISSING
    # The pipeline's own model fills the fine-tuned rows only, when its stage 2 fine-tunes.
    tables = {"stage2_phase": "e2e_both"}  # what the evaluate stage records
    src = SourceResult("gt", rec(0, True, 95.0).metrics, None, tables, None, None, {}, {}, None)
    fb = pipeline_records(src, PipelineConfig())
    t, _ = table4([], fb, [src])
    rows = {r[0]: r for r in t.blocks[0].rows}
    assert (
        rows["Refined Pose"][-1] == MISSING and rows[f"Refined Pose {FT_LABEL}"][-1] == "pipeline"
    )


def test_pipeline_rows_say_when_stage_2_fine_tuned_stage_1() -> None:
    from lbi.report.collect import SourceResult
    from lbi.report.tables import model_label

    def src(phase: str | None) -> SourceResult:
        return SourceResult("gt", {}, None, {"stage2_phase": phase}, None, None, {}, {}, None)

    assert model_label("refined", "LBI refined (stage 2)", src("stage2"), "x") == (
        "LBI refined (stage 2)"
    )
    assert "fine-tuned" in model_label("refined", "LBI refined (stage 2)", src("e2e_both"), "x")
    assert "fine-tuned" in model_label("coarse", "LBI coarse (stage 1)", src("e2e_both"), "x")
    assert model_label("baseline", "2D-only baseline", src("e2e_both"), "mlp") == (
        "2D-only baseline (mlp)"
    )


def test_data_labels_never_claim_real_data_without_evidence() -> None:
    from lbi.report.labels import data_label

    syn, real = data_label([(True, "embedded")]), data_label([(False, "h36m")])
    assert syn.in_domain == "ours (embedded synthetic)" and real.in_domain == "ours (Human3.6M)"
    assert real.cross_domain == "ours (MPI-INF-3DHP)"
    assert data_label([(False, "h36m"), (True, "embedded")]).synthetic is True
    assert data_label([(None, None)], default=syn).synthetic is True  # CSV row, synthetic report
    assert data_label([(None, None)], default=real).in_domain == "ours (data unknown)"
    assert data_label([], default=real) == real
    assert data_label([(False, "other")]).in_domain == "ours (data unknown)"


def test_table2_on_real_human36m_uses_the_paper_action_order() -> None:
    from lbi.actions import H36M_ACTIONS
    from lbi.report.collect import SourceResult
    from lbi.report.tables import per_action_table

    per = {a: 40.0 + i for i, a in enumerate(H36M_ACTIONS)}
    src = SourceResult(
        "cpn",
        {"test_refined_p1_mm": 47.0},
        Path("metrics/cpn.json"),
        {
            "per_action": {"refined": {"p1": dict(reversed(per.items()))}},
            "dataset": "h36m",
            "synthetic": False,
        },
        Path("eval/cpn/tables.json"),
        None,
        {},
        {},
        None,
    )
    t = per_action_table({"cpn": src}, "p1")
    ours = next(b for b in t.blocks if b.title.startswith("CPN 2D · ours"))
    assert ours.header[1:16] == H36M_ACTIONS and "ours (Human3.6M)" in ours.title
    row = _row(ours, "LBI refined")
    assert row["Directions"] == "40.0" and row["WalkTogether"] == "54.0"
    assert row["n"] == "1" and row["Model"] == "LBI refined (stage 2) · ours (Human3.6M)"
    assert "SYNTHETIC" not in " ".join(t.provenance) and "(real)" in " ".join(t.provenance)


def test_paper_tables_consistent() -> None:
    for key in ("table2_sh", "table2_gt"):
        g = TABLES[key].rows["Graformer (Zhao, Wang, and Tian 2022)"]
        assert abs(sum(g[:15]) / 15 - g[15]) < 0.1  # a 2D-only row's Avg. is its column mean
    assert TABLES["table7"].cell("0.3", "MPJPE") == 28.6
    assert TABLES["table4"].cell("Refined Pose", "3DHP") == TABLES["table3"].cell("Ours", "MPJPE")
    with pytest.raises(KeyError, match="no row"):
        TABLES["table7"].cell("0.5", "MPJPE")


@pytest.mark.skipif(not SEED_TEXT.exists(), reason="paper text not available")
def test_paper_numbers_match_the_paper_text() -> None:
    """Every transcribed row appears in the paper text as printed (label, tab, values)."""
    text = SEED_TEXT.read_text().replace("<u>", "").replace("</u>", "").replace(" *", "*")

    def printed(v: float | int | None) -> str:
        return "-" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v)

    for key, t in TABLES.items():
        for row, values in t.rows.items():
            if key.startswith(("table2", "table8")):
                assert len(values) == len(PAPER_ACTION_COLUMNS) + 1
            cells = [printed(v) for v in values]
            if key in ("table1", "table5"):  # background attention printed as "73%"
                cells[1] = f"{values[1]:.0f}%"
            line = "\t".join(cells)
            if key in (
                "table2_sh",
                "table2_cpn",
                "table2_gt",
                "table3",
                "table4",
                "table8_sh",
                "table8_cpn",
                "table11",
            ):
                line = f"{row.replace(' *', '*')}\t{line}"
            if key in ("table7", "table9", "table10"):
                continue  # transposed / side by side: checked below
            assert line in text, (key, row, line)
    assert "MPJPE\t28.9\t28.6\t29.0\t29.2" in text
    assert "Resnet50\t33.7\tHRNet-w32\t28.6" in text and "Resnet101\t37.5\tHRNet-w48\t30.3" in text
    assert "ImageNet\tImage Classification\t35.2" in text
    assert "MS COCO\t2D human pose estimation\t28.6" in text


def test_header_says_how_the_encoder_started(tmp_path) -> None:
    from lbi.params import load_params
    from lbi.report.build import describe_encoder_init

    root = Path(__file__).resolve().parents[1]
    p = load_params(root / "params.yaml")
    p = replace(p, paths=replace(p.paths, models=str(tmp_path / "models")))
    assert "record" in describe_encoder_init(p) and "missing" in describe_encoder_init(p)
    rec = tmp_path / "models" / "pretrain2d" / "backbone.json"
    rec.parent.mkdir(parents=True)
    rec.write_text(
        json.dumps({"train_samples": 5628, "val_test_error_px": 3.79, "val_cross_error_px": 5.09})
    )
    text = describe_encoder_init(p)
    assert "pretrain2d" in text and "5628 crops" in text and "SYNTHETIC" in text
    assert "3.8 px in-domain test / 5.1 px cross-domain" in text
    off = replace(p, pretrain2d=replace(p.pretrain2d, enabled=False))
    assert describe_encoder_init(off) == "random initialisation"
    own = replace(off, model=replace(off.model, pretrained="w32.pth"))
    assert describe_encoder_init(own) == "`w32.pth`"


def test_header_says_the_training_schedule_and_where_it_is_not_the_papers() -> None:
    from lbi.params import load_params
    from lbi.report.build import describe_schedule

    p = load_params(Path(__file__).resolve().parents[1] / "params.yaml")
    t2 = replace(p.train_stage2, epochs=15, lr=0.001, lr_decay=0.8, lr_decay_every=1)
    p = replace(p, train_stage1=replace(p.train_stage1, epochs=20, lr=0.001, lr_decay=0.9,
                                        lr_decay_every=4, batch_size=64), train_stage2=t2)  # fmt: skip
    text = describe_schedule(p)
    assert "stage 1 20 epochs, Adam lr 0.001 x0.9 every 4 epochs;" in text  # the paper's
    assert ("stage 2 15 epochs, Adam lr 0.001 x0.8 every epoch (**not the paper's** x0.9 every "
            "4 epochs)") in text  # fmt: skip
    assert f"the lifter {p.baseline.train.epochs} epochs" in text
    assert text.endswith("batch 64 (the paper: 128)")

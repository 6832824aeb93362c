"""Per-trial results and the per-cell mean ± std summary of a finished sweep."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from lbi.sweep.spec import SweepSpec, finetunes_stage1

_PROVENANCE = (
    ("dataset", "lbi.dataset"),
    ("synthetic", "lbi.synthetic"),
    ("source_2d", "lbi.source_2d"),
    ("git_commit", "lbi.git_commit"),
    ("params_md5", "dvc.params_md5"),
)


def results_frame(grid: Any) -> pd.DataFrame:
    """One row per trial: cell, seed, status, provenance, overrides, final metrics.

    Provenance (from the runs' MLflow tags): ``dataset``, ``synthetic``, ``source_2d``,
    ``git_commit``, ``params_md5``, so a CSV copied elsewhere still says what it measured.
    """
    rows = []
    for r in grid:
        cfg, m = r.config or {}, dict(r.metrics or {})
        cell = cfg.get("cell", {})
        # incomplete: no final evaluation (stopped early by ASHA, or the sweep was interrupted)
        status = "error" if r.error else ("completed" if m.get("final") == 1.0 else "incomplete")
        row: dict[str, Any] = {
            "sweep": cfg.get("sweep"),
            "table": cell.get("table") or cfg.get("table"),
            "cell": cell.get("name"),
            "row": cell.get("row") or cell.get("name"),
            "column": cell.get("column"),
            "mode": cell.get("mode"),
            "seed": cfg.get("seed"),
            "status": status,
            "trial_id": m.get("trial_id"),
            "epochs": m.get("epoch_global"),
            "seconds": m.get("time_total_s"),
            # stage 2 trained stage 1 on (train_stage2.finetune_stage1), not the paper's frozen
            "finetune_stage1": finetunes_stage1(cfg) if "base" in cfg and cell else None,
        }
        tags = cfg.get("runtime", {}).get("tags", {})
        for col, tag in _PROVENANCE:
            row[col] = tags.get(tag)
        row.update({f"search.{k}": v for k, v in cfg.get("search", {}).items()})
        row.update(
            {k: v for k, v in m.items() if k.startswith(("test_", "cross_", "val_", "train_loss"))}
        )
        rows.append(row)
    return pd.DataFrame(rows)


def summarize(spec: SweepSpec, df: pd.DataFrame) -> pd.DataFrame:
    """Long table: row, column, metric, mean, std (over seeds), n; completed trials only."""
    ok = df[df["status"] == "completed"] if "status" in df else df
    out = []
    for e in spec.summary_entries():
        vals = ok.loc[ok["cell"] == e.cell, e.metric] if e.metric in ok else pd.Series(dtype=float)
        vals = vals.dropna().astype(float)
        out.append(
            {
                "table": spec.table,
                "row": e.row,
                "column": e.column,
                "cell": e.cell,
                "metric": e.metric,
                "mean": vals.mean() if len(vals) else math.nan,
                "std": vals.std(ddof=1) if len(vals) > 1 else (0.0 if len(vals) else math.nan),
                "n": len(vals),
            }
        )
    return pd.DataFrame(out)


def format_summary(summary: pd.DataFrame) -> str:
    """Wide ``mean ± std`` table in the paper's row/column layout."""
    if summary.empty:
        return "(no results)"
    cellstr = summary.apply(
        lambda r: "-" if r["n"] == 0 else f"{r['mean']:.1f} ± {r['std']:.1f} (n={r['n']})", axis=1
    )
    wide = summary.assign(value=cellstr).pivot_table(
        index="row", columns="column", values="value", aggfunc="first", sort=False
    )
    return wide.fillna("").to_string()


def spec_record(spec: SweepSpec) -> dict[str, Any]:
    """``spec.json``: the sweep's cells, seeds and summary layout (JSON types)."""
    record = {
        "name": spec.name,
        "table": spec.table,
        "source": spec.source,
        "seeds": list(spec.seeds),
        "cells": [dataclasses.asdict(c) for c in spec.cells],
        "entries": [dataclasses.asdict(e) for e in spec.summary_entries()],
    }
    return json.loads(json.dumps(record))  # tuples -> lists, as read back


def write_results(spec: SweepSpec, df: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """``results.csv`` (per trial), ``summary.csv`` (per cell) and ``spec.json``, atomically."""
    from lbi.io import save_json, save_text

    summary = summarize(spec, df)
    save_text(folder / "results.csv", df.to_csv(index=False))
    save_text(folder / "summary.csv", summary.to_csv(index=False))
    save_json(folder / "spec.json", spec_record(spec))
    return summary

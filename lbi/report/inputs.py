"""What the report reads: sweep run records and the DVC pipeline's outputs. Never MLflow.

- sweeps: ``<results_dir>/*.jsonl`` (:mod:`lbi.record`), finished and non-smoke records only;
- per 2D source with ``<metrics>/<source>.json``: that file, ``<eval>/<source>/tables.json``,
  ``examples.npz`` and ``records.jsonl`` (the pipeline's own records, sweep "pipeline"),
  ``<plots>/<source>/{stage1,stage2,lifter}.json`` (curves), ``<prune>/<source>/afsm.json``;
- ``<models>/pretrain2d/backbone.json`` (how the image encoder started).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from lbi.params import Paths
from lbi.record import RunRecord, finished, read_records

SOURCES = ("sh", "cpn", "gt")  # the paper's block order in Tables 2 and 8
CURVES = ("stage1", "stage2", "lifter")


def shown(path: str | Path) -> str:
    """A path as the report prints it: relative (to the working directory) and POSIX."""
    p = Path(path)
    if p.is_absolute():
        p = p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else Path(*p.parts[-2:])
    return p.as_posix()


@dataclass(frozen=True)
class Sweeps:
    """Finished, non-smoke sweep records and the results file each came from."""

    records: tuple[RunRecord, ...]
    file_of: dict[tuple[str, str], str]  # (sweep, key) -> "results/retention.jsonl": a model
    # two sweeps share has one key, a record in each file
    left_out: dict[str, str]  # results file -> "2 failed, 1 smoke" (records never used)
    stale: dict[str, str]  # results file -> "14 of 14": records trained by other code than today's


def load_sweeps(results_dir: str | Path) -> Sweeps:
    """Every ``*.jsonl`` under ``results_dir`` (sorted by name); a malformed line raises
    :class:`lbi.record.RecordError` naming the file and line."""
    records: list[RunRecord] = []
    file_of: dict[tuple[str, str], str] = {}
    left_out: dict[str, str] = {}
    stale: dict[str, str] = {}
    for f in sorted(Path(results_dir).glob("*.jsonl")):
        name = f"{Path(results_dir).name}/{f.name}"
        kept = finished(every := read_records(f))
        used = {id(r) for r in kept}
        dropped = Counter("smoke" if r.smoke else r.status for r in every if id(r) not in used)
        if dropped:
            left_out[name] = ", ".join(f"{n} {k}" for k, n in sorted(dropped.items()))
        if old := sum(r.code_fingerprint != today_code(r.mode) for r in kept):
            stale[name] = f"{old} of {len(kept)}"
        records += kept
        file_of.update({(r.sweep, r.key): name for r in kept})
    return Sweeps(tuple(records), file_of, left_out, stale)


def today_code(mode: str) -> str:
    """The code fingerprint a model of ``mode`` trained today would carry: a record with
    another is *stale by code* (:mod:`lbi.record`). Used, and named in the report's header:
    a code change need not move a number, and ``sweeps/<sweep>.py --revalidate`` reruns one
    record per mode to re-key them when it did not."""
    from lbi.experiment import code_stages
    from lbi.fingerprint import repo_root

    return _code_fingerprint(code_stages(mode), repo_root())


@cache
def _code_fingerprint(stages: tuple[str, ...], root: Path) -> str:
    """:func:`lbi.fingerprint.code_fingerprint`, once per process per checkout (a report
    or ``--check`` reads it for every record)."""
    from lbi.fingerprint import code_fingerprint

    return code_fingerprint(stages, root)


@dataclass(frozen=True)
class PipelineSource:
    """The DVC pipeline's outputs for one 2D source (one run of each model, one seed)."""

    source: str
    metrics: dict[str, float]
    tables: dict[str, Any]  # per_action[model][protocol][action] (mm), dataset, synthetic, ...
    records: tuple[RunRecord, ...]  # its own run records (empty if not written)
    curves: dict[str, list[dict[str, float]]]  # training histories by stage
    afsm: dict[str, Any]
    examples: dict[str, np.ndarray]
    files: tuple[str, ...]  # what was read, as shown

    def record(self, lifter: bool) -> RunRecord | None:
        """The pipeline's record of its lifter (``lifter=True``) or of its LBI model."""
        return next((r for r in self.records if (r.mode == "lifter") == lifter), None)


def _json(path: Path, files: list[str]) -> Any:
    if not path.exists():
        return {}
    files.append(shown(path))
    return json.loads(path.read_text(encoding="utf-8"))


def load_source(paths: Paths, source: str) -> PipelineSource | None:
    """The pipeline outputs of ``source``; None when it has no ``<metrics>/<source>.json``."""
    metrics_file = Path(paths.metrics) / f"{source}.json"
    if not metrics_file.exists():
        return None
    ev = Path(paths.eval) / source
    files = [shown(ev / f) for f in ("examples.npz", "records.jsonl") if (ev / f).exists()]
    examples: dict[str, np.ndarray] = {}
    if (ev / "examples.npz").exists():
        with np.load(ev / "examples.npz") as z:
            examples = {k: z[k] for k in z.files}
    curves = {c: _json(Path(paths.plots) / source / f"{c}.json", files) for c in CURVES}
    return PipelineSource(
        source=source,
        metrics=_json(metrics_file, files),
        tables=_json(ev / "tables.json", files),
        records=tuple(finished(read_records(ev / "records.jsonl"))),
        curves={c: h for c, h in curves.items() if h},
        afsm=_json(Path(paths.prune) / source / "afsm.json", files),
        examples=examples,
        files=tuple(sorted(files)),
    )


def load_pipeline(paths: Paths) -> dict[str, PipelineSource]:
    """The sources (in :data:`SOURCES` order) the pipeline has evaluated."""
    out = {s: load_source(paths, s) for s in SOURCES}
    return {s: v for s, v in out.items() if v is not None}


def load_backbone(paths: Paths) -> dict[str, Any]:
    """``<models>/pretrain2d/backbone.json`` ({} if absent)."""
    return _json(Path(paths.models) / "pretrain2d" / "backbone.json", [])

"""A sweep on other data than ``params.yaml``'s: the store variants of ``sweeps/stores.yaml``
(issue 20: item 0's old look, item 3's larger test set).

:func:`variant_params` writes ``<out>/stores/<name>/params.yaml``: the given params with the
variant's ``embedded`` keys set and every ``paths.*`` but ``raw`` under that folder, so the
pipeline's own stores are never touched. :func:`prepare` makes what a trial reads there
with the pipeline's own stage commands (``preprocess``, ``pretrain2d``, ``detect2d`` of the
sweep's 2D source), once: ``prepared.json`` names the params text and stage code they were
made with, and a change to either makes them again. :func:`on_variant` names the sweep
``<sweep>-<name>`` and its tables ``<table>@<name>``: records of a variant differ from the
default's by data fingerprint, and never land in a paper table.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from lbi.config import ConfigError, load_yaml
from lbi.data.store import StoreError
from lbi.fingerprint import code_fingerprint, repo_root
from lbi.io import save_json, save_text
from lbi.params import check_output_paths, load_params
from lbi.sweep.spec import SweepSpec

VARIANTS_FILE = repo_root() / "sweeps" / "stores.yaml"
STAGES = ("preprocess", "pretrain2d", "detect2d")  # dvc.yaml's order; detect2d per source
MARK = "prepared.json"


def variants(path: Path = VARIANTS_FILE) -> dict[str, dict[str, Any]]:
    """The variants of ``path`` by name: ``{"about": str, "embedded": {key: value}}``."""
    doc = load_yaml(path)
    for name, v in doc.items():
        if not isinstance(v, dict) or set(v) != {"about", "embedded"} or not isinstance(v["embedded"], dict):  # fmt: skip
            raise ConfigError(f"{path}: variant {name!r} must be {{about: <text>, embedded: "
                              "{<key of params.yaml embedded>: <value>}}")  # fmt: skip
    return doc


def variant_params(params_file: Path, name: str, out_dir: Path) -> Path:
    """Write and return ``<out_dir>/stores/<name>/params.yaml`` (``out_dir`` relative to the
    working directory, where the stages run); an unknown variant or key is a ConfigError."""
    have = variants()
    if name not in have:
        raise ConfigError(f"--stores {name}: no such variant in {VARIANTS_FILE} ({sorted(have)})")
    d = load_yaml(params_file)  # as load_params reads it: strict, errors name the file
    if d["data"]["dataset"] != "embedded":
        raise ConfigError(f"{params_file}: --stores renders the embedded benchmark anew, but "
                          f"data.dataset is {d['data']['dataset']!r}; use data.dataset: embedded")  # fmt: skip
    if bad := sorted(set(have[name]["embedded"]) - set(d["embedded"])):
        raise ConfigError(f"{VARIANTS_FILE}: variant {name!r} sets {bad}, not keys of embedded")
    root = Path(out_dir) / "stores" / name
    d["embedded"].update(have[name]["embedded"])
    d["paths"] = {k: v if k == "raw" else (root / k).as_posix() for k, v in d["paths"].items()}
    head = f"# {params_file} on the stores of {VARIANTS_FILE.name}: {name} (lbi.sweep.stores)\n"
    f = save_text(root / "params.yaml", head + yaml.safe_dump(d, sort_keys=False))
    check_output_paths(load_params(f).paths, str(f))  # a bad value fails here, named
    return f


def on_variant(spec: SweepSpec, name: str) -> SweepSpec:
    """``spec`` as the sweep of variant ``name``: sweep and every table suffixed."""
    cells = tuple(dataclasses.replace(c, table=f"{c.table or spec.table}@{name}") for c in spec.cells)  # fmt: skip
    return dataclasses.replace(spec, name=f"{spec.name}-{name}", table=f"{spec.table}@{name}", cells=cells)  # fmt: skip


def wanted(params_file: Path, source: str) -> dict[str, str]:
    """What ``prepared.json`` must hold for the stores to be current."""
    text = Path(params_file).read_bytes()
    return {"params": hashlib.sha256(text).hexdigest()[:16], "source": source,
            "code": code_fingerprint(STAGES)}  # fmt: skip


def prepared(params_file: Path, source: str) -> bool:
    mark = Path(params_file).parent / MARK
    return mark.is_file() and json.loads(mark.read_text()) == wanted(params_file, source)


def prepare(params_file: Path, source: str) -> bool:
    """Run :data:`STAGES` on ``params_file`` unless :func:`prepared`; True if they ran.
    A failed stage is a :class:`~lbi.data.store.StoreError` naming it (its output is above);
    a rerun retries."""
    if prepared(params_file, source):
        return False
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(repo_root()), os.environ.get("PYTHONPATH"))))}  # fmt: skip
    for i, stage in enumerate(STAGES, 1):
        print(f"stores {Path(params_file).parent}: {stage} ({i}/{len(STAGES)})", flush=True)
        extra = ["--source", source] if stage == "detect2d" else []
        cmd = [sys.executable, "-m", f"pipeline.{stage}", "--no-progress", "--params", str(params_file), *extra]  # fmt: skip
        if (rc := subprocess.run(cmd, env=env).returncode) != 0:
            raise StoreError(f"{' '.join(cmd[1:])} failed (exit {rc}): the stores of "
                             f"{Path(params_file).parent} are not made; rerun the sweep to retry")  # fmt: skip
    save_json(Path(params_file).parent / MARK, wanted(params_file, source))
    return True

"""A sweep on another look of the embedded benchmark (issue 20 item 0), on stores of its own.

:func:`look_params` writes ``<out>/looks/<look>/params.yaml``: the given params with
``embedded.look`` set and every ``paths.*`` but ``raw`` under that folder, so the
pipeline's own stores are never touched. :func:`prepare` makes what a trial reads there
with the pipeline's own stage commands (``preprocess``, ``pretrain2d``, ``detect2d`` of
the sweep's 2D source), once: ``prepared.json`` names the params text and stage code they
were made with, and a change to either makes them again. Records of such a sweep differ
from the default look's by data fingerprint, and the driver gives them a sweep and table
of their own (``compare_lifter --look cues``: sweep ``lifter-cues``, table ``looks``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from lbi.fingerprint import code_fingerprint, repo_root
from lbi.io import save_json, save_text
from lbi.params import check_output_paths, load_params

STAGES = ("preprocess", "pretrain2d", "detect2d")  # dvc.yaml's order; detect2d per source
MARK = "prepared.json"


def look_params(params_file: Path, look: str, out_dir: Path) -> Path:
    """Write and return ``<out_dir>/looks/<look>/params.yaml`` (``out_dir`` relative to the
    working directory, where the stages run); a non-embedded dataset is a ValueError."""
    p = load_params(params_file)
    if p.data.dataset != "embedded":
        raise ValueError(f"{params_file}: --look renders the embedded benchmark anew, but data."
                         f"dataset is {p.data.dataset!r}; run it on data.dataset: embedded")  # fmt: skip
    d = yaml.safe_load(Path(params_file).read_text(encoding="utf-8"))
    root = Path(out_dir) / "looks" / look
    d["embedded"]["look"] = look
    d["paths"] = {k: v if k == "raw" else (root / k).as_posix() for k, v in d["paths"].items()}
    head = f"# {params_file} with embedded.look: {look}, paths under {root} (lbi.sweep.looks)\n"
    f = save_text(root / "params.yaml", head + yaml.safe_dump(d, sort_keys=False))
    check_output_paths(load_params(f).paths, str(f))  # an unknown look fails here, named
    return f


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
    A failed stage is a RuntimeError naming it (its output is above); a rerun retries."""
    if prepared(params_file, source):
        return False
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(repo_root()), os.environ.get("PYTHONPATH"))))}  # fmt: skip
    for i, stage in enumerate(STAGES, 1):
        print(f"look store {Path(params_file).parent}: {stage} ({i}/{len(STAGES)})", flush=True)
        extra = ["--source", source] if stage == "detect2d" else []
        cmd = [sys.executable, "-m", f"pipeline.{stage}", "--no-progress", "--params", str(params_file), *extra]  # fmt: skip
        if (rc := subprocess.run(cmd, env=env).returncode) != 0:
            raise RuntimeError(f"{' '.join(cmd[1:])} failed (exit {rc}); rerun the sweep to retry")
    save_json(Path(params_file).parent / MARK, wanted(params_file, source))
    return True

"""DVC experiments on a tiny copy of the project: ``dvc exp run --queue`` + ``dvc queue
start`` and ``dvc exp run --temp`` rerun only what ``prune.retention`` feeds (every output
they skip is restored from the cache), and the README's ``dvc exp show`` line fits a
100-column terminal."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.test_pipeline_e2e import ROOT, _run, tiny_params, tiny_repo

RERUN = {"prune@gt", "train_stage2@gt", "evaluate@gt", "report"}


def _params() -> dict:
    p = tiny_params()
    p["data"].update(sources=["gt"], train_sources=["gt"])
    for sec in (p["train_stage1"], p["train_stage2"], p["lifter"]["train"],
                p["pretrain2d"]["train"]):  # fmt: skip
        sec.update(epochs=1, max_batches_per_epoch=2)
    return p


def _wait_for_queue(repo: Path, env: dict[str, str], name: str, timeout: float = 1800) -> str:
    """Poll ``dvc queue status`` until task ``name`` succeeded or failed; its status."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        rows = _run(["dvc", "queue", "status"], repo, env).splitlines()
        done = [r.split()[-1] for r in rows if name in r.split() and r.split()[-1] in
                ("Success", "Failed")]  # fmt: skip
        if done:
            return done[0]
        time.sleep(10)
    raise TimeoutError(f"queued experiment {name} still running after {timeout:.0f} s")


def _json(cmd: list[str], repo: Path, env: dict[str, str]) -> Any:
    """A dvc command's ``--json`` stdout (its warnings go to stderr)."""
    r = subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, check=True)
    return json.loads(r.stdout or "{}")


def _exps(repo: Path, env: dict[str, str]) -> dict[str, dict]:
    """``dvc exp show --json``: experiment name -> its data (params, metrics)."""
    rows = _json(["dvc", "exp", "show", "--json"], repo, env)
    out = {"baseline": rows[1]["data"]}
    for row in rows:
        for e in row.get("experiments") or []:
            out[e["name"]] = e["revs"][0]["data"]
    return out


@pytest.mark.slow
def test_dvc_exp_queue_and_temp(tmp_path):
    repo, env = tiny_repo(tmp_path, _params())
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the stages' imports write lbi/**/__pycache__
    _run(["dvc", "repro"], repo, env)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "baseline"], repo, env)
    assert (repo / "lbi" / "__pycache__").is_dir()
    assert _json(["dvc", "status", "--json"], repo, env) == {}  # .dvcignore

    out = _run(["dvc", "exp", "run", "--temp", "-S", "prune.retention=0.1", "-n", "temp"],
               repo, env)  # fmt: skip
    assert set(re.findall(r"Running stage '([^']+)'", out)) == RERUN, out
    _run(["dvc", "exp", "run", "--queue", "-S", "prune.retention=0.5", "-n", "queued"], repo, env)
    try:
        # not captured: the queue's worker would hold the pipes open until the queue is empty
        subprocess.run(["dvc", "queue", "start"], cwd=repo, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        status = _wait_for_queue(repo, env, "queued")
        logs = _run(["dvc", "queue", "logs", "queued"], repo, env)
        assert status == "Success", logs[-4000:]
        assert set(re.findall(r"Running stage '([^']+)'", logs)) == RERUN, logs[-4000:]
    finally:
        _run(["dvc", "queue", "stop", "--kill"], repo, env)

    exps = _exps(repo, env)
    got = {}
    for name, r in (("baseline", 0.3), ("temp", 0.1), ("queued", 0.5)):
        data = exps[name]
        assert data["params"]["params.yaml"]["data"]["prune"]["retention"] == r, name
        got[name] = data["metrics"]["metrics/gt.json"]["data"]
    assert len({m["cross_refined_mpjpe_mm"] for m in got.values()}) == 3  # each retention's own
    assert len({m["test_lifter_p1_mm"] for m in got.values()}) == 1  # the lifter: not retrained
    # the workspace is the baseline's
    assert "retention: 0.3" in (repo / "params.yaml").read_text()
    assert _json(["dvc", "status", "--json"], repo, env) == {}

    # the README's `dvc exp show` line, in a 100-column terminal: no column cut off
    (line,) = [ln.split("#")[0].strip() for ln in (ROOT / "README.md").read_text().splitlines()
               if ln.startswith("dvc exp show")]  # fmt: skip
    argv = [w.strip("'") for w in re.findall(r"'[^']*'|\S+", line)]
    table = _run([*argv, "--no-pager"], repo, {**env, "COLUMNS": "100"})
    assert "…" not in table and all(n in table for n in ("temp", "queued")), table
    assert max(len(ln) for ln in table.splitlines()) <= 100, table

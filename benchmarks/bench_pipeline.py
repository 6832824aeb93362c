"""Wall time and peak memory of every DVC stage of ``dvc repro`` (prints a table).

Runs the pipeline stage by stage (``dvc repro --single-item --force <stage>`` in DVC's
order) in a temporary copy of the repository, so the workspace is untouched, and
measures each stage with ``/usr/bin/time``-style accounting from ``resource``.

    python benchmarks/bench_pipeline.py [--params params.yaml] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lbi.io import copy_worktree

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(ROOT / "params.yaml"))
    ap.add_argument("--keep", default=None, help="run in this folder and keep it")
    args = ap.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lbi-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    copy_worktree(ROOT, work)
    shutil.copy2(args.params, work / "params.yaml")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "MLFLOW_DISABLE_TELEMETRY": "true", "TQDM_DISABLE": "1"}  # fmt: skip
    git = ["git", "-c", "user.email=b@b", "-c", "user.name=bench"]
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "bench"]):
        subprocess.run([*git, *cmd], cwd=work, check=True, env=env)
    stages = _topological(work, env)
    print(f"{'stage':28s} {'wall s':>8s} {'peak RSS MB':>12s}")
    total = 0.0
    for st in stages:
        t0 = time.time()
        rss_file = work / ".bench_rss"
        cmd = [
            "/usr/bin/time",
            "-f",
            "%M",
            "-o",
            str(rss_file),
            "dvc",
            "repro",
            "--single-item",
            "--force",
            st,
        ]
        r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        dt = time.time() - t0
        peak_kb = float(rss_file.read_text().split()[-1]) if rss_file.exists() else float("nan")
        total += dt
        mark = "" if r.returncode == 0 else "  FAILED"
        print(f"{st:28s} {dt:8.1f} {peak_kb / 1024:12.0f}{mark}", flush=True)
        if r.returncode != 0:
            print(r.stderr[-2000:])
            break
    print(f"{'total':28s} {total:8.1f}")
    print("(peak RSS: the largest process of the stage, from GNU time)")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _topological(work: Path, env: dict[str, str]) -> list[str]:
    """Stage names, dependencies first (``dvc dag --dot`` edges; ties in dvc.yaml order).

    Not ``dvc repro --dry``: on a fresh copy it stops at the first stage whose input an
    earlier stage has not written yet.
    """

    def dvc(*cmd: str) -> str:
        return subprocess.run(
            ["dvc", *cmd], cwd=work, env=env, capture_output=True, text=True, check=True
        ).stdout

    names = dvc("stage", "list", "--name-only").split()
    after: dict[str, set[str]] = {n: set() for n in names}
    for line in dvc("dag", "--dot").splitlines():
        if "->" in line:
            a, b = (part.strip(' ";') for part in line.split("->"))
            after[b].add(a)
    order: list[str] = []
    while len(order) < len(names):
        ready = [n for n in names if n not in order and after[n] <= set(order)]
        if not ready:
            raise RuntimeError(f"dvc dag has a cycle among {sorted(set(names) - set(order))}")
        order.append(ready[0])
    return order


if __name__ == "__main__":
    main()

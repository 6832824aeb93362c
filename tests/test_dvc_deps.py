"""``dvc.yaml`` lists every piece of code a stage runs (the one list of code deps).

The static import closure of each stage's command (every ``lbi``/``pipeline`` module it
imports, at any depth, including imports inside functions) must be covered by that stage's
code deps; :mod:`lbi.fingerprint` keys checkpoints and run records by the same list.
A change to a listed file makes ``dvc status`` list the stage (checked on a copy).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from lbi.fingerprint import CODE_ROOTS, code_deps, code_fingerprint, repo_root

ROOT = repo_root()


def _stages() -> dict[str, dict]:
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    return {name: s.get("do", s) for name, s in doc["stages"].items()}


def _module_file(mod: str) -> Path | None:
    p = ROOT / Path(*mod.split("."))
    if (p / "__init__.py").is_file():
        return p / "__init__.py"
    return p.with_suffix(".py") if p.with_suffix(".py").is_file() else None


def _package(f: Path) -> list[str]:
    parts = list(f.relative_to(ROOT).with_suffix("").parts)
    return parts if f.name == "__init__.py" and parts.pop() else parts[:-1]


def import_closure(start: Path) -> set[str]:
    """Repo-relative paths of every lbi/pipeline module ``start`` imports, transitively."""
    seen: set[Path] = set()
    todo = [start]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for node in ast.walk(ast.parse(f.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = _package(f)[: len(_package(f)) - node.level + 1]
                    base = ".".join([*pkg, *([base] if base else [])])
                names = [base, *(f"{base}.{a.name}" for a in node.names)]
            for name in names:
                parts = name.split(".")
                if not name.startswith(("lbi", "pipeline")):
                    continue
                for i in range(1, len(parts) + 1):
                    mf = _module_file(".".join(parts[:i]))
                    if mf is not None:
                        todo.append(mf)
    return {f.relative_to(ROOT).as_posix() for f in seen}


def _entry(cmd: str) -> Path:
    words = cmd.split()
    return _module_file(words[words.index("-m") + 1])  # type: ignore[return-value]


@pytest.mark.parametrize("stage", sorted(_stages()))
def test_stage_code_deps_cover_its_import_closure(stage: str) -> None:
    body = _stages()[stage]
    deps = code_deps([stage])
    missing = [
        f for f in sorted(import_closure(_entry(body["cmd"])))
        if not any(f == d or f.startswith(d + "/") for d in deps)
    ]  # fmt: skip
    assert not missing, f"dvc.yaml stage {stage}: add these code deps: {missing}"


def test_code_deps_exist_and_fingerprint_changes_with_code(tmp_path: Path) -> None:
    every = code_deps(_stages())
    assert every and all((ROOT / d).exists() for d in every)
    assert all(d.startswith(CODE_ROOTS) for d in every)
    copy = tmp_path / "repo"
    top = {".git", ".venv", "data", ".dvc", "mlflow.db", "mlartifacts"}
    shutil.copytree(ROOT, copy, ignore=lambda d, names: top & set(names) if d == str(ROOT) else
                    [n for n in names if n == "__pycache__"])  # fmt: skip
    before = code_fingerprint(["train_stage1"], copy)
    with open(copy / "lbi" / "model" / "lbi.py", "a") as fh:
        fh.write("\n# changed\n")
    assert code_fingerprint(["train_stage1"], copy) != before
    # a stage that does not run the model keeps its fingerprint
    assert code_fingerprint(["contact_sheet"], copy) == code_fingerprint(["contact_sheet"], ROOT)


@pytest.mark.skipif(shutil.which("dvc") is None, reason="dvc not on PATH")
def test_dvc_status_lists_every_stage_that_runs_a_changed_file(tmp_path: Path) -> None:
    """In a copy of the repo whose ``dvc.lock`` records the current code (stand-in outputs,
    ``dvc commit``), edit one module: ``dvc status`` names exactly the stages whose code
    deps hold it, and a new ``__pycache__`` changes nothing (``.dvcignore``)."""
    from dvc.repo import Repo

    from lbi.io import copy_worktree

    copy = tmp_path / "repo"
    copy_worktree(ROOT, copy, exclude=())
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    for stage in Repo(str(copy)).index.stages:  # stand-in outputs, so the lock can be written
        for out in stage.outs:
            p = Path(out.fs_path)
            if p.suffix:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_text("{}")
            else:
                p.mkdir(parents=True, exist_ok=True)
                (p / "x").write_text("x")
    for stage in Repo(str(copy)).index.stages:  # data deps inside an output folder
        for dep in stage.deps:
            if not Path(dep.fs_path).exists():
                Path(dep.fs_path).write_text("{}")
    subprocess.run(["dvc", "commit", "-f", "-q"], cwd=copy, env=env, check=True)

    def listed() -> set[str]:
        out = subprocess.run(["dvc", "status", "--json"], cwd=copy, env=env, check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        return {s.split("@")[0] for s in json.loads(out or "{}")}

    assert listed() == set()
    (copy / "lbi" / "__pycache__").mkdir(exist_ok=True)
    (copy / "lbi" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert listed() == set()
    for target in ("lbi/metrics.py", "lbi/report/paper.py", "pipeline/prune.py"):
        with open(copy / target, "a") as fh:
            fh.write("\n# changed\n")
        expect = {s for s in _stages() if any(target == d or target.startswith(d + "/")
                                              for d in code_deps([s], copy))}  # fmt: skip
        assert expect and listed() == expect, target
        subprocess.run(["dvc", "commit", "-f", "-q"], cwd=copy, env=env, check=True)

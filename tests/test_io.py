"""Atomic writes and the work-tree copy used to rerun the pipeline in scratch space."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from lbi.io import copy_worktree, save_json, save_npy


def test_atomic_write_leaves_no_partial_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "a.npy"
    save_npy(target, np.arange(3))
    with pytest.raises(TypeError):
        save_json(tmp_path / "b.json", {"x": object()})
    assert not (tmp_path / "b.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]  # no temp files left
    np.testing.assert_array_equal(np.load(target), np.arange(3))


def test_copy_worktree_skips_ignored_files_and_pipeline_outputs(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=src, check=True)
    (src / ".gitignore").write_text("data/\n")
    for f in ("params.yaml", "lbi/x.py", "metrics/gt.json", "data/big.npy", "new.txt"):
        (src / f).parent.mkdir(parents=True, exist_ok=True)
        (src / f).write_text(f)
    subprocess.run(
        ["git", "add", "params.yaml", "lbi/x.py", "metrics", ".gitignore"], cwd=src, check=True
    )
    copied = copy_worktree(src, dst)
    assert sorted(copied) == [".gitignore", "lbi/x.py", "new.txt", "params.yaml"]
    assert (dst / "lbi/x.py").read_text() == "lbi/x.py"
    assert not (dst / "metrics").exists() and not (dst / "data").exists()


def test_git_commit_ignores_the_pipelines_own_outputs(tmp_path: Path) -> None:
    from lbi.tracking import git_commit

    assert git_commit(tmp_path) == "unknown"  # not a repository
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("config", "user.email", "t@t.invalid")
    run("config", "user.name", "t")
    for f in ("lbi.py", "dvc.lock", "reports/README.md", "metrics/gt.json"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("a")
    run("add", ".")
    run("commit", "-qm", "x")
    sha = git_commit(tmp_path)
    assert len(sha) == 40
    for f in ("dvc.lock", "reports/README.md", "metrics/gt.json"):
        (tmp_path / f).write_text("b")  # what `dvc repro` rewrites
    (tmp_path / "new.py").write_text("untracked")
    assert git_commit(tmp_path) == sha
    (tmp_path / "lbi.py").write_text("b")
    assert git_commit(tmp_path) == sha + "+dirty"

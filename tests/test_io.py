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

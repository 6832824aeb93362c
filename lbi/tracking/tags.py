"""What a run is tagged with: the tags every stage run carries (:func:`base_tags`), and
the pipeline run's key, name and tags (commit, ``params.yaml`` hash, changed params).

Part of :mod:`lbi.tracking` (the package docstring is the overview).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from lbi.tracking.logged import flatten, tag_value
from lbi.tracking.util import file_md5, git_commit, repo_root


def base_tags(*, dataset: str, synthetic: bool, source: str | None, stage: str) -> dict[str, str]:
    """Tags every run carries."""
    root = repo_root()
    tags = {
        "lbi.dataset": dataset,
        "lbi.synthetic": tag_value(bool(synthetic)),
        "lbi.git_commit": git_commit(root),
        "dvc.stage": stage,
        "dvc.lock_md5": file_md5(root / "dvc.lock"),
        "dvc.params_md5": file_md5(root / "params.yaml"),
    }
    if source is not None:
        tags["lbi.source_2d"] = source
    if synthetic:
        tags["mlflow.note.content"] = (
            "SYNTHETIC: embedded mini benchmark rendered from mocap, not Human3.6M/3DHP."
        )
    return tags


def changed_params(root: Path | None = None) -> dict[str, str]:
    """Flattened ``params.yaml`` keys whose value differs from the committed file (HEAD);
    empty when they agree or git has no committed ``params.yaml``."""
    import yaml

    root = root or repo_root()
    try:
        head = subprocess.run(["git", "show", "HEAD:./params.yaml"], cwd=root,
                              capture_output=True, text=True, timeout=10)  # fmt: skip
        now = flatten(yaml.safe_load((root / "params.yaml").read_text()) or {})
    except (OSError, subprocess.SubprocessError, yaml.YAMLError):
        return {}
    if head.returncode != 0:
        return {}
    old = flatten(yaml.safe_load(head.stdout) or {})
    keys = sorted(set(now) | set(old))
    return {k: str(now.get(k, "<removed>")) for k in keys if now.get(k) != old.get(k)}


def pipeline_run_name(root: Path | None = None, max_len: int = 80) -> str:
    """``<short commit> <DVC_EXP_NAME>``, else ``<short commit> <changed params>`` (see
    :func:`changed_params`), else ``<short commit> default``."""
    root = root or repo_root()
    commit = git_commit(root)
    short = commit[:7] + ("+dirty" if commit.endswith("+dirty") else "")
    what = os.environ.get("DVC_EXP_NAME") or ", ".join(
        f"{k}={v}" for k, v in changed_params(root).items()
    ) or "default"  # fmt: skip
    name = f"{short} {what}"
    return name if len(name) <= max_len else name[: max_len - 1] + "…"


def pipeline_tags(root: Path | None = None) -> dict[str, str]:
    """The pipeline run's own tags (none copied from a stage)."""
    root = root or repo_root()
    changed = changed_params(root)
    tags = {
        "lbi.kind": "pipeline",
        "lbi.git_commit": git_commit(root),
        "dvc.params_md5": file_md5(root / "params.yaml"),
        "dvc.lock_md5": file_md5(root / "dvc.lock"),  # at the pipeline's first stage
        "lbi.changed_params": ", ".join(f"{k}={v}" for k, v in changed.items()) or "none",
        "mlflow.note.content": (
            "One `dvc repro` of this commit and params.yaml: a child run per stage and one "
            "per evaluated model (tag `lbi.model`; the same metric names, to compare)."
        ),
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


def pipeline_key(root: Path | None = None) -> str:
    """What finds the pipeline run: md5 of the git commit and of ``params.yaml``."""
    root = root or repo_root()
    return hashlib.md5(f"{git_commit(root)}|{file_md5(root / 'params.yaml')}".encode()).hexdigest()

"""Tracking helpers that hold no MLflow state: the repository root, its git commit, a
file's md5, and :func:`call_with_retry` (a tracking call retried while the store is locked
or unreachable, never fatal unless asked).

Part of :mod:`lbi.tracking` (the package docstring is the overview).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger("lbi.tracking")  # one logger name for the package, as before the split

RETRY_ATTEMPTS = 4  # tries of one tracking call
RETRY_DELAY_S = 0.5  # before the 2nd try; doubles each time (SQLite also waits 5 s per try)


def repo_root() -> Path:
    """The folder holding ``params.yaml`` (cwd when DVC runs a stage)."""
    return Path.cwd()


# Committed files that `dvc repro` itself rewrites (default `paths`): they do not make the
# tree "dirty", or every stage after the first, and the report, would say so.
PIPELINE_FILES = ("dvc.lock", "metrics", "plots", "reports")


def git_commit(root: Path | None = None) -> str:
    """Current git commit (``+dirty`` if tracked files other than the pipeline's own
    outputs, :data:`PIPELINE_FILES`, have changes), or ``unknown``."""
    root = root or repo_root()
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."]
            + [f":(exclude){p}" for p in PIPELINE_FILES],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


def file_md5(path: Path) -> str:
    """md5 of a file's bytes, or ``none`` if it does not exist."""
    return hashlib.md5(path.read_bytes()).hexdigest() if path.exists() else "none"


def _transient_errors() -> tuple[type[BaseException], ...]:
    """What a tracking call raises when the store is locked, busy or unreachable."""
    from mlflow.exceptions import MlflowException

    errors: list[type[BaseException]] = [MlflowException, OSError, sqlite3.Error]
    try:
        import sqlalchemy.exc

        errors.append(sqlalchemy.exc.SQLAlchemyError)
    except ImportError:  # pragma: no cover - mlflow's SQL store needs it
        pass
    return tuple(errors)


def call_with_retry(
    fn: Callable[..., Any],
    *args: Any,
    what: str = "",
    fatal: bool = False,
    attempts: int | None = None,
    delay_s: float | None = None,
    **kwargs: Any,
) -> Any:
    """``fn(*args, **kwargs)``, retried when the tracking store is locked or unreachable.

    After ``attempts`` tries (default :data:`RETRY_ATTEMPTS`, waiting ``delay_s`` doubling
    in between) it logs one warning and returns None, or re-raises if ``fatal``.
    Programming errors (``TypeError``...) are not retried.
    """
    attempts = RETRY_ATTEMPTS if attempts is None else attempts
    delay_s = RETRY_DELAY_S if delay_s is None else delay_s
    transient = _transient_errors()
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except transient as e:
            if i + 1 < attempts:
                time.sleep(delay_s * 2**i)
                continue
            if fatal:
                raise
            first = str(e).splitlines()[0] if str(e) else ""
            log.warning(
                "MLflow %s failed %d times (%s: %s); continuing without it (metrics are in "
                "the checkpoints and plots)",
                what or getattr(fn, "__name__", "call"), attempts, type(e).__name__, first,
            )  # fmt: skip
    return None

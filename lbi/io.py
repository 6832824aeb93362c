"""Atomic file writes: write to a temporary file in the same folder, then rename.

A killed process never leaves a half-written artefact under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    The temporary keeps ``path``'s suffix so libraries that append suffixes
    (``np.save``) or dispatch on them behave.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}"
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_atomic(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and atomically move the result to ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def save_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> Path:
    """``np.savez`` (uncompressed, fast to load) written atomically."""

    def _w(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    return write_atomic(path, _w)


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> Path:
    """``np.save`` written atomically (memory-mappable with ``mmap_mode='r'``)."""

    def _w(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    return write_atomic(path, _w)


def save_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Pretty JSON written atomically."""

    def _w(tmp: Path) -> None:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")

    return write_atomic(path, _w)


def save_text(path: str | os.PathLike[str], text: str) -> Path:
    """Text written atomically."""
    return write_atomic(path, lambda tmp: tmp.write_text(text))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")

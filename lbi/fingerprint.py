"""The code a stage runs, listed once: ``dvc.yaml``'s deps.

``dvc.yaml`` is the one list of code dependencies. DVC reruns a stage when one of them
changes; the same list keys resumable checkpoints (:func:`lbi.experiment.train_phase`)
and sweep trials and run records (:mod:`lbi.record`), so a code change that DVC sees
also invalidates every cached model and record trained by that code. Code deps are the
entries under ``lbi/`` and ``pipeline/``; folders count every file in them except
``__pycache__`` (also in ``.dvcignore``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import yaml

import lbi

CODE_ROOTS = ("lbi/", "pipeline/")
_IGNORED_PARTS = ("__pycache__",)


def repo_root() -> Path:
    """The checkout ``lbi`` was imported from (the folder holding ``dvc.yaml``)."""
    return Path(lbi.__file__).resolve().parent.parent


def _stage_deps(dvc_yaml: Path) -> dict[str, tuple[str, ...]]:
    """Code deps (``lbi/...``, ``pipeline/...``) of every stage in ``dvc_yaml``."""
    doc = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))
    out: dict[str, tuple[str, ...]] = {}
    for name, stage in (doc.get("stages") or {}).items():
        body = stage.get("do", stage)
        deps = [d for d in body.get("deps", []) if isinstance(d, str)]
        out[name] = tuple(sorted(d.rstrip("/") for d in deps if d.startswith(CODE_ROOTS)))
    return out


def code_deps(stages: Iterable[str], root: Path | None = None) -> tuple[str, ...]:
    """The union of the code deps of ``stages`` (names as in ``dvc.yaml``), sorted."""
    root = root or repo_root()
    table = _stage_deps(root / "dvc.yaml")
    deps: set[str] = set()
    for s in stages:
        if s not in table:
            raise KeyError(f"{root / 'dvc.yaml'}: no stage {s!r} (have {sorted(table)})")
        deps.update(table[s])
    return tuple(sorted(deps))


def _files(root: Path, dep: str) -> list[Path]:
    p = root / dep
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f"{root / 'dvc.yaml'}: code dep {dep!r} does not exist")
    return sorted(
        f
        for f in p.rglob("*")
        if f.is_file()
        and not any(part in _IGNORED_PARTS for part in f.parts)
        and f.suffix != ".pyc"
    )


def _fingerprint(stages: tuple[str, ...], root: Path) -> str:
    h = hashlib.sha256()
    for dep in code_deps(stages, root):
        for f in _files(root, dep):
            h.update(f.relative_to(root).as_posix().encode() + b"\0")
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def code_fingerprint(stages: Iterable[str], root: Path | None = None) -> str:
    """sha256 (16 hex) of the code ``stages`` run: paths and bytes of their code deps."""
    return _fingerprint(tuple(sorted(set(stages))), (root or repo_root()).resolve())

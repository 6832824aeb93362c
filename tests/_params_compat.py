"""Test-only bridge until lbi/params.py has the renamed sections (wt-faults branch).

The stages code against ``prune.retention`` and the ``lifter`` section. While this
branch's ``lbi/params.py`` still has ``prune.r`` and ``baseline``, :func:`apply` swaps in
dataclasses with the new names (in ``lbi.params`` itself, so pickling and subprocesses
agree); :func:`renamed` converts a params mapping. Both do nothing once the rename is
merged. Subprocesses get it through ``sitecustomize`` (:func:`site_dir`).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

CODE = textwrap.dedent("""
    from dataclasses import dataclass as _dc, field as _field, fields as _fields, make_dataclass
    if not hasattr(PruneConfig(), "retention"):
        @_dc(frozen=True)
        class PruneConfig:
            retention: float = 0.3

            def __post_init__(self):
                check_range("retention", self.retention, 0.0, 1.0, lo_open=True)

        @_dc(frozen=True)
        class LifterConfig:
            model: ModelConfig = _field(default_factory=lambda: ModelConfig(arch="lifter_graformer"))
            train: TrainConfig = _field(default_factory=TrainConfig)

        _new = {"baseline": ("lifter", "LifterConfig", LifterConfig),
                "prune": ("prune", "PruneConfig", PruneConfig)}
        Params = make_dataclass("Params", [
            (_new[f.name][0], _new[f.name][1], _field(default_factory=_new[f.name][2]))
            if f.name in _new else (f.name, f.type, _field(default_factory=f.default_factory))
            for f in _fields(Params)], frozen=True)
        Params.__module__ = __name__
""")


def apply() -> None:
    import lbi.params

    exec(CODE, lbi.params.__dict__)


def renamed(p: dict[str, Any]) -> dict[str, Any]:
    """A params mapping with the new names (``prune.retention``, ``lifter``, no
    ``model.retention``)."""
    p = dict(p)
    if "baseline" in p:
        p["lifter"] = p.pop("baseline")
    if "r" in p.get("prune", {}):
        p["prune"] = {"retention": p["prune"]["r"]}
    p["model"] = {k: v for k, v in p["model"].items() if k != "retention"}
    return p


def site_dir(tmp: Path) -> Path:
    """A folder with a ``sitecustomize.py`` applying the bridge when ``lbi.params`` is
    imported (put it on PYTHONPATH); other processes (Ray's own) import nothing."""
    d = tmp / "compat_site"
    d.mkdir(exist_ok=True)
    (d / "sitecustomize.py").write_text(SITE.replace("CODE_REPR", repr(CODE)))
    return d


SITE = """
import importlib.abc, importlib.util, sys


class _Bridge(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "lbi.params":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            exec(CODE_REPR, module.__dict__)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Bridge())
"""


apply()

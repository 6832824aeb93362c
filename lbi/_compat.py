"""torchvision compatibility shim; must run before any ``timm``/``torchvision`` import.

On the CPU machines the only torchvision wheel matching ``torch==2.13.0`` on PyPI is a
CUDA build whose ``_C`` extension cannot load next to the CPU torch, and importing
torchvision then fails with ``operator torchvision::nms does not exist`` (its Python
code registers fake kernels for operators whose schemas live in ``_C``). timm imports
torchvision at import time, so nothing works.

:func:`ensure_torchvision` checks whether the extension loads; only when it does not, it
defines the schemas of ``torchvision::nms`` and ``torchvision::qnms`` (the two operators
torchvision's Python side touches at import) in a ``torch.library`` fragment, which is
enough for ``import torchvision``, timm and the transforms. ``torchvision.ops.nms``,
``roi_align`` and ``torchvision.io`` stay unavailable there: lbi decodes images with PIL.
Where torchvision's extension loads (a matching GPU install) this is a no-op.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

_STATE: dict[str, object] = {"patched": None, "lib": None}


def _extension_loads() -> bool:
    """True if torchvision's compiled ``_C`` extension loads next to this torch."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or spec.origin is None:
        return True  # torchvision not installed: nothing to patch
    pkg_dir = Path(spec.origin).parent
    libs = sorted(pkg_dir.glob("_C*.so")) + sorted(pkg_dir.glob("_C*.pyd"))
    if not libs:
        return False
    try:
        torch.ops.load_library(str(libs[0]))
    except (OSError, RuntimeError):
        return False
    return True


def ensure_torchvision() -> bool:
    """Make ``import torchvision`` work; return True if the shim had to patch.

    Idempotent. Must be called before torchvision (or timm) is first imported.
    """
    if _STATE["patched"] is not None:
        return bool(_STATE["patched"])
    if "torchvision" in sys.modules or _extension_loads():
        _STATE["patched"] = False
        return False
    lib = torch.library.Library("torchvision", "DEF")  # kept alive in _STATE
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _STATE["lib"] = lib
    _STATE["patched"] = True
    return True

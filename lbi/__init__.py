"""lbi: reproducible experiment pipeline for Lifting by Image (3D pose from 2D pose + image).

Importing ``lbi`` installs the torchvision compatibility shim (see :mod:`lbi._compat`)
so that ``timm`` and ``torchvision`` import on CPU-only torch wheels.
"""

from lbi._compat import ensure_torchvision

ensure_torchvision()

__version__ = "0.1.0"

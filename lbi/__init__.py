"""lbi: reproducible experiment pipeline for Lifting by Image (3D pose from 2D pose + image).

Importing ``lbi`` first pins CPU floating point (:mod:`lbi.numerics`: oneDNN/ATen/MKL
at AVX2, 2 intra-op threads, deterministic algorithms; ``LBI_NUMERICS=native`` opts
out), then installs the torchvision compatibility shim (see :mod:`lbi._compat`) so that
``timm`` and ``torchvision`` import on CPU-only torch wheels.
"""

from lbi.numerics import pin_environment, pin_torch

pin_environment()  # before torch is imported: oneDNN, ATen and MKL read it at start-up

from lbi._compat import ensure_torchvision  # noqa: E402 - imports torch

ensure_torchvision()
pin_torch()

__version__ = "0.1.0"

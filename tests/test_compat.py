"""The torchvision shim: timm works on the CPU wheels, and the shim is idempotent."""

from __future__ import annotations

import subprocess
import sys


def test_timm_hrnet_stride4_map_on_this_machine():
    import timm
    import torch

    import lbi  # noqa: F401

    m = timm.create_model("hrnet_w32", features_only=True, feature_location="", out_indices=(1,))
    with torch.no_grad():
        (f,) = m(torch.zeros(1, 3, 256, 192))
    assert f.shape == (1, 32, 64, 48)


def test_shim_is_idempotent_and_a_noop_once_torchvision_loaded():
    code = (
        "import lbi, lbi._compat as c, torchvision.transforms as T;"
        "first = c._STATE['patched'];"
        "c._STATE['patched'] = None;"  # a second call after torchvision is imported
        "print(first, c.ensure_torchvision())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    first, second = out.stdout.split()
    assert second == "False"  # never patches once torchvision is in sys.modules
    assert first in ("True", "False")  # True on CPU wheels, False where torchvision's _C loads

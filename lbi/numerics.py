"""CPU floating point, pinned in one place so a run is bit-identical on every host.

The same seed gave 72.7 and 79.9 mm on two machines: a 3-step conv + Adam run already
changes its weight hash when only the oneDNN ISA, ATen's CPU capability, MKL's code
path or the intra-op thread count changes (``tests/test_numerics.py``), and training
amplifies that. ``import lbi``
calls :func:`pin_environment` (before torch is imported) and :func:`pin_torch`, which fix:

- oneDNN (convolutions): ``ONEDNN_MAX_CPU_ISA=AVX2``
- ATen's vectorised kernels: ``ATEN_CPU_CAPABILITY=avx2``
- MKL (matrix products): ``MKL_CBWR=AVX2,STRICT`` (conditional numerical reproducibility)
- NumPy (rendering, metrics): its AVX-512 loops off (``NPY_DISABLE_CPU_FEATURES``), its
  OpenBLAS on the Haswell (AVX2) kernels
- intra-op threads: :data:`THREADS` = 2, whatever the host's core count
- ``torch.use_deterministic_algorithms(True)``

The level is AVX2 (x86-64-v3: Intel since Haswell 2013, AMD since Excavator/Zen): nearly
every x86-64 machine has it; it costs nothing on an AVX2-only host (this project's
2-core AMD EPYC) and +43 % on a resnet18 step on an AVX-512 host (86 -> 123 ms,
measured 2026-11-29). A host below AVX2 cannot reproduce the committed hashes. The
numbers also depend on the library versions (``constraints.txt`` pins torch, NumPy,
timm, Pillow, matplotlib, pybullet: the default install's numerics and file bytes).

Opt out for speed with ``LBI_NUMERICS=native`` (all cores, the host's best ISA):
results then differ by host, and :func:`describe` says so in every run record.
"""

from __future__ import annotations

import os
import sys

THREADS = 2
ISA = "avx2"
PIPELINE = f"pinned:{ISA}:{THREADS}"  # describe() of every `dvc repro` stage (pinned mode)
ENV_VAR = "LBI_NUMERICS"  # "pinned" (default) | "native"
PINNED_ENV = {
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "DNNL_MAX_CPU_ISA": "AVX2",
    "ATEN_CPU_CAPABILITY": ISA,
    "MKL_CBWR": "AVX2,STRICT",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # NumPy's AVX-512 loops
    "OPENBLAS_CORETYPE": "Haswell",  # NumPy's OpenBLAS kernels: the AVX2 ones
    "OPENBLAS_NUM_THREADS": str(THREADS),
    "OMP_NUM_THREADS": str(THREADS),
    "MKL_NUM_THREADS": str(THREADS),
}


def mode() -> str:
    """``pinned`` or ``native`` (from ``$LBI_NUMERICS``); anything else is an error."""
    m = os.environ.get(ENV_VAR, "pinned").strip().lower() or "pinned"
    if m not in ("pinned", "native"):
        raise ValueError(f"${ENV_VAR}={m!r}: use 'pinned' (bit-identical, default) or 'native'")
    return m


def pin_environment() -> None:
    """Set the variables oneDNN, ATen and MKL read at start-up (overriding the host's).

    Must run before ``torch`` is imported: ``import lbi`` does it first. If torch was
    imported earlier, :func:`pin_torch` checks what ATen picked.
    """
    if mode() == "pinned":
        os.environ.update(PINNED_ENV)


def pin_torch(threads: int = THREADS) -> None:
    """Fix torch's intra-op threads and deterministic algorithms (pinned mode only).

    Raises ``RuntimeError`` when torch was imported before :func:`pin_environment` on a
    host whose ATen capability is not AVX2 (the run could not be reproduced).
    """
    if mode() != "pinned":
        return
    import torch

    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    from numpy._core import _multiarray_umath as npu

    if npu.__cpu_features__.get("X86_V4"):
        raise RuntimeError(
            "NumPy was imported before lbi and uses its AVX-512 loops: import lbi first "
            f"(or set {ENV_VAR}=native; results then differ by host)"
        )
    cap = torch.backends.cpu.get_cpu_capability()
    if cap.lower() != ISA:
        raise RuntimeError(
            f"ATen uses the {cap} CPU kernels, not {ISA.upper()}: torch was imported before lbi "
            f"(import lbi first), or this CPU lacks AVX2; set {ENV_VAR}=native to run anyway "
            "(results then differ by host)"
        )


def describe() -> str:
    """What decided this process's floating point: ``pinned:avx2:2`` or ``native``."""
    if mode() == "native":
        return "native"
    import torch

    return f"pinned:{ISA}:{torch.get_num_threads()}"


def torch_imported() -> bool:
    return "torch" in sys.modules

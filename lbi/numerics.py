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

MKL honours ``MKL_CBWR=AVX2`` only on Intel CPUs; on others it runs its AUTO branch
(Intel's oneMKL guide, "Getting Started with Conditional Numerical Reproducibility"), so
the bits are the same among hosts of one CPU vendor, not across vendors. Measured
2026-12-01 on an Intel Xeon (AVX-512; MKL reporting branch AVX2,STRICT) against the
committed records of 2-core AMD EPYC hosts: the stages without a matrix product
(``preprocess``, ``pretrain2d``: convolutions only, no MKL call) came out bit for bit; the
lifter's first-epoch loss did not (14.3051 vs 14.3095 m²; 497 MKL calls per step), nor
stage 1's. MKL's vendor-neutral branch (``COMPATIBLE``: SSE2) reproduces across vendors but
made a training step 1.8-2.9x slower there, so it is not used. Instead :func:`describe`
names the vendor where MKL runs its Intel branch (``pinned:avx2-intel:2``): such runs are
keyed, cached and tabled apart from the committed (AMD) ones, as 1-thread runs are.

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

import functools
import os
import sys
from pathlib import Path

THREADS = 2
ISA = "avx2"
PIPELINE = f"pinned:{ISA}:{THREADS}"  # describe() of every `dvc repro` stage on the committed records' (AMD) hosts
INTEL = "-intel"  # after the ISA where MKL runs its Intel AVX2 branch (describe())
CPUINFO = Path("/proc/cpuinfo")
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


@functools.cache
def _host_vendor() -> str:
    try:
        return cpu_vendor(CPUINFO.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return ""


def cpu_vendor(cpuinfo: str | None = None) -> str:
    """The CPU's ``vendor_id`` (``GenuineIntel``, ``AuthenticAMD``, ...) in ``cpuinfo``
    (default: this host's, read once); ``""`` if unknown."""
    if cpuinfo is None:
        return _host_vendor()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id":
            return value.strip()
    return ""


def pinned(threads: int, vendor: str | None = None) -> str:
    """The pinned numerics of ``threads`` torch threads on this host (or a CPU of ``vendor``):
    ``pinned:avx2:2``; ``pinned:avx2-intel:2`` on an Intel CPU, where MKL runs its AVX2
    branch (see the module docstring: other bits than the AUTO branch of other vendors)."""
    v = cpu_vendor() if vendor is None else vendor
    return f"pinned:{ISA}{INTEL if v == 'GenuineIntel' else ''}:{threads}"


def threads_of(described: str) -> int | None:
    """The torch thread count a ``pinned:...:<threads>`` description names; None for
    ``native``, ``cuda`` or anything else."""
    head, _, last = described.rpartition(":")
    return int(last) if head.startswith("pinned:") and last.isdigit() else None


def describe(threads: int | None = None) -> str:
    """What decided this process's floating point (or that of ``threads`` torch threads
    here): :func:`pinned` (``pinned:avx2:2``) or ``native``."""
    if mode() == "native":
        return "native"
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return pinned(threads)


def torch_imported() -> bool:
    return "torch" in sys.modules

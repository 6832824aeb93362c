"""The CPU numerics a sweep trial runs under on this host: ``pinned:avx2:2``, or
``pinned:avx2-intel:2`` on an Intel CPU.

:mod:`lbi.numerics` pins oneDNN, ATen, NumPy and the thread count to the same code on every
x86-64 host with AVX2, and asks MKL (the matrix products of every linear layer and
attention) for its AVX2 *conditional numerical reproducibility* branch
(``MKL_CBWR=AVX2,STRICT``). MKL honours that only on Intel CPUs; elsewhere it runs its AUTO
branch (Intel's oneMKL guide, "Getting Started with Conditional Numerical
Reproducibility"). Measured 2026-12-01 on an Intel Xeon (AVX-512, MKL reporting branch
AVX2,STRICT) against the committed records of 2-core AMD EPYC hosts: the stages without a
matrix product (``preprocess``, ``pretrain2d``: convolutions only, 0 MKL calls) came out
bit for bit; the lifter's first-epoch loss did not (14.3051 vs 14.3095 m², 497 MKL calls
per step), nor stage 1's. MKL's vendor-neutral branch (``COMPATIBLE``: SSE2) would
reproduce across vendors but made a training step 1.8-2.9x slower there.

So a trial's numerics name the vendor where MKL runs its Intel branch, and its record key,
stage-1 cache and report rows are kept apart from the other vendor's, as 1-thread trials are
from 2-thread ones. Non-Intel hosts (the committed records') keep the plain name.
:func:`lbi.numerics.describe` (the pipeline's own runs) does not say this yet: that is
stage code, and changing it re-keys every record (a revalidation on the records' hosts).
"""

from __future__ import annotations

from pathlib import Path

from lbi import numerics

INTEL = "-intel"  # appended to the ISA where MKL runs its Intel AVX2 branch
CPUINFO = Path("/proc/cpuinfo")


def cpu_vendor(cpuinfo: str | None = None) -> str:
    """The CPU's ``vendor_id`` (``GenuineIntel``, ``AuthenticAMD``, ...); ``""`` if unknown."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id":
            return value.strip()
    return ""


def pinned(threads: int, vendor: str | None = None) -> str:
    """The pinned numerics of a ``threads``-thread trial on this host (or on a CPU of
    ``vendor``): ``pinned:avx2:1``; ``pinned:avx2-intel:1`` on an Intel CPU."""
    v = cpu_vendor() if vendor is None else vendor
    return f"pinned:{numerics.ISA}{INTEL if v == 'GenuineIntel' else ''}:{threads}"


def describe(threads: int | None = None) -> str:
    """What decides a ``threads``-thread trial's floating point here (default: this process's
    torch threads): ``native`` when ``LBI_NUMERICS=native``, else :func:`pinned`."""
    if numerics.mode() == "native":
        return "native"
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return pinned(threads)

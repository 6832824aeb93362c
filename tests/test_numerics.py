"""Bit-identical runs across hosts: pinned CPU floating point and byte-stable files.

One short LBI training (the real model: resnet18_s4 encoder, PGTL, AFSM, stage 2;
Adam, 3 steps) runs in fresh processes under host settings that changed the weights
before pinning (oneDNN ISA, ATen capability, MKL path, thread count). With
:mod:`lbi.numerics` pinning them on ``import lbi`` the weight hashes must agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from lbi import numerics
from lbi.io import save_npz, save_torch

SCRIPT = r"""
import hashlib
import lbi  # pins CPU floating point before torch is imported
import torch
from lbi import numerics
from lbi.model import ModelConfig, build_model

torch.manual_seed(0)
m = build_model(ModelConfig(input_hw=(64, 48), dim=32, stage2_layers=1))
x = torch.randn(16, 3, 64, 48)
p2 = torch.rand(16, 17, 2) * 40
y = torch.randn(16, 17, 3) * 100
opt = torch.optim.Adam(m.parameters(), 1e-3)
for _ in range(3):
    out = m(x, p2, stage=2)
    loss = ((out["coarse"] - y) ** 2).mean() + ((out["refined"] - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
h = hashlib.sha256()
import numpy as np  # NumPy's loops and OpenBLAS are pinned too (rendering, metrics)

a = np.linspace(0.0, 10.0, 10001, dtype=np.float32)
h.update(np.sin(a).tobytes() + np.exp(-a).tobytes() + np.float32(a.sum()).tobytes())
h.update((a.reshape(-1, 1) @ a.reshape(1, -1)).sum(axis=0).tobytes())
for k, v in sorted(m.state_dict().items()):
    h.update(k.encode() + v.detach().contiguous().numpy().tobytes())
print(numerics.describe(), torch.backends.cpu.get_cpu_capability(), h.hexdigest())
"""

# Host settings that each changed the weight hash of an unpinned run (measured 2026-11-30).
HOSTS = {  # grouped to keep the test short: each group alone changed the unpinned hash
    "plain": {},
    "1 thread, no ATen vectors": {
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default"
    },
    "16 threads, oneDNN SSE4.1": {
        "OMP_NUM_THREADS": "16", "ONEDNN_MAX_CPU_ISA": "SSE41", "DNNL_MAX_CPU_ISA": "SSE41"
    },
    "MKL compatible, NumPy baseline": {
        "MKL_CBWR": "COMPATIBLE", "NPY_DISABLE_CPU_FEATURES": "X86_V3",
        "OPENBLAS_CORETYPE": "Prescott",
    },
}  # fmt: skip


def _run(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in numerics.PINNED_ENV}
    env.pop(numerics.ENV_VAR, None)
    env.update(env_extra)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env, capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


AVX2_HOST = pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
    reason="the pinned level is AVX2: this CPU is below it",
)


@pytest.fixture(scope="module")
def pinned_runs() -> dict[str, str]:
    return {name: _run(env) for name, env in HOSTS.items()}


@AVX2_HOST
def test_short_training_is_bit_identical_under_other_host_settings(pinned_runs) -> None:  # type: ignore[no-untyped-def]
    hashes = {line.split()[-1] for line in pinned_runs.values()}
    assert len(hashes) == 1, pinned_runs
    prefix = f"{numerics.pinned(numerics.THREADS)} AVX2 "
    assert all(line.startswith(prefix) for line in pinned_runs.values())


@AVX2_HOST
def test_native_numerics_opts_out_says_so_and_differs(pinned_runs) -> None:  # type: ignore[no-untyped-def]
    """The pin is what makes the hashes agree: unpinned, one of the host groups differs."""
    line = _run({numerics.ENV_VAR: "native", **HOSTS["1 thread, no ATen vectors"]})
    assert line.startswith("native DEFAULT ")
    assert line.split()[-1] != pinned_runs["plain"].split()[-1]


def test_unknown_numerics_mode_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(numerics.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="LBI_NUMERICS"):
        numerics.mode()


def test_same_weights_same_file_bytes(tmp_path: Path) -> None:
    state = {"w": torch.arange(6.0).reshape(2, 3), "meta": {"epoch": 3}}
    a, b = save_torch(tmp_path / "a.pt", state), save_torch(tmp_path / "sub" / "b.pt", state)
    assert a.read_bytes() == b.read_bytes()
    with zipfile.ZipFile(a) as z:  # no temp file name inside the archive
        assert all(n.startswith("archive/") for n in z.namelist())
    loaded = torch.load(a, weights_only=True)
    assert torch.equal(loaded["w"], state["w"])


def test_npz_bytes_do_not_depend_on_the_clock(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    arrays = {"x": np.arange(5, dtype=np.float32), "y": np.ones((2, 2), np.int32)}
    a = save_npz(tmp_path / "a.npz", **arrays).read_bytes()
    import time

    monkeypatch.setattr(time, "time", lambda: 2.0e9)  # another "now"
    b = save_npz(tmp_path / "b.npz", **arrays).read_bytes()
    assert a == b
    with np.load(tmp_path / "b.npz", allow_pickle=False) as z:
        np.testing.assert_array_equal(z["x"], arrays["x"])
        np.testing.assert_array_equal(z["y"], arrays["y"])


def test_atomic_files_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        f = save_npz(tmp_path / "a.npz", x=np.zeros(1))
    finally:
        os.umask(old)
    assert f.stat().st_mode & 0o777 == 0o644


# Libraries whose floating point lbi pins at import (lbi.numerics.PINNED_ENV): an entry point
# that imports one before lbi runs on the host's ISA. On an AVX2-only host nothing shows it;
# on an AVX-512 host `import lbi` then refuses to run (found: detect2d on an Intel Xeon).
_PINNED_LIBS = ("numpy", "torch", "timm", "scipy", "matplotlib", "sklearn")
# Modules that import lbi first themselves (importing them pins the numerics).
_PINS = ("lbi", "pipeline._cli", "_common", "bench_stages", "conftest")


def _first_imports(path: Path) -> tuple[int | None, int | None]:
    """(line of the first pinned-library import, line of the first lbi import) at module level."""
    import ast

    lib = pin = None
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for n in names:
            if pin is None and (n in _PINS or n.split(".")[0] == "lbi"):
                pin = node.lineno
            if lib is None and n.split(".")[0] in _PINNED_LIBS:
                lib = node.lineno
    return lib, pin


def test_every_entry_point_imports_lbi_before_numpy_or_torch() -> None:
    root = Path(__file__).resolve().parents[1]
    files = [*sorted((root / "pipeline").glob("*.py")), *sorted((root / "benchmarks").glob("*.py")),
             *sorted((root / "sweeps").glob("*.py"))]  # fmt: skip
    assert len(files) > 20
    late = []
    for f in files:
        lib, pin = _first_imports(f)
        if lib is not None and (pin is None or pin > lib):
            late.append(f"{f.relative_to(root)}:{lib}")
    assert not late, f"import lbi (pins CPU floating point) before NumPy/torch in: {late}"


def test_the_import_order_check_catches_a_late_lbi(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad.py", tmp_path / "good.py"
    bad.write_text("import os\nimport numpy as np\n\nimport lbi\n")
    good.write_text("import lbi  # noqa: F401\n\n# isort: split\nimport numpy as np\n")
    assert _first_imports(bad) == (2, 4)
    assert _first_imports(good) == (4, 1)


def test_numerics_name_the_cpu_vendor_where_mkl_runs_its_intel_branch() -> None:
    """MKL honours MKL_CBWR=AVX2 only on Intel CPUs (elsewhere: its AUTO branch), so the
    same pinned run gives other bits there: such runs are described, keyed and tabled apart."""
    amd = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: avx2\n"
    intel = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: avx2 avx512f\n"
    assert (numerics.cpu_vendor(amd), numerics.cpu_vendor(intel), numerics.cpu_vendor("")) == (
        "AuthenticAMD", "GenuineIntel", "")  # fmt: skip
    assert numerics.pinned(2, "AuthenticAMD") == numerics.PIPELINE == "pinned:avx2:2"
    assert numerics.pinned(1, "GenuineIntel") == "pinned:avx2-intel:1"
    assert numerics.describe() == numerics.pinned(numerics.THREADS, numerics.cpu_vendor())
    assert numerics.describe(1) == numerics.pinned(1)
    assert [numerics.threads_of(d) for d in ("pinned:avx2-intel:1", "pinned:avx2:2", "native", "cuda")] == [1, 2, None, None]  # fmt: skip

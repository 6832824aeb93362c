"""benchmarks/bench_stages.py runs end to end for one tiny step per stage (no timings asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_stages.py"


@pytest.fixture
def bench(monkeypatch):  # type: ignore[no-untyped-def]
    """``benchmarks/bench_stages.py`` imported as a module (not a package)."""
    spec = importlib.util.spec_from_file_location("bench_stages", BENCH)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "bench_stages", mod)  # dataclasses look it up
    spec.loader.exec_module(mod)
    return mod


def test_bench_stages_runs_one_tiny_step(tmp_path, capsys, bench):
    results = bench.main(
        ["--steps", "1", "--warmup", "0", "--train", "64", "--test", "8", "--cross", "8",
         "--batch", "4", "--peak-seconds", "0.1",
         "--store", str(tmp_path)]
    )  # fmt: skip
    assert [r.name for r, _ in results] == list(bench.STAGES)
    for r, _ in results:
        assert r.flops_train_per_sample > 0 and r.flops_eval_per_sample > 0
        assert set(r.step_ms) == {"data", "forward", "backward", "optimizer"}
    out = capsys.readouterr().out
    assert "fp32 matmul peak" in out and "lifter" in out


def test_bench_stages_compare_mode_runs(tmp_path, capsys, bench):
    bench.main(
        ["--compare", "--stages", "lifter", "--steps", "1", "--warmup", "0", "--train", "32",
         "--test", "8", "--cross", "8", "--batch", "4", "--peak-seconds", "0.1",
         "--store", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "lifter     before" in out and "lifter     now" in out


def test_bench_stages_pack_mode_runs(tmp_path, capsys, bench):
    """``--pack 2``: two copies at once, one thread each, against one copy (issue 19)."""
    bench.main(
        ["--stages", "lifter", "--steps", "1", "--warmup", "0", "--train", "32", "--test", "8",
         "--cross", "8", "--batch", "4", "--peak-seconds", "0.1", "--store", str(tmp_path),
         "--pack", "2"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "packed: 2 copies x 1 thread vs 1 copy x" in out
    row = [line for line in out.splitlines() if line.startswith("lifter") and line.endswith("x")]
    assert len(row) == 1 and float(row[0].split()[-1][:-1]) > 0

"""Time the pose metrics on 100k random 17-joint poses (target: under 1 s each on 2 CPU cores).

Usage: ``python benchmarks/bench_metrics.py [--n 100000] [--repeat 3] [--device cpu]
[--threads N]``.
Prints, per metric, the best wall time of ``--repeat`` runs (after one warm-up run) and
the process CPU time of that run (all threads): on a shared machine the wall time
swings with other load, the CPU time much less. ``--threads 1`` avoids torch's intra-op
thread barriers, which stall badly when other processes share the cores.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import lbi  # noqa: F401  (pins CPU floating point before NumPy/torch load)

# isort: split
import torch

from lbi import metrics


def bench(fn: Callable[[], torch.Tensor], repeat: int, device: torch.device) -> tuple[float, float]:
    """Best wall time (s) of ``repeat`` calls of ``fn`` after one warm-up, and its CPU time."""
    fn()
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="number of poses")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    gt = (torch.randn(args.n, 17, 3, generator=gen) * 300).to(device)  # mm
    pred = gt + torch.randn(args.n, 17, 3, generator=gen).to(device) * 50
    cases: dict[str, Callable[[], torch.Tensor]] = {
        "MPJPE": lambda: metrics.mpjpe(pred, gt),
        "P-MPJPE": lambda: metrics.p_mpjpe(pred, gt),
        "N-MPJPE": lambda: metrics.n_mpjpe(pred, gt),
        "PCK@150": lambda: metrics.pck(pred, gt),
        "AUC": lambda: metrics.auc(pred, gt),
    }
    print(
        f"{args.n} poses x 17 joints, float32 input, device={device}, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    for name, fn in cases.items():
        wall, cpu = bench(fn, args.repeat, device)
        print(f"{name:>8}: {wall:.3f} s wall ({cpu:.3f} s CPU)")


if __name__ == "__main__":
    main()

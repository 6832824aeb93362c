"""Training throughput of the models: forward + backward samples/s.

    .venv/bin/python benchmarks/bench_model.py                     # CPU, both presets
    python benchmarks/bench_model.py --device cuda --amp --channels-last --batch 128
    python benchmarks/bench_model.py --device cuda --amp --compile --preset paper --cases stage1
    python benchmarks/bench_model.py --device cuda --amp --channels-last --preset paper \
        --cases stage1 --batch 128 --steps 20 --peak   # + FLOP/s against the device's peak

For each preset it times (a) stage-1 training (loss on ``coarse``), (b) progressive
stage-2 training (stage 1 frozen, loss on ``refined``) and (c) end-to-end training
(nothing frozen, loss on both). Prints one line per case; nothing is asserted. The warmup's
seconds include ``torch.compile``'s compile time. ``--peak``: also the model FLOPs per
training sample (forward + backward, ``FlopCounterMode``) and the achieved FLOP/s against an
``n x n`` matmul measured in the same run on the same device and dtype (bf16 with ``--amp``).
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import lbi  # noqa: F401  (pins CPU floating point before NumPy/torch load)

# isort: split
import torch
from bench_stages import matmul_peak
from torch.utils.flop_counter import FlopCounterMode

from lbi.model import PRESETS, ModelConfig, build_model

CASES = ("stage1", "stage2_frozen", "end_to_end")


def bench_case(
    cfg: ModelConfig,
    case: str,
    *,
    batch: int,
    steps: int,
    warmup: int,
    device: torch.device,
    amp: bool,
    channels_last: bool,
    compile_model: bool = False,
    count_flops: bool = False,
) -> tuple[float, float, float]:
    """Samples/s of ``steps`` timed optimizer steps of one training case, the warmup's
    seconds (compiling, if any) and, with ``count_flops``, the FLOPs of one step per sample
    (of the eager model; else 0)."""
    model = build_model(cfg).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if case == "stage2_frozen":
        model.freeze_stage1()
    model.train()
    fwd = torch.compile(model) if compile_model else model
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-4)
    image = torch.randint(0, 256, (batch, 3, *cfg.input_hw), dtype=torch.uint8, device=device)
    pose2d = torch.rand(batch, cfg.num_joints_in, 2, device=device) * 2 - 1  # (B, J, 2)
    target = torch.randn(batch, cfg.num_joints_out, 3, device=device) * 200  # (B, 17, 3) mm
    stage = 1 if case == "stage1" else 2
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16) if amp else nullcontext()
    )

    def step() -> None:
        with autocast:
            out = fwd(image, pose2d, stage=stage)
        if case == "stage1":
            loss = (out["coarse"].float() - target).square().mean()
        elif case == "stage2_frozen":
            loss = (out["refined"].float() - target).square().mean()
        else:
            loss = sum((out[k].float() - target).square().mean() for k in ("coarse", "refined"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sync = torch.cuda.synchronize if device.type == "cuda" else lambda: None
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    t1 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    sps = batch * steps / (time.perf_counter() - t1)
    if not count_flops:
        return sps, 0.0, t1 - t0
    fwd = model  # count the eager model's ops (a compiled graph hides them)
    with FlopCounterMode(display=False) as fc:
        step()
    return sps, fc.get_total_flops() / batch, t1 - t0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", choices=[*PRESETS, "all"], default="all")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--batch", type=int, default=None, help="default: 16 cpu preset, 2 paper")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="torch.compile the model")
    ap.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    ap.add_argument("--peak", action="store_true", help="FLOP/s against a matmul peak")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = list(PRESETS) if args.preset == "all" else [args.preset]
    print(
        f"device={device} amp={args.amp} channels_last={args.channels_last} "
        f"compile={args.compile} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    peak = 0.0
    if args.peak:
        dtype, n = (torch.bfloat16 if args.amp else torch.float32), (8192 if device.type == "cuda" else 1024)  # fmt: skip
        peak = matmul_peak(n, 2.0, str(device), dtype)
        print(f"peak: {peak / 1e12:.1f} TFLOP/s ({n}x{n} {dtype} matmul on {device})")
    for name in names:
        cfg = PRESETS[name]
        batch = args.batch or (16 if name == "cpu" else 2)
        for case in args.cases:
            sps, flops, warm = bench_case(
                cfg,
                case,
                batch=batch,
                steps=args.steps,
                warmup=args.warmup,
                device=device,
                amp=args.amp,
                channels_last=args.channels_last,
                compile_model=args.compile,
                count_flops=args.peak,
            )
            line = f"{name:6s} {cfg.backbone:12s} batch={batch:4d} {case:14s} {sps:9.1f} samples/s"
            line += f"  warmup {warm:6.1f} s"
            if peak:
                got = sps * flops
                line += f"  {flops / 1e9:.2f} GFLOP/sample  {got / 1e12:.2f} TFLOP/s  {got / peak:5.1%} of peak"
            print(line)


if __name__ == "__main__":
    main()

"""Training throughput of the models: forward + backward samples/s.

    .venv/bin/python benchmarks/bench_model.py                     # CPU, both presets
    python benchmarks/bench_model.py --device cuda --amp --channels-last --batch 128
    python benchmarks/bench_model.py --device cuda --amp --compile --preset paper --cases stage1

For each preset it times (a) stage-1 training (loss on ``coarse``), (b) progressive
stage-2 training (stage 1 frozen, loss on ``refined``) and (c) end-to-end training
(nothing frozen, loss on both). Prints one line per case; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time
from contextlib import nullcontext

import torch

import lbi  # noqa: F401  (torchvision shim before timm)
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
) -> float:
    """Samples/s of ``steps`` timed optimizer steps of one training case."""
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

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


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
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    names = list(PRESETS) if args.preset == "all" else [args.preset]
    print(
        f"device={device} amp={args.amp} channels_last={args.channels_last} "
        f"compile={args.compile} threads={torch.get_num_threads()} torch={torch.__version__}"
    )
    for name in names:
        cfg = PRESETS[name]
        batch = args.batch or (16 if name == "cpu" else 2)
        for case in args.cases:
            sps = bench_case(
                cfg,
                case,
                batch=batch,
                steps=args.steps,
                warmup=args.warmup,
                device=device,
                amp=args.amp,
                channels_last=args.channels_last,
                compile_model=args.compile,
            )
            print(f"{name:6s} {cfg.backbone:12s} batch={batch:4d} {case:14s} {sps:9.1f} samples/s")


if __name__ == "__main__":
    main()

"""Parameter counts and FLOPs per sample of the models we train.

    python -m lbi.model.summary                    # cpu and paper presets + variants
    python -m lbi.model.summary --preset paper --backbone hrnet_w48

Rows: the LBI preset, the same with a plain-TL stage 1 (the paper's "straightforward
image model", evaluated at stage 1) and the two lifting baselines at the sizes of
their papers. FLOPs come from ``torch.utils.flop_counter.FlopCounterMode`` (matmuls,
convolutions, attention; 1 multiply-add = 2 FLOPs) for one sample.
"""

from __future__ import annotations

import argparse
import dataclasses

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from lbi.model.build import build_model
from lbi.model.config import BACKBONES, PRESETS, ModelConfig
from lbi.model.lbi import LBIModel


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameter counts: ``encoder``, ``stage1`` (tokens, layers, coarse head; no
    encoder), ``stage2`` and ``total``. Lifters count everything as stage 1."""
    total = sum(p.numel() for p in model.parameters())
    if isinstance(model, LBIModel):
        encoder = sum(p.numel() for p in model.encoder.parameters())
        stage1 = sum(p.numel() for p in model.stage1_parameters()) - encoder
        stage2 = sum(p.numel() for p in model.stage2_parameters())
    else:
        encoder, stage1, stage2 = 0, total, 0
    return {"encoder": encoder, "stage1": stage1, "stage2": stage2, "total": total}


@torch.no_grad()
def count_flops(model: nn.Module, cfg: ModelConfig, stage: int = 2) -> int:
    """FLOPs of one forward pass on one sample (eval mode)."""
    was_training = model.training
    model.eval()
    image = torch.zeros(1, 3, *cfg.input_hw, dtype=torch.uint8)  # (1, 3, H, W)
    pose2d = torch.zeros(1, cfg.num_joints_in, 2)  # (1, J, 2)
    counter = FlopCounterMode(display=False)
    with counter:
        model(image, pose2d, stage=stage)
    model.train(was_training)
    return counter.get_total_flops()


def summary_rows(preset: ModelConfig) -> list[tuple[str, ModelConfig, int]]:
    """(name, config, stage evaluated) for the table."""
    return [
        ("LBI", preset, 2),
        ("straightforward TL (stage 1)", dataclasses.replace(preset, stage1=("tl",) * 3), 1),
        ("lifter_mlp (Martinez)", ModelConfig(arch="lifter_mlp", lifter_dim=1024, dropout=0.5), 1),
        (
            "lifter_graformer",
            ModelConfig(arch="lifter_graformer", lifter_dim=96, lifter_layers=5),
            1,
        ),
    ]


def format_table(preset_name: str, preset: ModelConfig) -> str:
    lines = [
        f"== preset {preset_name}: backbone={preset.backbone} input={preset.input_hw} "
        f"dim={preset.dim} heads={preset.heads} stage1={preset.stage1} r={preset.retention}",
        f"{'model':32s} {'encoder':>10s} {'stage1':>10s} {'stage2':>10s} {'total':>10s}"
        f" {'GFLOPs':>8s}",
    ]
    for name, cfg, stage in summary_rows(preset):
        model = build_model(cfg)
        p = count_parameters(model)
        gflops = count_flops(model, cfg, stage) / 1e9
        lines.append(
            f"{name:32s} {p['encoder'] / 1e6:9.3f}M {p['stage1'] / 1e6:9.3f}M "
            f"{p['stage2'] / 1e6:9.3f}M {p['total'] / 1e6:9.3f}M {gflops:8.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--preset", choices=[*PRESETS, "all"], default="all")
    ap.add_argument("--backbone", choices=BACKBONES, help="override the preset's backbone")
    ap.add_argument("--input-hw", type=int, nargs=2, metavar=("H", "W"))
    ap.add_argument("--dim", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--retention", type=float)
    args = ap.parse_args(argv)
    overrides = {
        k: v
        for k, v in {
            "backbone": args.backbone,
            "input_hw": tuple(args.input_hw) if args.input_hw else None,
            "dim": args.dim,
            "heads": args.heads,
            "retention": args.retention,
        }.items()
        if v is not None
    }
    names = list(PRESETS) if args.preset == "all" else [args.preset]
    for name in names:
        print(format_table(name, dataclasses.replace(PRESETS[name], **overrides)))
        print()


if __name__ == "__main__":
    main()

"""Table 10: image encoder (refined pose), plus the CPU backbone ``resnet18_s4``.

The paper's encoders are COCO-pose pretrained; pass local weight files with
``--pretrained hrnet_w32=/path/w32.pth`` (nothing is downloaded). Without one, the
pipeline's backbone starts as in ``train_stage1`` (the ``pretrain2d`` weights on the
embedded default) and the others from random weights (their records' params say so).
HRNet needs crops divisible by 32. Usage::

    python sweeps/ablate_backbone.py [--smoke] [--backbones resnet50 hrnet_w32]
"""

from __future__ import annotations

import argparse

from _common import axis, main, parser, seeds

from lbi.params import load_params
from lbi.sweep import SweepSpec, cells

LABELS = {"resnet50": "Resnet50", "resnet101": "Resnet101", "hrnet_w32": "HRNet-w32",
          "hrnet_w48": "HRNet-w48", "resnet18_s4": "ResNet18-s4 (CPU)"}  # fmt: skip
SMOKE = ("resnet18_s4", "resnet50")


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    weights = dict(kv.split("=", 1) for kv in args.pretrained or [])
    unknown = set(weights) - set(LABELS)
    if unknown:
        raise ValueError(f"--pretrained: unknown backbone(s) {sorted(unknown)}; use {list(LABELS)}")
    own = load_params(args.params).model.backbone  # the pipeline's encoder init is for it
    rows = []
    for b in axis(args, args.backbones, tuple(LABELS), SMOKE):
        over: dict[str, object] = {"model.backbone": b}
        if b in weights or b != own:  # a given weight file, or random init
            over |= {"pretrain2d.enabled": False, "model.pretrained": weights.get(b)}
        rows.append((b, over, LABELS[b], "MPJPE"))
    return SweepSpec("backbone", "10", cells("progressive", "10", rows), seeds(args), source)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, backbones={"nargs": "+", "choices": tuple(LABELS)},
                  pretrained={"nargs": "+", "metavar": "BACKBONE=FILE", "help": "local weights"})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build)

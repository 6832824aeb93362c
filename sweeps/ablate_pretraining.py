"""Table 9: image-encoder pretraining (refined pose): random init vs 2D-pose pretraining.

The paper compares ImageNet with COCO 2D-pose pretraining. On the embedded benchmark the
2D-pose pretraining is the ``pretrain2d`` stage (the COCO stand-in; run ``dvc repro
pretrain2d`` first); it is compared with a randomly initialised encoder. Add your own
weight files (e.g. ImageNet) with ``--weights NAME=FILE``. Usage::

    python sweeps/ablate_pretraining.py [--smoke] [--weights imagenet=/path/resnet18.pth]
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.experiment import StagePaths, encoder_init
from lbi.params import load_params
from lbi.sweep import SweepSpec, cells

RANDOM = {"pretrain2d.enabled": False, "model.pretrained": None}


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    p = load_params(args.params)
    init = encoder_init(p, StagePaths.from_params(p.paths))
    if init is None and not args.weights:
        raise ValueError(f"{args.params}: no pretrained encoder to compare (pretrain2d.enabled "
                         "false, model.pretrained null): enable one or pass --weights NAME=FILE")  # fmt: skip
    rows = [("none", RANDOM, "none (random init)", "MPJPE")]
    if init is not None:  # the pipeline's own initialisation: no override
        own = "2D pose, embedded 2D set (synthetic)" if p.pretrain2d.enabled else init
        rows.append(("pipeline", {}, own, "MPJPE"))
    for kv in args.weights or []:
        name, _, path = kv.partition("=")
        if not name or not path:
            raise ValueError(f"--weights {kv!r}: expected NAME=FILE")
        rows.append((name, {**RANDOM, "model.pretrained": path}, name, "MPJPE"))
    return SweepSpec("pretraining", "9", cells("progressive", "9", rows), seeds(args), source)


def arguments() -> argparse.ArgumentParser:
    return parser(__doc__, weights={"nargs": "+", "metavar": "NAME=FILE", "help": "more weights"})  # fmt: skip


if __name__ == "__main__":
    main(arguments().parse_args(), build)

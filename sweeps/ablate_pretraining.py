"""Table 9: image-encoder pretraining (refined pose): random init vs 2D-pose pretraining.

The paper compares ImageNet with COCO 2D-pose pretraining. On the embedded benchmark the
2D-pose pretraining is the ``pretrain2d`` stage (an encoder trained on 2D keypoints over a
rendered 2D set, the COCO stand-in; run ``dvc repro pretrain2d`` first); it is compared
with a randomly initialised encoder. To add your own weight files (e.g. ImageNet, COCO
pose-HRNet for the configured backbone), pass ``--weights NAME=FILE``. Usage::

    python sweeps/ablate_pretraining.py [--smoke] [--weights imagenet=/path/resnet18.pth]
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.params import encoder_init, load_params
from lbi.sweep import Cell, SweepSpec

POSE2D_ROW = "2D pose, embedded 2D set (synthetic)"
NONE_ROW = "none (random init)"


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    p = load_params(args.params)
    init = encoder_init(p)
    if init is None and not args.weights:
        raise ValueError(
            f"{args.params}: pretrain2d.enabled is false and model.pretrained is null, so there "
            "is no pretrained encoder to compare; enable pretrain2d or pass --weights NAME=FILE"
        )
    cells = [Cell("none", {"model.pretrained": None}, row=NONE_ROW)]
    if init is not None:  # the pipeline's own initialisation: no override
        row = POSE2D_ROW if p.pretrain2d.enabled else f"model.pretrained ({init})"
        cells.append(Cell("pipeline", {}, row=row))
    for kv in args.weights or []:
        name, _, path = kv.partition("=")
        if not name or not path:
            raise ValueError(f"--weights {kv!r}: expected NAME=FILE")
        cells.append(Cell(name, {"model.pretrained": path}, row=name))
    columns = {"MPJPE": "test_refined_p1_mm", "3DHP MPJPE": "cross_refined_mpjpe_mm"}
    return SweepSpec("pretraining", "9", tuple(cells), seeds(args), source, columns=columns)


def arguments() -> argparse.ArgumentParser:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", metavar="NAME=FILE", help="more local encoder weights")
    return ap


if __name__ == "__main__":
    main(arguments().parse_args(), build)

"""Stage ``pretrain2d``: pretrain the encoder on 2D keypoints (the embedded stand-in for COCO).

The paper's encoder starts from COCO 2D-pose weights. On the embedded benchmark this stage
renders a diverse 2D set (training clips and subjects only, random cameras, lights,
backgrounds; :mod:`lbi.data.pose2d_set`), trains ``keypoints2d`` (encoder + heatmap
head, soft-argmax, L1 in px) with the one loop, and writes the backbone as a timm-format
weight file that ``train_stage1`` loads (:func:`lbi.experiment.encoder_init`).
Validation: 2D error (px) on the lab test and wild crops.

``pretrain2d.enabled: false`` (real data: point ``model.pretrained`` at the COCO file):
writes only ``backbone.json`` saying so. ``${paths.store_pose2d}`` is never emptied
wholesale: only the files this stage wrote are replaced; a folder holding anything
else is an error naming it.
Reads params: ``data.dataset``, ``embedded``, ``pretrain2d``, ``model.backbone``,
``model.input_hw``. Writes ``${paths.models}/pretrain2d/`` and ``${paths.store_pose2d}``.
Work: :func:`lbi.stages.pretrain2d`.
"""

from __future__ import annotations

from pipeline._cli import parse, paths, run


def main() -> None:
    args, p = parse(__doc__.splitlines()[0])
    from lbi import stages

    info = stages.pretrain2d(p, paths(p), progress=not args.no_progress)
    if not info["enabled"]:
        print(
            f"pretrain2d: disabled; stage 1 initialises from model.pretrained = {info['pretrained']}"
        )
    else:
        print(f"pretrain2d: backbone -> {info['file']} ({info['train_samples']} crops)")


if __name__ == "__main__":
    run(main)

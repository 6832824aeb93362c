"""Stage ``train_stage1@<source>``: encoder + stage 1 (TL, PGTL, TL) to the coarse pose.

The encoder backbone starts from :func:`lbi.experiment.encoder_init`: the ``pretrain2d``
stage's weights (embedded default) or ``model.pretrained``.
Reads params: ``data``, ``model``, ``pretrain2d.enabled``, ``train_stage1``. Writes
``${paths.models}/<source>/stage1.pt`` and ``${paths.plots}/<source>/stage1.json``.
Resumes from ``${paths.checkpoints}/stage1_<source>/last.pt`` after a kill.
Work: :func:`lbi.stages.train_stage1`.
"""

from __future__ import annotations

from pipeline._cli import parse, paths, run, trained


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi import stages

    res = stages.train_stage1(p, args.source, paths(p), progress=not args.no_progress)
    trained("train_stage1", args.source, res)


if __name__ == "__main__":
    run(main)

"""Stage ``train_stage2@<source>``: stage 2 on the AFSM-kept tokens, from the trained stage 1.

``train_stage2.finetune_stage1: false`` freezes stage 1 (the paper's progressive schedule);
``true`` trains stage 1 on with stage 2, loss on the coarse and the refined pose.
Reads params: ``data``, ``train_stage2``, ``prune.retention``. Writes ``${paths.models}/<source>/stage2.pt`` and ``${paths.plots}/<source>/stage2.json``.
Work: :func:`lbi.stages.train_stage2`.
"""

from __future__ import annotations

from pipeline._cli import parse, paths, run, trained


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi import stages

    res = stages.train_stage2(p, args.source, paths(p), progress=not args.no_progress)
    trained("train_stage2", args.source, res)


if __name__ == "__main__":
    run(main)

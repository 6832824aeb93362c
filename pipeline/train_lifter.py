"""Stage ``train_lifter@<source>``: the 2D-only lifter, same loop and budget as LBI.

Reads params: ``data``, ``lifter`` (and warns when ``lifter.train.epochs`` is not
``train_stage1.epochs + train_stage2.epochs``, LBI's budget). Writes
``${paths.models}/<source>/lifter.pt`` and ``${paths.plots}/<source>/lifter.json``.
Work: :func:`lbi.stages.train_lifter`.
"""

from __future__ import annotations

from pipeline._cli import parse, paths, run, trained


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi import stages

    res = stages.train_lifter(p, args.source, paths(p), progress=not args.no_progress)
    trained("train_lifter", args.source, res)


if __name__ == "__main__":
    run(main)

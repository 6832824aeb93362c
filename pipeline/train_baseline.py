"""Stage ``train_baseline@<source>``: the 2D-only lifter, same loop and budget as LBI.

Reads params: ``data``, ``baseline``. Writes ``${paths.models}/<source>/baseline.pt``
and ``${paths.plots}/<source>/baseline.json``.
"""

from __future__ import annotations

import dataclasses

from pipeline._cli import parse, run, train_stage


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.config import to_dict
    from lbi.model import build_model

    def model_for(ds):  # type: ignore[no-untyped-def]
        return build_model(
            dataclasses.replace(p.baseline.model, num_joints_in=ds.train.num_joints_in)
        )

    cfg = p.baseline.train
    log = {"model": to_dict(p.baseline.model), "train": to_dict(cfg), "source": args.source}
    train_stage("train_baseline", "lifter", args.source, model_for, cfg, p,
                out_name="baseline", log_params=log, progress=not args.no_progress)  # fmt: skip


if __name__ == "__main__":
    run(main)

"""Stage ``train_stage1@<source>``: encoder + stage 1 (TL, PGTL, TL) to the coarse pose.

Reads params: ``data``, ``model``, ``train_stage1``. Writes
``${paths.models}/<source>/stage1.pt`` and ``${paths.plots}/<source>/stage1.json``.
Resumes from ``${paths.checkpoints}/stage1_<source>/last.pt`` after a kill.
"""

from __future__ import annotations

import dataclasses

from pipeline._cli import parse, run, train_stage


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.config import to_dict
    from lbi.model import build_model

    def model_for(ds):  # type: ignore[no-untyped-def] - the input joint count comes from the source
        return build_model(dataclasses.replace(p.model, num_joints_in=ds.train.num_joints_in))

    log = {"model": to_dict(p.model), "train": to_dict(p.train_stage1), "source": args.source}
    train_stage("train_stage1", "stage1", args.source, model_for, p.train_stage1, p,
                out_name="stage1", log_params=log, progress=not args.no_progress)  # fmt: skip


if __name__ == "__main__":
    run(main)

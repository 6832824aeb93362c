"""Stage ``train_stage1@<source>``: encoder + stage 1 (TL, PGTL, TL) to the coarse pose.

The encoder backbone starts from :func:`lbi.params.encoder_init`: the ``pretrain2d``
stage's weights (embedded default) or ``model.pretrained``.
Reads params: ``data``, ``model``, ``pretrain2d.enabled``, ``train_stage1``. Writes
``${paths.models}/<source>/stage1.pt`` and ``${paths.plots}/<source>/stage1.json``.
Resumes from ``${paths.checkpoints}/stage1_<source>/last.pt`` after a kill.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline._cli import parse, run, train_stage


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.config import to_dict
    from lbi.model import build_model
    from lbi.params import encoder_init
    from lbi.tracking import file_md5

    init = encoder_init(p)
    if init is not None and not Path(init).is_file():
        raise FileNotFoundError(
            f"encoder weights {init} not found: run `dvc repro pretrain2d` (pretrain2d.enabled) "
            "or fix model.pretrained in params.yaml"
        )

    def model_for(ds):  # type: ignore[no-untyped-def] - the input joint count comes from the source
        return build_model(
            dataclasses.replace(p.model, num_joints_in=ds.train.num_joints_in, pretrained=init)
        )

    log = {"model": to_dict(p.model), "train": to_dict(p.train_stage1), "source": args.source,
           "encoder_init": init}  # fmt: skip
    # A changed initialisation must not resume an old run.
    extra = {"encoder_init_md5": file_md5(Path(init)) if init else None}
    train_stage("train_stage1", "stage1", args.source, model_for, p.train_stage1, p,
                out_name="stage1", log_params=log, progress=not args.no_progress,
                extra_state=extra)  # fmt: skip


if __name__ == "__main__":
    run(main)

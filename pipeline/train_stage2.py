"""Stage ``train_stage2@<source>``: stage 2 on the AFSM-kept tokens, from the trained stage 1.

``train_stage2.finetune_stage1: false`` freezes stage 1 (the paper's progressive schedule);
``true`` (params.yaml's default, not the paper's) trains stage 1 on with stage 2, loss on
the coarse and the refined pose.
Reads params: ``data``, ``train_stage2``; the retention r comes from the prune stage's
output. Writes ``${paths.models}/<source>/stage2.pt`` and ``${paths.plots}/<source>/stage2.json``.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline._cli import parse, run, train_stage


def main() -> None:
    args, p = parse(__doc__.splitlines()[0], source=True)
    from lbi.config import to_dict
    from lbi.experiment import stage2_model_from_stage1
    from lbi.tracking import file_md5

    afsm_path = Path(p.paths.prune) / args.source / "afsm.json"
    if not afsm_path.exists():
        raise FileNotFoundError(f"{afsm_path}: missing; run `dvc repro prune@{args.source}`")
    r = float(json.loads(afsm_path.read_text())["r"])
    stage1 = Path(p.paths.models) / args.source / "stage1.pt"
    model = stage2_model_from_stage1(stage1, r, seed=p.train_stage2.seed)
    log = {
        "train": to_dict(p.train_stage2),
        "source": args.source,
        "prune.r": r,
        "stage1": str(stage1),
    }
    train_stage("train_stage2", p.train_stage2.phase, args.source, model, p.train_stage2, p, out_name="stage2",
                log_params=log, progress=not args.no_progress, extra_state={"retention": r, "stage1_md5": file_md5(stage1)})  # fmt: skip


if __name__ == "__main__":
    run(main)

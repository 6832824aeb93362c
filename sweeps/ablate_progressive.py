"""Table 4: progressive (stage 1 -> frozen -> stage 2) vs end-to-end training.

Rows: end-to-end with loss on the refined pose (``e2e_fine``), on both poses
(``e2e_both``), both for the progressive run's total epochs (stage 1 + stage 2) with the
stage-1 optimiser settings; and the progressive run's coarse and refined poses, with
stage 1 frozen in stage 2 (``progressive``, the paper) and trained on in stage 2
(``progressive_ft``, ``train_stage2.finetune_stage1``: the pipeline's default, not the
paper's; its rows say "stage 1 fine-tuned in stage 2").
Columns: Human3.6M (Protocol 1) and 3DHP (MPJPE). Usage::

    python sweeps/ablate_progressive.py [--smoke] [--modes progressive progressive_ft]
"""

from __future__ import annotations

import argparse

from _common import main, parser, seeds

from lbi.sweep import Cell, Entry, SweepSpec

# Cell -> (row tag, training mode, stage 1 trained on in stage 2). Both progressive cells
# are tagged "progressive"; the runs' lbi.finetune_stage1 tag sets the fine-tuned rows apart.
MODES = {
    "e2e_fine": ("end-to-end w/ fine supervision", "e2e_fine", False),
    "e2e_both": ("end-to-end w/ both supervision", "e2e_both", False),
    "progressive": ("progressive", "progressive", False),
    "progressive_ft": ("progressive", "progressive", True),
}
COLUMNS = ("Human3.6m", "3DHP")


def build(args: argparse.Namespace, source: str) -> SweepSpec:
    cells, entries = [], []
    for m in args.modes or tuple(MODES):
        row_tag, mode, ft = MODES[m]
        over = {"train_stage2.finetune_stage1": ft} if mode == "progressive" else {}
        cells.append(Cell(m, over, mode=mode, row=row_tag, column=",".join(COLUMNS)))
        suffix = " (stage 1 fine-tuned)" if ft else ""
        rows = (
            {row_tag: "refined"}
            if mode != "progressive"
            else {f"Coarse Pose{suffix}": "coarse", f"Refined Pose{suffix}": "refined"}
        )
        for row, out in rows.items():
            entries += [
                Entry(row, "Human3.6m", m, f"test_{out}_p1_mm"),
                Entry(row, "3DHP", m, f"cross_{out}_mpjpe_mm"),
            ]
    return SweepSpec("progressive", "4", tuple(cells), seeds(args), source, tuple(entries))


def arguments() -> argparse.ArgumentParser:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--modes", nargs="+", choices=tuple(MODES))
    return ap


if __name__ == "__main__":
    main(arguments().parse_args(), build)

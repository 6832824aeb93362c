"""The paper's reported numbers, transcribed exactly as printed, keyed by table/row/column.

Source: *Lifting by Image* (Zhou, Yin, Li), main text and appendix. Only the rows
"Ours" and the comparison rows the report shows are kept (GraFormer is the paper's
qualitative baseline and the architecture of our 2D-only baseline lifter). A value the
paper prints as "-" is ``None``. Units: MPJPE / P-MPJPE in mm; PCK, AUC and background
attention in %.

These numbers are measured by the authors on Human3.6M / MPI-INF-3DHP. The report shows
them only in rows or columns labelled "paper (...)"; nothing here is ever used to compute
one of our cells.

Two observations about the printed Table 2 / Table 8 "Ours" rows (kept as printed):

- their "Avg." is not the mean of their 15 action columns (e.g. SH, Protocol 1: the
  columns average 50.4, "Avg." says 51.0), so the paper's average is probably not the
  action-wise mean; the report shows both of our averages (action-wise and frame-wise);
- their columns look permuted against the header (Photo 42.8 where every other method
  has 57-73), as if listed in alphabetical raw-name order. We do not reorder them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

# Table 2 / Table 8 action columns in the paper's order (= lbi.actions.H36M_ACTIONS).
PAPER_ACTION_COLUMNS: Final[tuple[str, ...]] = (
    "Dir.",
    "Disc",
    "Eat",
    "Greet",
    "Phone",
    "Photo",
    "Pose",
    "Purch.",
    "Sit",
    "SitD.",
    "Smoke",
    "Wait",
    "WalkD.",
    "Walk",
    "WalkT.",
)
_ACTIONS_AVG: Final[tuple[str, ...]] = (*PAPER_ACTION_COLUMNS, "Avg.")


@dataclass(frozen=True)
class PaperTable:
    """One of the paper's tables (or one block of it): ``rows[row][i]`` is column ``i``."""

    key: str  # e.g. "table2_sh"
    number: int  # the paper's table number
    columns: tuple[str, ...]
    caption: str  # the paper's caption, shortened
    rows: Mapping[str, tuple[float | None, ...]]

    def __post_init__(self) -> None:
        for row, values in self.rows.items():
            if len(values) != len(self.columns):
                raise ValueError(
                    f"paper {self.key} row {row!r}: {len(values)} values for "
                    f"{len(self.columns)} columns {self.columns}"
                )

    def cell(self, row: str, column: str) -> float | None:
        """The printed value at (row, column); ``None`` where the paper prints "-"."""
        if row not in self.rows:
            raise KeyError(f"paper {self.key} has no row {row!r}; rows: {list(self.rows)}")
        if column not in self.columns:
            raise KeyError(f"paper {self.key} has no column {column!r}; columns: {self.columns}")
        return self.rows[row][self.columns.index(column)]


GRAFORMER: Final[str] = "Graformer (Zhao, Wang, and Tian 2022)"
OURS: Final[str] = "Ours *"

# One line per printed row: values as printed, in the paper's column order.
# fmt: off
TABLES: Final[dict[str, PaperTable]] = {t.key: t for t in (
    PaperTable("table1", 1, ("MPJPE", "Background Attention"),
               "Comparison of different test datasets and observed issues of excessive "
               "attention to the background and poor generalization.", {
        "H3.6M -> H3.6M": (30.4, 73.0),
        "H3.6M -> 3DHP": (74.2, 75.0),
    }),
    PaperTable("table2_sh", 2, _ACTIONS_AVG,
               "Human3.6M, Protocol 1, SH detected 2D poses (top block).", {
        GRAFORMER: (49.3, 53.9, 54.1, 55.0, 63.0, 69.8, 51.1, 53.3,
                    69.4, 90.0, 58.0, 55.2, 60.3, 47.4, 50.6, 58.7),
        OURS: (48.3, 51.5, 46.1, 48.5, 53.7, 42.8, 47.3, 59.9,
               71.0, 51.6, 52.7, 46.1, 39.8, 53.0, 43.9, 51.0),
    }),
    PaperTable("table2_cpn", 2, _ACTIONS_AVG,
               "Human3.6M, Protocol 1, CPN detected 2D poses (middle block).", {
        OURS: (44.9, 46.4, 42.4, 44.9, 48.7, 40.1, 44.3, 55.0,
               58.9, 47.1, 48.2, 42.6, 36.9, 48.8, 40.1, 46.4),
    }),
    PaperTable("table2_gt", 2, _ACTIONS_AVG,
               "Human3.6M, Protocol 1, ground-truth 2D poses (bottom block).", {
        GRAFORMER: (32.0, 38.0, 30.4, 34.4, 34.7, 43.3, 35.2, 31.4,
                    38.0, 46.2, 34.2, 35.7, 36.1, 27.4, 30.6, 35.2),
        OURS: (29.5, 30.1, 25.0, 29.0, 28.5, 28.6, 26.9, 30.5,
               31.1, 27.7, 32.4, 27.7, 24.8, 30.0, 25.9, 28.6),
    }),
    PaperTable("table3", 3, ("PCK", "AUC", "MPJPE"),
               "MPI-INF-3DHP (trained on Human3.6M, ground-truth 2D input, no fine-tuning).", {
        "Simple (Martinez et al. 2017)": (82.6, 50.2, 88.6),
        "Ours": (88.2, 59.3, 68.9),
    }),
    PaperTable("table4", 4, ("Human3.6m", "3DHP"),
               "Ablation study on progressive learning.", {
        "end-to-end w/ fine supervision": (32.6, 76.4),
        "end-to-end w/ both supervision": (30.2, 72.4),
        "Coarse Pose": (29.2, 70.9),
        "Refined Pose": (28.6, 68.9),
    }),
    PaperTable("table5", 5, ("MPJPE", "Background Attention"),
               "Effect on the Pose-guided Transformer Layer (PGTL). Represented in Coarse pose "
               "in MPJPE.", {
        "w/o PGTL, H3.6M": (30.4, 73.0),
        "w/o PGTL, 3DHP": (74.2, 75.0),
        "w/ PGTL, H3.6M": (29.2, 60.0),
        "w/ PGTL, 3DHP": (70.9, 63.0),
    }),
    PaperTable("table6", 6, ("Transformer Layer", "Pose-guided Layer", "MPJPE"),
               "Effect on number of Transformer Layers in Stage 1.", {
        "0,2": (0, 2, 30.4),
        "1,1": (1, 1, 29.2),
        "2,0": (2, 0, 31.3),
    }),
    PaperTable("table7", 7, ("MPJPE",),
               "Ablation study on the retention rate r.", {
        "0.01": (28.9,),
        "0.3": (28.6,),
        "1": (29.0,),
        "Coarse Pose": (29.2,),
    }),
    PaperTable("table8_sh", 8, _ACTIONS_AVG,
               "Human3.6M, Protocol 2, SH 2D poses (top block).", {
        OURS: (37.5, 38.8, 38.5, 37.8, 42.8, 32.5, 35.6, 47.7,
               56.4, 42.2, 40.4, 35.1, 31.2, 40.9, 35.4, 40.1),
    }),
    PaperTable("table8_cpn", 8, _ACTIONS_AVG,
               "Human3.6M, Protocol 2, CPN 2D poses (bottom block).", {
        OURS: (34.4, 35.8, 34.1, 34.9, 36.4, 30.3, 33.3, 43.3,
               48.0, 37.0, 37.6, 32.4, 28.5, 36.9, 31.7, 36.0),
    }),
    PaperTable("table9", 9, ("MPJPE",),
               "Effect on the Image Encoder Pretraining.", {
        "ImageNet / Image Classification": (35.2,),
        "MS COCO / 2D human pose estimation": (28.6,),
    }),
    PaperTable("table10", 10, ("MPJPE",),
               "Ablation study on different Image Encoders (2D ground-truth input).", {
        "Resnet50": (33.7,),
        "Resnet101": (37.5,),
        "HRNet-w32": (28.6,),
        "HRNet-w48": (30.3,),
    }),
    PaperTable("table11", 11, ("H3.6M", "3DHP"),
               "Additional ablation on the Pose-guided dual attention.", {
        "Normalization before Transposition": (29.2, 70.9),
        "Normalization after Transposition": (29.6, 80.9),
        "Double Normalization": (29.8, 71.1),
        "Two Cross-attention": (30.2, 72.8),
    }),
)}
# fmt: on

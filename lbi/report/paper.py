"""The paper's reported numbers (``paper/tables.yaml``, transcribed as printed), keyed by
table/row/column. The file's comments say where they come from and what they mean; units:
MPJPE / P-MPJPE in mm; PCK, AUC and background attention in %. The report shows them only
in rows or columns labelled "paper (...)"; nothing here computes one of our cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from lbi.config import ConfigError, from_dict, load_yaml
from lbi.fingerprint import repo_root

PAPER_DIR: Final[Path] = repo_root() / "paper"  # the paper's tables and the claims ledger
SOURCE: Final[str] = "paper/tables.yaml"  # as the report cites it
TABLE_LAYOUT = (
    "A table is: number: <int>, caption: <text>, columns: [<name>, ...], rows: {<label>: "
    "[one number per column as printed, null where the paper prints '-']}; quote a label "
    "that YAML reads as a number ('0.3')"
)


@dataclass(frozen=True)
class PaperTable:
    """One of the paper's tables (or one block of it): ``rows[row][i]`` is column ``i``."""

    key: str  # e.g. "table2_sh"
    number: int  # the paper's table number
    caption: str  # the paper's caption, shortened
    columns: tuple[str, ...]
    rows: dict[str, tuple[int | float | None, ...]]  # as printed; None where it prints "-"

    def __post_init__(self) -> None:
        for row, values in self.rows.items():
            if len(values) != len(self.columns):
                n, cols = len(values), self.columns
                raise ValueError(f"row {row!r}: {n} values for {len(cols)} columns {cols}")

    def cell(self, row: str, column: str) -> float | None:
        """The printed value at (row, column); ``None`` where the paper prints "-"."""
        if row not in self.rows:
            raise KeyError(f"paper {self.key} has no row {row!r}; rows: {list(self.rows)}")
        if column not in self.columns:
            raise KeyError(f"paper {self.key} has no column {column!r}; columns: {self.columns}")
        return self.rows[row][self.columns.index(column)]


def load_tables(path: str | Path) -> dict[str, PaperTable]:
    """The tables of ``path`` by key, in file order; a malformed entry raises
    :class:`~lbi.config.ConfigError` naming the file, the table and the fix."""
    out = {}
    for key, entry in load_yaml(path).items():
        try:
            if not isinstance(entry, dict) or "key" in entry:
                raise ConfigError(f"{path}: table {key!r} is no mapping of the four keys")
            out[key] = from_dict(PaperTable, {"key": key, **entry}, where=f"{path}: table {key!r}")
        except ConfigError as e:
            raise ConfigError(f"{e}. {TABLE_LAYOUT}") from None
    return out


TABLES: Final[dict[str, PaperTable]] = load_tables(repo_root() / SOURCE)
# Table 2 / Table 8 action columns in the paper's order (= lbi.actions.H36M_ACTIONS).
PAPER_ACTION_COLUMNS: Final[tuple[str, ...]] = TABLES["table2_gt"].columns[:-1]

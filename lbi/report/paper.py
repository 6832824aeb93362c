"""The paper's reported numbers (``paper/tables.yaml``, transcribed as printed), keyed by
table/row/column. The file's comments say where they come from and what they mean; units:
MPJPE / P-MPJPE in mm; PCK, AUC and background attention in %. The report shows them only
in rows or columns labelled "paper (...)"; nothing here computes one of our cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final, TypeVar

from lbi.config import ConfigError, from_dict, load_yaml
from lbi.fingerprint import repo_root

T = TypeVar("T")
PAPER_DIR: Final[Path] = repo_root() / "paper"  # the paper's tables, the ablations, the claims
TABLES_FILE: Final[Path] = PAPER_DIR / "tables.yaml"
SOURCE: Final[str] = f"{PAPER_DIR.name}/{TABLES_FILE.name}"  # as the report cites it
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


def load_entries(path: str | Path, cls: type[T], layout: str, what: str, section: str = "",
                 beside: tuple[str, ...] = (), listed: bool = False,
                 build: Callable[..., T] | None = None) -> dict[str, T]:  # fmt: skip
    """The ``what`` entries of ``path`` (strict YAML) by name, in file order: the top level or
    its ``section`` (then beside only ``beside``), a mapping name -> fields (the name is the
    ``key`` where ``cls`` has one) or, ``listed``, a list of fields each with its ``key``. Each is
    ``build(fields, where)`` (default ``from_dict``); a ValueError is a ConfigError naming it."""
    doc = load_yaml(path)
    entries, kind = doc.get(section) if section else doc, list if listed else dict
    if section and (set(doc) != {section, *beside} or not isinstance(entries, kind)):
        want = f"{sorted({section, *beside})}, {section}: a {'list' if listed else 'mapping'}"
        raise ConfigError(f"{path}: expected top-level keys {want}; got {sorted(doc)}. {layout}")
    named = kind is dict and "key" in {f.name for f in fields(cls)}  # type: ignore[arg-type]
    out: dict[str, T] = {}
    items = entries.items() if kind is dict else ((f"#{i}", e) for i, e in enumerate(entries, 1))
    for name, entry in items:
        name = entry.get("key", name) if listed and isinstance(entry, dict) else name
        where = f"{path}: {what} {name!r}"
        try:
            if not isinstance(entry, dict) or (named and "key" in entry):
                raise ConfigError(f"{where}: expected a mapping of its keys (its name is its key)")
            entry = {"key": name, **entry} if named else entry
            built = build(entry, where) if build else from_dict(cls, entry, where=where)
            if name in out:
                raise ConfigError(f"{where}: a second {what} with this key; give each its own key")
            out[name] = built
        except ValueError as e:  # from_dict's ConfigError names the entry; a check's may not
            what_is_wrong = e if isinstance(e, ConfigError) else f"{where}: {e}"
            raise ConfigError(f"{what_is_wrong}. {layout}") from None
    return out


def load_tables(path: str | Path) -> dict[str, PaperTable]:
    """The tables of ``path`` by key, in file order (:func:`load_entries`)."""
    return load_entries(path, PaperTable, TABLE_LAYOUT, "table")


TABLES: Final[dict[str, PaperTable]] = load_tables(TABLES_FILE)
# Table 2 / Table 8 action columns in the paper's order (= lbi.actions.H36M_ACTIONS).
PAPER_ACTION_COLUMNS: Final[tuple[str, ...]] = TABLES["table2_gt"].columns[:-1]

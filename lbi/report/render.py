"""Report tables as data, and their Markdown / LaTeX renderings; cell formatting.

A :class:`Table` is one of the paper's tables regenerated: one or more :class:`Block`
(the paper's Table 2 has three: SH, CPN, GT), each a header and rows of already
formatted cells, plus notes and a provenance list. Missing values are :data:`MISSING`.
Numbers over several runs are ``mean ± std`` (sample standard deviation, ddof=1) with
the run count in an ``n`` column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

MISSING = "–"  # en dash: a cell with no value (never invented)


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof=1; 0 when n == 1) and count of runs."""

    mean: float
    std: float
    n: int


def aggregate(values: Iterable[float | None]) -> Stat | None:
    """Mean ± sample std over the finite values; ``None`` when there are none."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return None
    n = len(v)
    mean = sum(v) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1)) if n > 1 else 0.0
    return Stat(mean, std, n)


def fmt(value: float | None, digits: int = 1, unit: str = "") -> str:
    """One number with ``digits`` decimals (and a unit suffix such as ``%``); ``–`` if None."""
    if value is None or not math.isfinite(float(value)):
        return MISSING
    return f"{float(value):.{digits}f}{unit}"


def fmt_stat(stat: Stat | None, digits: int = 1, unit: str = "") -> str:
    """``mean`` for one run, ``mean ± std`` for several; ``–`` if None."""
    if stat is None:
        return MISSING
    if stat.n == 1:
        return fmt(stat.mean, digits, unit)
    return f"{stat.mean:.{digits}f} ± {stat.std:.{digits}f}{unit}"


def fmt_n(*stats: Stat | None) -> str:
    """The run count of a row (the largest n among its cells); ``–`` if no cell has runs."""
    ns = [s.n for s in stats if s is not None]
    return str(max(ns)) if ns else MISSING


@dataclass(frozen=True)
class Block:
    """One tabular: a title line, a header and rows of formatted cells."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for i, r in enumerate(self.rows):
            if len(r) != len(self.header):
                raise ValueError(
                    f"block {self.title!r} row {i} has {len(r)} cells for {len(self.header)} "
                    f"columns: {r}"
                )


@dataclass(frozen=True)
class Table:
    """A regenerated paper table: file stem ``key`` (e.g. ``table2_p1``), blocks, notes."""

    key: str
    title: str
    caption: str
    blocks: tuple[Block, ...]
    notes: tuple[str, ...] = ()
    provenance: tuple[str, ...] = field(default_factory=tuple)


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def block_markdown(b: Block) -> str:
    """A GitHub pipe table; first column left-aligned, the rest right-aligned."""
    head = "| " + " | ".join(_md_cell(h) for h in b.header) + " |"
    align = "|" + "|".join([":---"] + ["---:"] * (len(b.header) - 1)) + "|"
    body = ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in b.rows]
    return "\n".join([head, align, *body])


def table_markdown(t: Table, heading_level: int = 2, with_provenance: bool = True) -> str:
    """The whole table: heading, caption, one pipe table per block, notes, provenance."""
    out = [f"{'#' * heading_level} {t.title}", "", t.caption, ""]
    for b in t.blocks:
        if b.title:
            out += [f"**{b.title}**", ""]
        out += [block_markdown(b), ""]
    out += [f"- Note: {n}" for n in t.notes]
    if t.notes:
        out.append("")
    if with_provenance and t.provenance:
        out += ["Provenance:", *[f"- {p}" for p in t.provenance], ""]
    return "\n".join(out)


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_UNICODE = {
    "±": r"$\pm$",
    "–": "--",
    "→": r"$\rightarrow$",
    "↓": r"$\downarrow$",
    "↑": r"$\uparrow$",
    "≥": r"$\geq$",
    "·": r"$\cdot$",
    "×": r"$\times$",
}
_LATEX_RE = re.compile("|".join(re.escape(k) for k in (*_LATEX_ESCAPES, *_LATEX_UNICODE)))


def latex_escape(s: str) -> str:
    """Escape LaTeX specials and map the few non-ASCII symbols the report uses."""
    return _LATEX_RE.sub(lambda m: _LATEX_ESCAPES.get(m.group(), _LATEX_UNICODE.get(m.group())), s)


def block_latex(b: Block) -> str:
    """A booktabs ``tabular`` for one block (``\\usepackage{booktabs}``)."""
    spec = "l" + "r" * (len(b.header) - 1)
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule"]
    lines.append(" & ".join(latex_escape(h) for h in b.header) + " \\\\")
    lines.append("\\midrule")
    lines += [" & ".join(latex_escape(c) for c in r) + " \\\\" for r in b.rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines)


def table_latex(t: Table) -> str:
    """A ``table*`` float: one tabular per block, each under its title, then the caption."""
    lines = [
        f"% {t.key}: generated by lbi.report; needs \\usepackage{{booktabs,graphicx}}",
        "\\begin{table*}[t]",
        "\\centering",
        "\\small",
    ]
    for i, b in enumerate(t.blocks):
        if i:
            lines.append("\\medskip")
        if b.title:
            lines.append(f"\\par\\textbf{{{latex_escape(b.title)}}}\\par\\smallskip")
        lines += ["\\resizebox{\\textwidth}{!}{%", block_latex(b), "}"]
    caption = " ".join([t.caption, *t.notes])
    lines.append(f"\\caption{{{latex_escape(caption)}}}")
    lines.append(f"\\label{{tab:{t.key}}}")
    lines.append("\\end{table*}")
    return "\n".join(lines) + "\n"


def header_with(group: str, names: Sequence[str]) -> tuple[str, ...]:
    """Column names tagged with their provenance group, e.g. ``MPJPE · paper (Human3.6M)``."""
    return tuple(f"{n} · {group}" for n in names)

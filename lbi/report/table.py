"""A report table (blocks of rows, notes, provenance) and its Markdown / LaTeX text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    """One grid: a header and rows of cell text (``title`` may be empty)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"block {self.title!r}: row {row} vs header {self.header}")


@dataclass(frozen=True)
class Table:
    """A paper table regenerated: ``key`` names its files (``table7.md``, ``table7.tex``)."""

    key: str
    title: str
    caption: str
    blocks: tuple[Block, ...]
    notes: tuple[str, ...] = ()
    provenance: tuple[str, ...] = ()


def markdown_body(t: Table) -> str:
    """Caption, blocks, notes and provenance (no title line)."""
    out = [t.caption, ""]
    for b in t.blocks:
        if b.title:
            out += [f"**{b.title}**", ""]
        head, *rows = [
            "| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in (b.header, *b.rows)
        ]
        out += [head, "|:---|" + "---:|" * (len(b.header) - 1), *rows, ""]
    out += [*(f"- Note: {n}" for n in t.notes), *([""] if t.notes else [])]
    if t.provenance:
        out += ["Provenance:", *[f"- {p}" for p in t.provenance], ""]
    return "\n".join(out)


def markdown(t: Table) -> str:
    return f"# {t.title}\n\n{markdown_body(t)}"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_"}
_TEX |= {"{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_TEX |= {"±": r"$\pm$", "→": r"$\rightarrow$", "·": r"$\cdot$", "–": "--", "—": "---", "≥": r"$\geq$"}  # fmt: skip


def tex_escape(s: str) -> str:
    return "".join(_TEX.get(c, c) for c in s)


def latex(t: Table) -> str:
    """One ``tabular`` per block (booktabs), caption and notes as comments-free text."""
    out = [f"% {tex_escape(t.title)}", f"\\paragraph{{{tex_escape(t.caption)}}}", ""]
    for b in t.blocks:
        if b.title:
            out.append(f"\\textbf{{{tex_escape(b.title)}}}\\\\")
        head, *rows = [" & ".join(map(tex_escape, r)) + " \\\\" for r in (b.header, *b.rows)]
        out += ["\\begin{tabular}{l" + "r" * (len(b.header) - 1) + "}", "\\toprule", head]
        out += ["\\midrule", *rows, "\\bottomrule", "\\end{tabular}", ""]
    out += [tex_escape(n) + "\\\\" for n in t.notes]
    return "\n".join(out) + "\n"

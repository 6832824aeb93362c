"""Which paper row a tagged run belongs to: one matching rule per table.

A rule maps a :class:`~lbi.report.collect.RunRecord` to canonical row keys (usually one;
Table 4's ``progressive`` run fills two rows). The paper's rows have fixed keys (the
``KEYS`` tuples below); a run whose key is not among them becomes an extra row. The
rules read the tags the sweeps write (``lbi.row``, ``lbi.column``, ``lbi.cell``; see
``sweeps/*.py``) and the row names the pipeline's own model gets
(:func:`lbi.report.ablations.pipeline_records`).
"""

from __future__ import annotations

import re

from lbi.report.collect import RunRecord

TABLE4_KEYS = ("e2e_fine", "e2e_both", "coarse", "refined")
TABLE6_KEYS = ("pgtl,pgtl,tl", "tl,pgtl,tl", "tl,tl,tl")  # paper (TL, PGL) = (0,2), (1,1), (2,0)
TABLE7_KEYS = ("0.01", "0.3", "1", "coarse")
TABLE9_KEYS = ("imagenet", "coco")
TABLE11_KEYS = ("before", "after", "double", "two_cross")
_NUMBER = re.compile(r"\d*\.?\d+(?:e-?\d+)?")


def norm(s: str) -> str:
    """Lower case, letters/digits/dots only: ``"HRNet-w32"`` -> ``"hrnetw32"``."""
    return re.sub(r"[^a-z0-9.]", "", s.lower())


def _texts(r: RunRecord) -> list[str]:
    return [t for t in (r.row, r.column, r.cell) if t]


def progressive(r: RunRecord) -> list[str]:
    """Table 4: end-to-end fine / both, or a progressive run (fills coarse *and* refined)."""
    t = norm(r.row)
    if "both" in t:
        return ["e2e_both"]
    if "fine" in t:
        return ["e2e_fine"]
    if "progressive" in t:
        return ["coarse", "refined"]
    if "coarse" in t:
        return ["coarse"]
    if "refine" in t:
        return ["refined"]
    return [t]


def layer_pattern(text: str) -> str | None:
    """``"tl,pgtl,tl"`` as is; the paper's counts ``"1/1"`` -> ``tl*1 + pgtl*1 + tl``."""
    kinds = re.findall(r"pgtl|tl", text.lower())
    if kinds:
        return ",".join(kinds)
    counts = [int(x) for x in re.findall(r"\d+", text)]
    if len(counts) == 2:
        return ",".join(["tl"] * counts[0] + ["pgtl"] * counts[1] + ["tl"])
    return None


def layers(r: RunRecord) -> list[str]:
    """Table 6: the stage-1 layer pattern, from the row tag, else the cell name."""
    for t in (r.row, r.cell or ""):
        p = layer_pattern(t)
        if p:
            return [p]
    return [norm(r.row)]


def layer_counts(key: str) -> tuple[str, str]:
    """(TL, PGL) counts of the first len-1 layers of a pattern key; "–" if not a pattern."""
    kinds = key.split(",")
    if not all(k in ("tl", "pgtl") for k in kinds):
        return ("–", "–")
    first = kinds[:-1]
    return (str(first.count("tl")), str(first.count("pgtl")))


def retention(r: RunRecord) -> list[str]:
    """Table 7: ``coarse``, else the first number in row, column, cell (``r=0.3`` -> 0.3)."""
    texts = _texts(r)
    if any("coarse" in t.lower() for t in texts):
        return ["coarse"]
    for t in texts:
        m = _NUMBER.search(t)
        if m:
            return [f"{float(m.group()):g}"]
    return [norm(r.row)]


def retention_order(key: str) -> tuple[int, float, str]:
    """Numeric r ascending, then the coarse row and anything else."""
    base = key.partition("@")[0]
    try:
        return (0, float(base), key)
    except ValueError:
        return (1, 0.0, key)


def pretraining(r: RunRecord) -> list[str]:
    """Table 9: ImageNet or (MS) COCO pretraining."""
    t = " ".join(norm(x) for x in _texts(r))
    return ["imagenet" if "imagenet" in t else "coco" if "coco" in t else norm(r.row)]


def backbone(r: RunRecord) -> list[str]:
    """Table 10: the backbone id (cell name ``hrnet_w32``, else the row ``HRNet-w32``)."""
    return [re.sub(r"[^a-z0-9]", "", (r.cell or r.row).lower())]


def backbone_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def normalization(r: RunRecord) -> list[str]:
    """Table 11: before / after / double / two_cross (from row, else cell)."""
    for text in (r.row, r.cell or ""):
        t = norm(text)
        for k in ("before", "after", "double"):
            if k in t:
                return [k]
        if "two" in t or "cross" in t:
            return ["two_cross"]
    return [norm(r.row)]


def pgtl(r: RunRecord) -> list[str]:
    """Table 5: ``wo`` (w/o PGTL, no_pgtl, a pattern without pgtl) or ``w`` (w/ PGTL)."""
    t = r.row.lower()
    pattern = layer_pattern(t)
    if re.search(r"w/o|without|\bno\b|no[_\-]?pgtl|^wo\b|^wo[_\-]", t) or (
        pattern is not None and "pgtl" not in pattern
    ):
        return ["wo"]
    return ["w"] if re.search(r"pgtl|with|w/", t) else [norm(r.row)]

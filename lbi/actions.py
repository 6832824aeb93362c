"""Human3.6M action names: the 15 canonical actions and the mapping from raw names.

Raw Human3.6M sequence names carry a take suffix (``"Directions 1"``, ``"Sitting 2"``)
and two actions have longer spellings in the raw files (``TakingPhoto``,
``WalkingDog``); results tables use one short name per action, in the order of
:data:`H36M_ACTIONS` (the paper's table order).
"""

from __future__ import annotations

import re
from typing import Final

H36M_ACTIONS: Final[tuple[str, ...]] = (
    "Directions",
    "Discussion",
    "Eating",
    "Greeting",
    "Phoning",
    "Photo",
    "Posing",
    "Purchases",
    "Sitting",
    "SittingDown",
    "Smoking",
    "Waiting",
    "WalkDog",
    "Walking",
    "WalkTogether",
)

# Lower-cased spellings seen in raw files and in the field's code -> canonical name.
_ALIASES: Final[dict[str, str]] = {
    **{a.lower(): a for a in H36M_ACTIONS},
    "takingphoto": "Photo",
    "walkingdog": "WalkDog",
    "walkingtogether": "WalkTogether",
}
_TAKE_SUFFIX = re.compile(r"[\s_]*\d+$")


def canonical_action(name: str, *, strict: bool = True) -> str:
    """Canonical Human3.6M action for a raw name: ``"TakingPhoto 1"`` -> ``"Photo"``.

    Strips a trailing take number (``" 1"``, ``"_2"``), then maps variant spellings
    case-insensitively. Unknown names raise ``ValueError`` when ``strict``; otherwise
    the suffix-stripped name is returned unchanged (for non-H36M datasets).
    """
    base = _TAKE_SUFFIX.sub("", name.strip())
    canon = _ALIASES.get(base.lower())
    if canon is not None:
        return canon
    if strict:
        raise ValueError(
            f"unknown Human3.6M action {name!r}; expected one of {', '.join(H36M_ACTIONS)} "
            "(optionally with a take suffix such as ' 1', or TakingPhoto / WalkingDog)"
        )
    return base

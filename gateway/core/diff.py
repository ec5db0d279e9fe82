"""Field-level diffs between two reads of one telemetry row.

Rules:
- A field counts as changed when its JSON rendering would change: a different Python
  type (``1`` -> ``1.0``, ``True`` -> ``1``), a different value, or a float whose sign
  flips at zero (``0.0`` -> ``-0.0``). Lists and dicts are compared the same way, element
  by element.
- Keys only in the previous read are ``removed`` (sorted); keys that are new or changed
  are ``changed`` with their current value.
- ``apply(prev, diff(prev, curr))`` equals ``curr`` exactly; ``diff(row, row)`` is None.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Diff:
    """What changed between two reads of a row.

    Attributes:
        changed: Fields that are new or whose value changed, with their current value.
        removed: Fields present before and gone now, sorted.
    """

    changed: dict[str, Any]
    removed: tuple[str, ...]


def _same(a: Any, b: Any) -> bool:
    # Plain `==` is not enough: 1 == 1.0 == True and 0.0 == -0.0, yet each renders as
    # different JSON, and a client applying diffs must end up byte-identical.
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def diff(prev: Mapping[str, Any], curr: Mapping[str, Any]) -> Diff | None:
    """Compute the field-level diff that turns ``prev`` into ``curr``.

    Args:
        prev: The row as last sent to clients.
        curr: The row as just read.

    Returns:
        The diff, or None when nothing changed (so nothing is sent for the channel).
    """
    changed = {k: v for k, v in curr.items() if k not in prev or not _same(prev[k], v)}
    removed = tuple(sorted(k for k in prev if k not in curr))
    if not changed and not removed:
        return None
    return Diff(changed=changed, removed=removed)


def apply(row: Mapping[str, Any], d: Diff) -> dict[str, Any]:
    """Apply a diff to a row, the way a client does.

    Args:
        row: The row the diff was computed against.
        d: The diff to apply.

    Returns:
        A new dict; ``row`` is left untouched.
    """
    out = dict(row)
    for key in d.removed:
        out.pop(key, None)
    out.update(d.changed)
    return out

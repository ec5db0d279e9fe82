"""Field-level diffs: exact round trip, type-aware change detection."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.core.diff import Diff, apply, diff

KEYS = st.sampled_from(["a", "b", "c", "d", "speed_mph", "rpm"])
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
ROWS = st.dictionaries(KEYS, VALUES, max_size=6)


def canonical(row: dict[str, Any]) -> bytes:
    # JSON bytes tell 1 from 1.0 from True and 0.0 from -0.0, which `==` does not.
    return orjson.dumps(row, option=orjson.OPT_SORT_KEYS)


@settings(max_examples=200, deadline=None)
@given(st.lists(ROWS, min_size=1, max_size=12))
def test_applying_diffs_in_order_rebuilds_last_row(rows: list[dict[str, Any]]) -> None:
    state = dict(rows[0])
    for prev, curr in pairwise(rows):
        d = diff(prev, curr)
        if d is None:
            assert canonical(prev) == canonical(curr)
        else:
            state = apply(state, d)
        assert canonical(state) == canonical(curr)


@settings(max_examples=200, deadline=None)
@given(ROWS)
def test_diff_of_row_with_itself_is_none(row: dict[str, Any]) -> None:
    assert diff(row, row) is None
    assert diff(row, dict(row)) is None


@settings(max_examples=200, deadline=None)
@given(ROWS, ROWS)
def test_diff_only_carries_what_changed(prev: dict[str, Any], curr: dict[str, Any]) -> None:
    d = diff(prev, curr)
    if d is None:
        return
    assert list(d.removed) == sorted(set(prev) - set(curr))
    for key, value in d.changed.items():
        assert curr[key] is value
        if key in prev:
            assert canonical({key: prev[key]}) != canonical({key: value})


def test_changed_and_removed_fields() -> None:
    prev = {"speed_mph": 60.0, "rpm": 1400, "fuel_level_pct": 50.5, "gone": 1, "also": None}
    curr = {"speed_mph": 61.5, "rpm": 1400, "fuel_level_pct": 50.5, "new": "x"}
    assert diff(prev, curr) == Diff(changed={"speed_mph": 61.5, "new": "x"}, removed=("also", "gone"))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (1, 1.0),
        (1.0, 1),
        (True, 1),
        (0, False),
        (0.0, -0.0),
        (None, 0),
        ("1", 1),
        ([1], [1.0]),
        ({"x": 1}, {"x": True}),
    ],
)
def test_type_changes_count_as_changes(before: Any, after: Any) -> None:
    d = diff({"v": before}, {"v": after})
    assert d is not None
    assert d.changed == {"v": after}
    assert type(d.changed["v"]) is type(after)


def test_equal_nested_values_are_not_changes() -> None:
    row = {"v": [1, {"x": 2.5}], "w": {"k": [None]}}
    assert diff(row, {"v": [1, {"x": 2.5}], "w": {"k": [None]}}) is None


def test_null_value_is_kept_not_removed() -> None:
    d = diff({"lat": 1.5}, {"lat": None})
    assert d == Diff(changed={"lat": None}, removed=())


def test_apply_returns_new_dict_and_leaves_input_alone() -> None:
    row = {"a": 1, "b": 2}
    out = apply(row, Diff(changed={"a": 3}, removed=("b",)))
    assert out == {"a": 3}
    assert row == {"a": 1, "b": 2}
    assert out is not row


def test_apply_of_empty_row_builds_whole_row() -> None:
    curr = {"a": 1, "b": None}
    d = diff({}, curr)
    assert d is not None
    assert apply({}, d) == curr

"""Status transitions as plain function calls (gateway.core.status)."""

from __future__ import annotations

from gateway.core import status as st


def test_a_failure_degrades_once():
    assert st.after_failure(st.INITIAL) == [st.DB_UNAVAILABLE]
    assert st.after_failure(st.DB_UNAVAILABLE) == []
    assert st.after_failure(st.Status(st.STALE, "no reading for 200 s")) == [st.DB_UNAVAILABLE]


def test_a_missing_row_degrades_once():
    assert st.after_missing_row(st.INITIAL) == [st.ROW_MISSING]
    assert st.after_missing_row(st.ROW_MISSING) == []


def test_recovery_is_live_then_the_staleness_rule_on_the_same_read():
    assert st.after_read(st.DB_UNAVAILABLE, 1.0, 120) == ([st.Status(st.LIVE, "database reachable again")], [])
    assert st.after_read(st.DB_UNAVAILABLE, 500.0, 120) == (
        [st.Status(st.LIVE, "database reachable again")], [st.Status(st.STALE, "no reading for 500 s")])


def test_stale_is_entered_once_and_left_when_reporting_again():
    _, stale = st.after_read(st.INITIAL, 121.5, 120)
    assert stale == [st.Status(st.STALE, "no reading for 121 s")]
    assert st.after_read(stale[0], 300.0, 120) == ([], [])  # no frame per tick with a growing age
    assert st.after_read(stale[0], 2.0, 120) == ([], [st.Status(st.LIVE, "reporting again")])


def test_a_live_fresh_row_and_a_row_without_time_change_nothing():
    assert st.after_read(st.INITIAL, 3.0, 120) == ([], [])
    assert st.after_read(st.INITIAL, None, 120) == ([], [])
    assert st.after_read(st.Status(st.STALE, "x"), None, 120) == ([], [st.Status(st.LIVE, "reporting again")])

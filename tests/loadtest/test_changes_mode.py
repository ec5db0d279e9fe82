"""A short real run of ``changes``: a private binlog MariaDB, a polling gateway, then a binlog one.

A handful of clients for a few seconds; the assertions are about counts and sources, never
timings. The binlog half must really stream: its gateway says ``binlog`` at the window's
end, it handed rows from the log to its pollers, and MariaDB counted (next to) no SELECT
while the polling half's gateway read every 50 ms slot. A binlog half that fell back to
polling fails every one of these.
"""

from __future__ import annotations

from tests.loadtest.test_smoke import COMMON, TRUCKS, assert_clean_ws, assert_every_write_delivered, loadtest


def test_changes_runs_poll_then_binlog_and_the_binlog_half_streams(tmp_path):
    report = loadtest(tmp_path, "changes", "--clients", "40", "--server-cpus", "", "--duration", "3", *COMMON)
    assert report["mariadb"]["log_bin"] == "ON" and report["mariadb"]["binlog_format"] == "ROW"
    runs = report["runs"]
    assert list(runs) == ["poll", "binlog"]
    for run in runs.values():
        assert_clean_ws(run, 40)
        assert_every_write_delivered(run, 40)
    poll, binlog = runs["poll"]["change_capture"], runs["binlog"]["change_capture"]
    assert poll["change_source"] == "poll" and poll["binlog_rows_pushed_per_s"] == 0
    assert poll["com_select_per_s"] > 5 and poll["row_read_queries_per_s"] > 5
    assert binlog["change_source"] == "binlog"
    assert binlog["binlog_checks_failed"] == 0
    assert binlog["binlog_rows_pushed_per_s"] >= TRUCKS * 0.5  # one write per truck per second, from the log
    assert binlog["row_read_queries_per_s"] == 0
    assert binlog["com_select_per_s"] < 1 < poll["com_select_per_s"] / 5
    assert report["change_capture"] == {"poll": poll, "binlog": binlog}

"""A channel's status: ``live``, ``stale`` or ``degraded``, and what moves it.

Rules (everything that decides a status lives here; the poller only reports what happened):
- A failed read (database unreachable) makes the channel ``degraded``; so does a row that
  vanished from the table. Nothing else does.
- The first good read after ``degraded`` makes it ``live`` ("database reachable again"),
  and the staleness rule is then applied to that same read. Recovery is announced before
  the data the read brought (subscribers learn the stream is live, then what changed);
  staleness after it (it is a verdict on the row just sent).
- Outside ``degraded``: a row whose reading time is older than the limit is ``stale``; a
  stale channel whose row is fresh again is ``live`` ("reporting again").
- A transition is only one when the state changes: the reason of an unchanged state is
  not re-announced (a stale truck does not get a frame per tick with a growing age).
"""

from __future__ import annotations

from dataclasses import dataclass

LIVE, STALE, DEGRADED = "live", "stale", "degraded"


@dataclass(frozen=True, slots=True)
class Status:
    """A state and the human-readable reason it was entered."""

    state: str
    reason: str = ""


INITIAL = Status(LIVE)
DB_UNAVAILABLE = Status(DEGRADED, "database unavailable")
ROW_MISSING = Status(DEGRADED, "truck row missing")


def after_failure(current: Status) -> list[Status]:
    """Transitions after a read that failed because the database did not answer."""
    return [] if current.state == DEGRADED else [DB_UNAVAILABLE]


def after_missing_row(current: Status) -> list[Status]:
    """Transitions after a read that found the (previously present) row gone."""
    return [] if current.state == DEGRADED else [ROW_MISSING]


def after_read(
    current: Status, age_s: float | None, stale_after_s: float
) -> tuple[list[Status], list[Status]]:
    """Transitions after a good read of a row whose reading is ``age_s`` seconds old.

    Args:
        current: the channel's status before this read.
        age_s: seconds since the row's ``timestamp``; None when it has no readable time.
        stale_after_s: the staleness limit.

    Returns:
        The statuses entered before the read's data is sent, and those entered after it,
        each one a frame to send (at most two in all).
    """
    before: list[Status] = []
    after: list[Status] = []
    state = current.state
    if state == DEGRADED:
        before.append(Status(LIVE, "database reachable again"))
        state = LIVE
    if age_s is not None and age_s > stale_after_s:
        if state != STALE:
            after.append(Status(STALE, f"no reading for {int(age_s)} s"))
    elif state == STALE:
        after.append(Status(LIVE, "reporting again"))
    return before, after

"""The subscribe plan, driven with plain calls: what each channel gets, and what it may cost."""

from __future__ import annotations

from gateway.core.subscribe_plan import FOUND, UNAVAILABLE, UNKNOWN, Limits, plan_subscribe

LIMITS = Limits(subscriptions=5, unverified_per_connection=2, unverified_total=3)


def plan(channels, *, grant=None, held=(), missing=(), limits=LIMITS):
    return plan_subscribe(channels, allows=lambda t: grant is None or t in grant, held=set(held),
                          known_missing=lambda t: t in missing, limits=limits)


def run(p, found: dict[str, str], held_unverified=0, total_unverified=0, shared=()):
    """Execute the plan as the hub does, answering every lookup from ``found``."""
    asked = []
    while batch := p.next_batch():
        asked.append(batch)
        p.record({t: found.get(t, FOUND) for t in batch}, unverified_held=held_unverified,
                 unverified_total=total_unverified, shared=shared)
    p.finish()
    return asked


def codes(p):
    return [(e.channel, e.code) for e in p.sorted_errors()]


def test_each_channel_on_its_own_in_request_order():
    p = plan(["truck:A1", "bad", "truck:B2", "truck:Z9", "truck:H1", "truck:GONE"],
             grant={"A1", "H1", "Z9", "GONE"}, held={"H1"}, missing={"GONE"})
    assert run(p, {}) == [["A1", "Z9"]]  # no lookup for the invalid, forbidden, held or remembered-missing
    assert p.ok == [("truck:A1", "A1"), ("truck:Z9", "Z9"), ("truck:H1", "H1")]
    assert codes(p) == [("bad", "invalid_channel"), ("truck:B2", "forbidden"), ("truck:GONE", "unknown_truck")]
    assert p.unknown == 1


def test_grant_is_exact_case_sensitive():
    p = plan(["truck:az0084", "truck:AZ0084"], grant={"AZ0084"})
    run(p, {})
    assert p.ok == [("truck:AZ0084", "AZ0084")]
    assert codes(p) == [("truck:az0084", "forbidden")]


def test_unknown_trucks_give_their_slot_back_and_are_counted():
    p = plan([f"truck:T{i}" for i in range(8)], held={"H1", "H2"})
    asked = run(p, {"T0": UNKNOWN, "T1": UNKNOWN})
    assert asked == [["T0", "T1", "T2"], ["T3", "T4"]]  # never more looked up than free slots
    assert [t for _, t in p.ok] == ["T2", "T3", "T4"]
    assert codes(p)[:2] == [("truck:T0", "unknown_truck"), ("truck:T1", "unknown_truck")]
    assert [c for _, c in codes(p)[2:]] == ["too_many_subscriptions"] * 3
    assert p.unknown == 2


def test_unverified_capped_per_connection():
    p = plan(["truck:A", "truck:B", "truck:C", "truck:D"])
    run(p, {"A": UNAVAILABLE, "B": UNAVAILABLE, "C": UNAVAILABLE}, held_unverified=1)
    assert [t for _, t in p.ok] == ["A", "D"]  # one held already + A = the cap of 2; D was found
    assert codes(p) == [("truck:B", "too_many_subscriptions"), ("truck:C", "too_many_subscriptions")]
    assert "per connection" in p.errors[0].message and p.dropped == ["B", "C"]


def test_unverified_capped_in_total_but_joining_an_existing_poller_is_free():
    p = plan(["truck:A", "truck:B", "truck:C"], limits=Limits(5, 10, 3))
    run(p, {"A": UNAVAILABLE, "B": UNAVAILABLE, "C": UNAVAILABLE}, total_unverified=2, shared={"C"})
    assert [t for _, t in p.ok] == ["A", "C"]
    assert codes(p) == [("truck:B", "too_many_subscriptions")]
    assert "in total" in p.errors[0].message and p.dropped == ["B"]


def test_zero_caps_admit_no_unverified_truck():
    p = plan(["truck:A"], limits=Limits(5, 0, 0))
    run(p, {"A": UNAVAILABLE})
    assert p.ok == [] and p.dropped == ["A"]


def test_full_connection_looks_nothing_up():
    p = plan(["truck:X"], held={f"H{i}" for i in range(5)})
    assert run(p, {}) == []
    assert codes(p) == [("truck:X", "too_many_subscriptions")]

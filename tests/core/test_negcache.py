"""The memory of missing truck ids: remembered for its ttl, bounded, with the clock passed in."""

from __future__ import annotations

from gateway.core.negcache import MissCache


def test_a_miss_is_remembered_until_its_ttl_then_forgotten():
    cache = MissCache(ttl=5.0)
    cache.add("NOPE-1", 100.0)
    assert cache.known_missing("NOPE-1", 104.9)
    assert not cache.known_missing("NOPE-1", 105.0)  # a truck created since becomes findable
    assert len(cache) == 0 and cache.hits == 1


def test_ids_are_exact_and_forget_drops_one():
    cache = MissCache(ttl=5.0)
    cache.add("az0084", 0.0)
    assert not cache.known_missing("AZ0084", 1.0)
    cache.forget("az0084")
    assert not cache.known_missing("az0084", 1.0)


def test_bounded_oldest_first_and_expired_pruned_on_add():
    cache = MissCache(ttl=10.0, max_entries=3)
    for i in range(5):
        cache.add(f"T{i}", float(i))
    assert len(cache) == 3 and not cache.known_missing("T0", 5.0) and cache.known_missing("T4", 5.0)
    cache.add("LATE", 100.0)  # everything else has expired by now
    assert len(cache) == 1


def test_zero_ttl_remembers_nothing():
    cache = MissCache(ttl=0)
    cache.add("X", 0.0)
    assert not cache.known_missing("X", 0.0) and len(cache) == 0

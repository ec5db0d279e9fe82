"""Token buckets, the leaky violation budget and per-client buckets, with the clock passed in."""

from __future__ import annotations

from gateway.core.ratelimit import KeyedBuckets, LeakyBucket, TokenBucket, retry_after_header


def test_token_bucket_burst_then_rate():
    bucket = TokenBucket(rate=2, burst=3, now=0.0)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after(0.0) == 0.5
    assert bucket.allow(0.5) and not bucket.allow(0.5)


def test_a_counter_would_close_a_client_below_the_limit_the_leaky_budget_does_not():
    # 15 msg/s against 20/s (burst 40): bursts of 45 every 3 s overflow the burst by 5.
    # The gateway's defaults: --rate-limit 20, --rate-burst 40, --max-violations 20, --violation-decay 2.
    bucket, budget, closed_at = TokenBucket(20, 40, 0.0), LeakyBucket(19, 2.0, 0.0), None
    counter = 0
    for burst in range(10):
        now = burst * 3.0
        for i in range(45):
            if not bucket.allow(now + i * 0.001):
                counter += 1
                if budget.add(1, now + i * 0.001) and closed_at is None:
                    closed_at = burst
    assert counter >= 20  # the old rule (a count reaching 20) would have closed it
    assert closed_at is None and budget.level < 19


def test_leaky_budget_closes_a_persistent_offender_at_the_nth_violation():
    budget = LeakyBucket(capacity=2, leak_per_s=1.0, now=0.0)
    assert [budget.add(1, 0.0) for _ in range(3)] == [False, False, True]
    spaced = LeakyBucket(capacity=2, leak_per_s=1.0, now=0.0)
    assert not any(spaced.add(1, t) for t in range(100))  # one a second drains as fast as it fills


def test_leaky_budget_takes_several_at_once():
    budget = LeakyBucket(capacity=19, leak_per_s=1.0, now=0.0)
    assert not budget.add(19, 0.0)
    assert budget.add(1, 0.0)


def test_keyed_buckets_are_per_key_and_bounded():
    buckets = KeyedBuckets(rate=1, burst=2, max_keys=3)
    assert buckets.take("a", 0.0) == 0 and buckets.take("a", 0.0) == 0
    wait = buckets.take("a", 0.0)
    assert 0.99 < wait <= 1.0
    assert buckets.take("b", 0.0) == 0  # another client is not affected
    for key in ("c", "d", "e"):
        buckets.take(key, 0.0)
    assert len(buckets) == 3  # the least recently seen were forgotten


def test_retry_after_is_whole_seconds_at_least_one():
    assert [retry_after_header(s) for s in (0.001, 1.0, 1.2, 7.9)] == ["1", "1", "2", "8"]

"""saga_konbini.cache.TolerantRedisCache: with Redis unreachable a read is a miss, a write is dropped,
a counter starts afresh; with Redis up it is Django's Redis cache."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings

from saga_konbini.cache import TolerantRedisCache


def test_an_unreachable_redis_reads_as_empty_and_never_raises(caplog):
    cache = TolerantRedisCache("redis://127.0.0.1:1/0", {})

    assert cache.get("k", "fallback") == "fallback"
    assert cache.get_many(["a", "b"]) == {}
    cache.set("k", 1, 30)
    assert cache.add("k", 0, 30) is False
    with pytest.raises(ValueError):
        cache.incr("k")  # like an expired key: a rate-limit window starts again
    assert cache.counter_bump("c", 60) == 1  # a counter starts afresh: rate limits fail open
    assert cache.counter_bump_and_get("c", 60, "w") == (1, None)  # ... and the read is a miss
    assert cache.delete("k") is False
    assert "cache unavailable" in caplog.text


def test_a_reachable_redis_behaves_as_a_cache():
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL must name a Redis (CI runs one)")
    cache = TolerantRedisCache(settings.REDIS_URL, {"KEY_PREFIX": f"proof-{uuid.uuid4().hex}"})
    assert cache.add("n", 0, 30) is True
    assert cache.incr("n") == 1 and cache.incr("n") == 2
    cache.set("s", {"a": 1}, 30)
    assert cache.get("s") == {"a": 1}
    assert cache.delete("s") is True and cache.get("s") is None


def test_a_counter_counts_in_one_window_that_expires():
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL must name a Redis (CI runs one)")
    cache = TolerantRedisCache(settings.REDIS_URL, {"KEY_PREFIX": f"proof-{uuid.uuid4().hex}"})

    assert [cache.counter_bump("c", 60) for _ in range(3)] == [1, 2, 3]
    assert cache.get("c") == 3  # readable as an ordinary cache value
    client = cache._cache.get_client(write=True)
    assert 0 < client.ttl(cache.make_and_validate_key("c")) <= 60  # the window's expiry was set once
    assert cache._cache.get_client(write=True) is client  # one redis.Redis, not one per call
    client.expire(cache.make_and_validate_key("c"), 1)
    client.delete(cache.make_and_validate_key("c"))
    assert cache.counter_bump("c", 60) == 1  # an expired window starts again


def test_a_counter_bump_brings_another_key_in_the_same_round_trip():
    if not settings.REDIS_URL:
        pytest.fail("REDIS_URL must name a Redis (CI runs one)")
    cache = TolerantRedisCache(settings.REDIS_URL, {"KEY_PREFIX": f"proof-{uuid.uuid4().hex}"})

    assert cache.counter_bump_and_get("c", 60, "windows") == (1, None)  # a miss reads as None
    cache.set("windows", [("2026-12-05T10:00:00+09:00", "2026-12-05T11:00:00+09:00")], 30)
    assert cache.counter_bump_and_get("c", 60, "windows") == (
        2,
        [("2026-12-05T10:00:00+09:00", "2026-12-05T11:00:00+09:00")],
    )
    cache.set("n", 7, 30)  # Django stores integers unpickled: read back as integers too
    assert cache.counter_bump_and_get("c", 60, "n") == (3, 7)


def test_counter_bump_on_the_embedded_cache(settings):
    from django.core.cache import caches

    from saga_konbini.cache import counter_bump, counter_bump_and_get

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    caches["default"].clear()
    key = f"c-{uuid.uuid4().hex}"
    assert [counter_bump(key, 60) for _ in range(3)] == [1, 2, 3]
    caches["default"].set("w", ["x"], 30)
    assert counter_bump_and_get(key, 60, "w") == (4, ["x"])

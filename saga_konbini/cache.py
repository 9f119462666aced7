"""A Redis cache that degrades to "no cache" while Redis is unreachable (Redis stopped, issuance
unaffected).

The cache holds only what can be recomputed or forgotten: rate-limit counters and briefly cached
maintenance windows. When Redis is down a read is a miss, a write is dropped and a counter starts
afresh (rate limits fail open for the outage), each with one warning in the log, instead of turning
every kiosk call into a 500. Short socket timeouts keep an unreachable (not refusing) host from
holding requests for long.

Every kiosk call bumps a rate counter and reads the maintenance windows, so two costs matter:
Django builds a new ``redis.Redis`` object for every operation (a few hundred microseconds of
Python each time), and a counter made of ``add`` then ``incr`` takes three round trips. Here a
process keeps its ``redis.Redis`` objects (they are thread-safe and share Django's connection
pools), and ``counter_bump`` is a single round trip, which also brings the maintenance windows
(``counter_bump_and_get``).
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.core.cache import caches
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

logger = logging.getLogger(__name__)


class SharedClientRedisCacheClient(RedisCacheClient):
    """Django's Redis client, keeping its ``redis.Redis`` objects instead of building one per call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[bool, redis.Redis] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        # Kept per direction: Django writes to the first server and reads from a random other one
        # when there are several. With one server (as deployed) both share its pool; with several,
        # a process keeps reading from the server it drew first.
        client = self._clients.get(write)
        if client is None:
            client = self._clients[write] = super().get_client(key, write=write)
        return client

    def loads(self, raw: bytes) -> Any:
        """A value as ``get`` would return it (Django's serializer: integers raw, the rest pickled)."""
        return self._serializer.loads(raw)  # type: ignore[attr-defined]  # set by Django, not in its stubs


class TolerantRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 0.5)
        params["OPTIONS"] = options
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient

    def counter_bump(self, key: str, ttl: int) -> int:
        """The module's ``counter_bump`` in one atomic round trip (MULTI: SET NX EX, INCR)."""
        return self.counter_bump_and_get(key, ttl, read_key=None)[0]

    def counter_bump_and_get(self, key: str, ttl: int, read_key: str | None) -> tuple[int, Any]:
        """``counter_bump`` and a ``get`` of ``read_key`` in the same round trip (MULTI: GET, SET NX
        EX, INCR). While Redis is away: a fresh window and a miss."""
        redis_key = self.make_and_validate_key(key)
        shared = self._cache
        assert isinstance(shared, SharedClientRedisCacheClient)  # our _class
        try:
            client = shared.get_client(redis_key, write=True)
            with client.pipeline(transaction=True) as pipe:
                if read_key is not None:
                    pipe.get(self.make_and_validate_key(read_key))
                pipe.set(redis_key, 0, ex=ttl, nx=True)
                pipe.incr(redis_key)
                *read, _created, count = pipe.execute()
        except redis.RedisError as exc:
            self._unavailable("counter_bump", exc)
            return 1, None  # as a fresh window: a rate limit fails open while Redis is away
        value = shared.loads(read[0]) if read and read[0] is not None else None
        return int(count), value

    @staticmethod
    def _unavailable(operation: str, exc: redis.RedisError) -> None:
        logger.warning("cache unavailable (%s: %s); continuing without it", operation, type(exc).__name__)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except redis.RedisError as exc:
            self._unavailable("get", exc)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except redis.RedisError as exc:
            self._unavailable("get_many", exc)
            return {}

    def set(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        try:
            super().set(key, value, timeout, version)
        except redis.RedisError as exc:
            self._unavailable("set", exc)

    def add(self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().add(key, value, timeout, version)
        except redis.RedisError as exc:
            self._unavailable("add", exc)
            return False

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        try:
            return super().incr(key, delta, version)
        except redis.RedisError as exc:
            self._unavailable("incr", exc)
            # As if the key had expired: callers start a new window (a rate limit fails open).
            raise ValueError("cache unavailable") from None

    def delete(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().delete(key, version)
        except redis.RedisError as exc:
            self._unavailable("delete", exc)
            return False

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        try:
            return super().touch(key, timeout, version)
        except redis.RedisError as exc:
            self._unavailable("touch", exc)
            return False


def counter_bump(key: str, ttl: int) -> int:
    """Add one to the counter ``key`` of the default cache and return its new value.

    The counter starts at the first bump and expires ``ttl`` seconds later (a fixed window).
    """
    backend = caches["default"]
    if isinstance(backend, TolerantRedisCache):
        return backend.counter_bump(key, ttl)
    # Other backends (the embedded default's local memory): add() is a no-op when the key
    # exists, and incr() fails only if it expired in between, which starts a new window.
    backend.add(key, 0, ttl)
    try:
        return int(backend.incr(key))
    except ValueError:
        backend.set(key, 1, ttl)
        return 1


def counter_bump_and_get(key: str, ttl: int, read_key: str) -> tuple[int, Any]:
    """``counter_bump(key, ttl)`` and the cached value of ``read_key`` (None when missing), in one
    round trip on Redis: the kiosk's door reads its maintenance windows with its rate counter."""
    backend = caches["default"]
    if isinstance(backend, TolerantRedisCache):
        return backend.counter_bump_and_get(key, ttl, read_key)
    return counter_bump(key, ttl), backend.get(read_key)

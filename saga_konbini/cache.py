"""A Redis cache that degrades to "no cache" while Redis is unreachable (issue 7: Redis stopped,
issuance unaffected).

The cache holds only what can be recomputed or forgotten: rate-limit counters and briefly cached
maintenance windows. When Redis is down a read is a miss, a write is dropped and a counter starts
afresh (rate limits fail open for the outage), each with one warning in the log, instead of turning
every kiosk call into a 500. Short socket timeouts keep an unreachable (not refusing) host from
holding requests for long.
"""

from __future__ import annotations

import logging
from typing import Any

import redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)


class TolerantRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        params = dict(params)
        options = dict(params.get("OPTIONS") or {})
        options.setdefault("socket_connect_timeout", 0.5)
        options.setdefault("socket_timeout", 0.5)
        params["OPTIONS"] = options
        super().__init__(server, params)

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

"""Rules of the door for every kiosk call: service hours, maintenance windows, rate limits.

Service hours are in Japan time (SPEC §2): ``KONBINI_SERVICE_HOURS`` ("06:30-23:00"; "00:00-24:00"
means always open, also over the new year, for tests and demos), closed 12/29–1/3, and closed
during clerk-set maintenance windows. Counters live in the shared cache (Redis in production and
CI), so every app process sees the same counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from kiosk_api.errors import KioskError
from kiosk_api.models import MaintenanceWindow
from saga_konbini.cache import counter_bump, counter_bump_and_get

JST = ZoneInfo("Asia/Tokyo")
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_MAINTENANCE_CACHE_KEY = "kiosk:maintenance:v1"
_MAINTENANCE_CACHE_SECONDS = 30
CachedWindows = list[tuple[str, str]]  # (starts_at, ends_at) in ISO 8601, as the cache holds them


@dataclass(frozen=True)
class ServiceHours:
    opens: time
    closes: time | None  # None: until midnight ("24:00")

    @property
    def always_open(self) -> bool:
        return self.opens == time(0, 0) and self.closes is None


@lru_cache(maxsize=4)
def service_hours_parse(spec: str) -> ServiceHours:
    match = _HOURS.match(spec.strip())
    if not match:
        raise ImproperlyConfigured(f"KONBINI_SERVICE_HOURS must be HH:MM-HH:MM, got {spec!r}")
    oh, om, ch, cm = (int(part) for part in match.groups())
    if oh > 23 or om > 59 or cm > 59 or ch > 24 or (ch == 24 and cm != 0):
        raise ImproperlyConfigured(f"KONBINI_SERVICE_HOURS is not a valid time range: {spec!r}")
    opens = time(oh, om)
    closes = None if ch == 24 else time(ch, cm)
    if closes is not None and closes <= opens:
        raise ImproperlyConfigured(f"KONBINI_SERVICE_HOURS must close after it opens: {spec!r}")
    return ServiceHours(opens=opens, closes=closes)


def _year_end_closed(day: date) -> bool:
    # 年末年始 (12/29–1/3): the kiosks are closed nationwide.
    return (day.month == 12 and day.day >= 29) or (day.month == 1 and day.day <= 3)


def _next_open_by_hours(moment: datetime, hours: ServiceHours) -> datetime:
    """The first instant at or after ``moment`` (JST) inside service hours."""
    local = moment.astimezone(JST)
    day = local.date()
    for _ in range(10):  # at most 6 closed days in a row, plus today
        opens = datetime.combine(day, hours.opens, tzinfo=JST)
        closes = (
            datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=JST)
            if hours.closes is None
            else datetime.combine(day, hours.closes, tzinfo=JST)
        )
        if not _year_end_closed(day):
            if local < opens:
                return opens
            if local < closes:
                return local
        day += timedelta(days=1)
        local = datetime.combine(day, time(0, 0), tzinfo=JST)
    raise ImproperlyConfigured("no service hours found within ten days")


def _maintenance_windows(now: datetime, cached: CachedWindows | None) -> list[tuple[datetime, datetime]]:
    """Windows not yet over, cached briefly; clerks' edits clear the cache (admin)."""
    if cached is None:
        cached = [
            (start.isoformat(), end.isoformat())
            for start, end in MaintenanceWindow.objects.filter(ends_at__gt=now)
            .order_by("starts_at")
            .values_list("starts_at", "ends_at")[:50]
        ]
        cache.set(_MAINTENANCE_CACHE_KEY, cached, _MAINTENANCE_CACHE_SECONDS)
    return [(datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in cached]


def maintenance_cache_clear() -> None:
    cache.delete(_MAINTENANCE_CACHE_KEY)


def reopens_at(now: datetime, *, cached_windows: CachedWindows | None = None) -> datetime | None:
    """None when open now; otherwise the next instant the service is open.

    ``cached_windows``: the maintenance windows as the cache holds them, when the caller has read
    them already (None: read them here)."""
    hours = service_hours_parse(settings.KONBINI_SERVICE_HOURS)
    windows = _maintenance_windows(
        now, cached_windows if cached_windows is not None else cache.get(_MAINTENANCE_CACHE_KEY)
    )
    moment = now if hours.always_open else _next_open_by_hours(now, hours)
    # Alternate between hours and maintenance windows until neither pushes the moment further.
    for _ in range(60):
        pushed = moment
        for start, end in windows:
            if start <= pushed < end:
                pushed = end
        if not hours.always_open:
            pushed = _next_open_by_hours(pushed, hours)
        if pushed == moment:
            break
        moment = pushed
    return None if moment == now else moment


def door_check(*, terminal_id: int, now: datetime) -> None:
    """Every kiosk call: open now (SERVICE_CLOSED with ``reopens_at``), and at most
    KONBINI_TERMINAL_REQUESTS_PER_MINUTE calls per terminal per clock minute (RATE_LIMITED).

    The rate counter and the cached maintenance windows share one cache round trip.
    """
    minute = int(now.timestamp()) // 60
    count, cached_windows = counter_bump_and_get(
        f"kiosk:rate:terminal:{terminal_id}:{minute}", 120, _MAINTENANCE_CACHE_KEY
    )
    reopen = reopens_at(now, cached_windows=cached_windows)
    if reopen is not None:
        raise KioskError(
            "SERVICE_CLOSED",
            reason="service_closed",
            extra={"reopens_at": reopen.astimezone(JST).isoformat()},
        )
    if count > settings.KONBINI_TERMINAL_REQUESTS_PER_MINUTE:
        raise KioskError("RATE_LIMITED", reason="terminal_request_rate")


def _auth_failure_keys(
    *, terminal_id: int, fingerprint: str | None, against_terminal: bool = True
) -> list[tuple[str, int, str]]:
    keys = []
    if against_terminal:
        limit = settings.KONBINI_AUTH_FAILURES_PER_TERMINAL
        keys.append((f"kiosk:authfail:terminal:{terminal_id}", limit, "terminal"))
    if fingerprint:
        keys.append(
            (
                f"kiosk:authfail:cert:{fingerprint}",
                settings.KONBINI_AUTH_FAILURES_PER_CERTIFICATE,
                "certificate",
            )
        )
    return keys


def auth_failures_check(*, terminal_id: int, fingerprint: str | None) -> None:
    """Refuse further card authentications after too many failures (per terminal, per certificate)."""
    keys = _auth_failure_keys(terminal_id=terminal_id, fingerprint=fingerprint)
    counts = cache.get_many([key for key, _limit, _scope in keys])  # one round trip
    for key, limit, scope in keys:
        if int(counts.get(key) or 0) >= limit:
            raise KioskError("RATE_LIMITED", reason=f"auth_failures_per_{scope}")


def auth_failure_count(*, terminal_id: int, fingerprint: str | None, against_terminal: bool) -> None:
    """Count a failed card authentication against the certificate (its fingerprint) and, when
    ``against_terminal``, against the terminal too.

    Only what looks like an attack should count against a terminal: a card that is merely expired,
    revoked or not registered, tried again and again by its holder, must not lock a store's kiosk
    for everyone else; its own certificate's limit stops it.
    """
    keys = _auth_failure_keys(
        terminal_id=terminal_id, fingerprint=fingerprint, against_terminal=against_terminal
    )
    for key, _limit, _scope in keys:
        counter_bump(key, settings.KONBINI_AUTH_FAILURE_WINDOW)

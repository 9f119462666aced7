"""Reads of the feed's state, for eligibility, admin and probes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from sync.models import ResidentBlock, SyncCursor


@dataclass(frozen=True)
class MirrorFreshness:
    last_applied_at: datetime | None
    is_fresh: bool


def mirror_freshness(*, now: datetime | None = None) -> MirrorFreshness:
    """Fresh when a batch was applied within SYNC_MAX_LAG_SECONDS."""
    now = now or timezone.now()
    cursor = SyncCursor.objects.filter(pk=1).first()
    last = cursor.last_applied_at if cursor else None
    fresh = last is not None and now - last <= timedelta(seconds=settings.SYNC_MAX_LAG_SECONDS)
    return MirrorFreshness(last_applied_at=last, is_fresh=fresh)


def resident_codes_sync_blocked(*, resident_codes: list[str]) -> set[str]:
    return set(
        ResidentBlock.objects.filter(resident_code__in=resident_codes, released_at__isnull=True)
        .values_list("resident_code", flat=True)
        .distinct()
    )

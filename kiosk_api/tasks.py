"""Periodic jobs of the kiosk API: another door into the services (STYLE.md, "Celery tasks")."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from audit.services import Actor
from kiosk_api.crl import CrlRefreshError, crl_refresh
from kiosk_api.services import session_sweep

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=3, default_retry_delay=60)
def crl_refresh_task(self: Any) -> None:
    """Reload every trusted CA's CRL (idempotent: an older or identical CRL changes nothing)."""
    try:
        crl_refresh(sources=settings.KONBINI_CRL_SOURCES, now=timezone.now())
    except CrlRefreshError as exc:
        # The alert is raised by crl_refresh; retry in case a source was briefly unavailable.
        raise self.retry(exc=exc) from exc


@shared_task
def session_sweep_task() -> int:
    """Void unprinted issuances of abandoned sessions and drop their documents (idempotent)."""
    count = session_sweep(now=timezone.now(), actor=Actor.job("kiosk_session_sweep"))
    if count:
        logger.info("kiosk session sweep voided %d abandoned issuance(s)", count)
    return count

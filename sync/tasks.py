"""Celery door into the feed (STYLE.md: tasks take ids, the work lives in the service)."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task

from sync.errors import RetryLater
from sync.services import sync_run

logger = logging.getLogger(__name__)

# The inbox is usually back within minutes (a network share remounting); beat runs the task again
# anyway, so a few spaced retries are enough.
RETRY_DELAY_SECONDS = 60
MAX_RETRIES = 5


@shared_task(bind=True, name="sync.tasks.sync_run_task", max_retries=MAX_RETRIES, acks_late=True)
def sync_run_task(self: Task) -> dict[str, Any]:
    """Apply every pending batch (the beat schedule runs this; idempotent, so overlapping runs are safe:
    the service serialises them on the cursor lock)."""
    try:
        result = sync_run()
    except RetryLater as exc:
        logger.warning("sync inbox unavailable, retrying: %s", exc.message)
        raise self.retry(exc=exc, countdown=RETRY_DELAY_SECONDS) from exc
    return {
        "applied": [o.number for o in result.applied],
        "rejected": [o.number for o in result.rejected],
        "stopped": result.stopped,
        "stopped_at": result.stopped_at,
    }

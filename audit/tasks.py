"""Celery door into the audit services (the beat schedule lives in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.checkpoints import checkpoint_create

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def audit_checkpoint_task() -> int | None:
    """Seal pending events and sign a checkpoint; idempotent (no new events, no checkpoint)."""
    checkpoint = checkpoint_create()
    if checkpoint is None:
        return None
    logger.info("audit checkpoint signed: %d events, root %s", checkpoint.tree_size, checkpoint.root_hash)
    return checkpoint.tree_size

"""Celery door into the audit services (the beat schedule lives in settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

import logging

from celery import shared_task

from audit.signing import checkpoint_sign
from audit.verification import verification_run_execute

logger = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def audit_checkpoint_task() -> int | None:
    """Seal pending events and sign a checkpoint; idempotent (no new events, no checkpoint)."""
    checkpoint = checkpoint_sign()
    if checkpoint is None:
        return None
    logger.info("audit checkpoint signed: %d events, root %s", checkpoint.tree_size, checkpoint.root_hash)
    return checkpoint.tree_size


@shared_task(ignore_result=True)
def audit_verify_task(run_id: int) -> None:
    """Verify the whole chain for an auditor (the chain page's 「今すぐ検証する」): longer than a
    request may last once the log is large. A duplicate delivery finds the run claimed and does nothing.

    chain_verify runs in the language of the auditor who asked (see verification_run_execute), so
    the break's message on the chain page is worded in their language.
    """
    run = verification_run_execute(run_id=run_id)
    if run is not None:
        logger.info("audit verification %d: %s, %d events", run.pk, run.status, run.events_checked)

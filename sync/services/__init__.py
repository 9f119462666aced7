"""Applying the core-system feed to the mirror (SPEC §5).

``sync_run`` (run.py) is the one door: the Celery beat task and ``manage.py sync_run`` both call it.
It walks the inbox in batch-number order, one step per batch under the cursor's row lock; apply.py
applies one batch, quarantine.py keeps what it refused, bulk.py writes at bulk speed, and the SQL
written by hand is sync/queries.py.
"""

from sync.services.run import BatchOutcome, SyncRunResult, sync_run

__all__ = ["BatchOutcome", "SyncRunResult", "sync_run"]

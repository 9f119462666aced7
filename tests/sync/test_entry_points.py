"""SPEC §5, §7: the doors into sync_run: concurrent runs, the Celery task through a real worker,
and the management command."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections

from residents.models import Resident
from sync import tasks as sync_tasks
from sync.errors import RetryLater
from sync.models import Batch
from sync.services import SyncRunResult, sync_run
from sync.tasks import sync_run_task
from tests.sync import feedutil as fu

REPO = Path(__file__).resolve().parents[2]


def _deliver(inbox: Path, deltas: int) -> None:
    fu.write_batch(inbox, 1, fu.family(), kind="full")
    for number in range(2, deltas + 2):
        fu.write_batch(inbox, number, [fu.upsert("resident", fu.resident("R001", given_name=f"第{number}"))])


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_never_apply_a_batch_twice(settings):
    inbox = Path(settings.SYNC_INBOX_DIR)
    _deliver(inbox, deltas=6)
    barrier = threading.Barrier(4)
    results: list[SyncRunResult] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(sync_run())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    applied = sorted(outcome.number for result in results for outcome in result.applied)
    assert applied == list(range(1, 8))
    assert sorted(Batch.objects.values_list("number", flat=True)) == list(range(1, 8))
    assert Resident.objects.get(resident_code="R001").given_name == "第7"
    assert sorted(p.name for p in (inbox / "archive").iterdir() if p.name.endswith(".jsonl")) == [
        f"{n:010d}.jsonl" for n in range(1, 8)
    ]
    assert not any(p.is_file() for p in inbox.iterdir())


def _worker_env(inbox: Path, var_dir: Path) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    redis_url = os.environ.get("REDIS_URL", "")
    assert redis_url, "this test needs REDIS_URL (CI provides Redis)"
    if db["ENGINE"].endswith("postgresql"):
        env["DATABASE_URL"] = (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
        if db.get("PASSWORD"):
            env["DATABASE_URL"] = env["DATABASE_URL"].replace("@", f":{db['PASSWORD']}@", 1)
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    env.update(
        REDIS_URL=redis_url,
        SYNC_INBOX_DIR=str(inbox),
        KONBINI_VAR_DIR=str(var_dir),
        MY_NUMBER_KEYS=django_settings.MY_NUMBER_KEYS,
        DJANGO_SECRET_KEY=django_settings.SECRET_KEY,
        DATABASE_CONN_MAX_AGE="0",
    )
    return env


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_celery_worker_applies_batches_through_redis(settings, tmp_path):
    from saga_konbini.celery import app

    inbox = Path(settings.SYNC_INBOX_DIR)
    _deliver(inbox, deltas=2)
    queue = f"sync-test-{uuid.uuid4().hex}"
    env = _worker_env(inbox, tmp_path / "var")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "saga_konbini",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-Q",
            queue,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        # The exact dotted name the beat schedule uses.
        app.send_task("sync.tasks.sync_run_task", queue=queue)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and Batch.objects.filter(status=Batch.Status.APPLIED).count() < 3:
            assert worker.poll() is None, worker.stdout.read().decode() if worker.stdout else "worker died"
            time.sleep(0.2)
    finally:
        worker.terminate()
        try:
            output = worker.communicate(timeout=20)[0].decode()
        except subprocess.TimeoutExpired:
            worker.kill()
            output = worker.communicate()[0].decode()

    assert sorted(Batch.objects.filter(status="applied").values_list("number", flat=True)) == [1, 2, 3], (
        output
    )
    assert Resident.objects.get(resident_code="R001").given_name == "第3"
    assert "sync.tasks.sync_run_task" in app.conf.beat_schedule["sync-apply-pending-batches"]["task"]


@pytest.mark.django_db
def test_task_retries_while_the_inbox_is_unavailable(settings, monkeypatch):
    _deliver(Path(settings.SYNC_INBOX_DIR), deltas=0)
    calls: list[int] = []

    def flaky_sync_run() -> SyncRunResult:
        calls.append(1)
        if len(calls) <= 2:
            raise RetryLater("受信フォルダが見つかりません。")
        return sync_run()

    monkeypatch.setattr(sync_tasks, "sync_run", flaky_sync_run)

    result: Any = sync_run_task.apply()  # eager: retries run at once instead of after the countdown

    assert len(calls) == 3
    assert result.get()["applied"] == [1]


@pytest.mark.django_db
def test_task_returns_what_it_applied(settings):
    _deliver(Path(settings.SYNC_INBOX_DIR), deltas=1)

    result: Any = sync_run_task.apply()

    assert result.get() == {"applied": [1, 2], "rejected": [], "stopped": "", "stopped_at": None}


@pytest.mark.django_db
def test_command_prints_a_summary_and_exits_zero_when_caught_up(settings, capsys):
    _deliver(Path(settings.SYNC_INBOX_DIR), deltas=1)

    call_command("sync_run")

    out = capsys.readouterr().out
    assert "0000000001" in out and "0000000002" in out and "適用" in out


@pytest.mark.django_db
def test_command_exits_non_zero_when_the_line_is_stopped(settings):
    inbox = Path(settings.SYNC_INBOX_DIR)
    _deliver(inbox, deltas=0)
    fu.write_batch(inbox, 3, [fu.upsert("household", fu.household("H003"))])

    with pytest.raises(CommandError) as stopped:
        call_command("sync_run")

    assert stopped.value.returncode == 2
    assert "gap" in str(stopped.value)


@pytest.mark.django_db
def test_command_exits_non_zero_on_outage(settings):
    settings.SYNC_INBOX_DIR = Path(settings.SYNC_INBOX_DIR) / "not-mounted"

    with pytest.raises(CommandError) as outage:
        call_command("sync_run")

    assert outage.value.returncode == 3

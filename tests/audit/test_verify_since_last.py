"""``audit_verify --since-last``: only what was added after the checkpoint the last run proved,
joined to it by a consistency proof."""

from __future__ import annotations

import json
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.checkpoints import checkpoint_create
from saga_konbini.env import new_aes_key_spec
from tests.audit.conftest import AS_OWNER, triggers_disabled

pytestmark = pytest.mark.django_db


def _verify(*args: str) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue() + err.getvalue() + str(exc)
    return 0, out.getvalue()


def test_a_daily_run_reads_only_the_events_added_since_the_last_one(record_events, settings):
    record_events(30)
    checkpoint_create()
    status, output = _verify()
    assert status == 0 and "30 件" in output
    state = json.loads((settings.AUDIT_VERIFY_STATE_DIR / "verified-checkpoint.json").read_text())
    assert state["tree_size"] == 30

    record_events(7)
    checkpoint_create()
    status, output = _verify("--since-last")
    assert status == 0, output
    assert "件数 30 のチェックポイント" in output and "検証したイベント: 7 件" in output
    assert (
        json.loads((settings.AUDIT_VERIFY_STATE_DIR / "verified-checkpoint.json").read_text())["tree_size"]
        == 37
    )


def test_without_a_kept_checkpoint_the_first_run_is_a_full_one(record_events):
    record_events(4)
    checkpoint_create()
    status, output = _verify("--since-last")
    assert status == 0 and "全件を検証します" in output and "検証したイベント: 4 件" in output


@AS_OWNER
def test_a_new_event_altered_is_found(record_events):
    record_events(10)
    checkpoint_create()
    assert _verify()[0] == 0
    record_events(5)
    checkpoint_create()
    with triggers_disabled("audit_auditevent") as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET action = 'kiosk.nothing'"
            " WHERE id = (SELECT event_id FROM audit_auditchainlink WHERE seq = 13)"
        )
    status, output = _verify("--since-last")
    assert status != 0 and "seq=13" in output


@AS_OWNER
def test_a_rebuilt_history_under_the_kept_checkpoint_is_found(record_events):
    """Someone with owner rights and the key replaces the checkpoint the last run proved."""
    record_events(10)
    checkpoint_create()
    assert _verify()[0] == 0
    with triggers_disabled("audit_auditcheckpoint") as cursor:
        cursor.execute("UPDATE audit_auditcheckpoint SET root_hash = %s WHERE tree_size = 10", ["cd" * 32])
    status, output = _verify("--since-last")
    assert status != 0 and "checkpoint_replaced" in output and "10" in output


def test_a_damaged_state_file_stops_the_run_instead_of_trusting_less(record_events, settings):
    record_events(3)
    checkpoint_create()
    assert _verify()[0] == 0
    path = settings.AUDIT_VERIFY_STATE_DIR / "verified-checkpoint.json"
    state = json.loads(path.read_text())
    state["root_hash"] = "00" * 32  # no longer the root of its own frontier
    path.write_text(json.dumps(state))
    status, output = _verify("--since-last")
    assert status != 0 and "verified-checkpoint.json" in output


def test_without_a_state_folder_since_last_refuses_and_a_full_run_keeps_no_mark(record_events, settings):
    """Production names the folder explicitly (one the application cannot write); unnamed, nothing
    is trusted from, or written to, a place the application could move."""
    settings.AUDIT_VERIFY_STATE_DIR = None
    record_events(3)
    checkpoint_create()
    status, output = _verify("--since-last")
    assert status != 0 and "AUDIT_VERIFY_STATE_DIR" in output
    assert _verify()[0] == 0
    status, _ = _verify("--since-last")
    assert status != 0


def test_production_settings_keep_no_default_state_folder(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "saga_konbini.settings",
        "PATH": "/usr/bin:/bin",
        "SAGA_ENV": "production",
        "DJANGO_SECRET_KEY": "x" * 60,
        "MY_NUMBER_KEYS": new_aes_key_spec(),
        "KONBINI_DOCUMENT_KEYS": new_aes_key_spec(),
        "DJANGO_ALLOWED_HOSTS": "konbini.example.jp",
        "KONBINI_VAR_DIR": str(tmp_path),
    }
    show = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.AUDIT_VERIFY_STATE_DIR)"
    )
    result = subprocess.run(
        [sys.executable, "-c", show], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"

"""The core system away for a whole run: the inbox missing or unreadable.

Issuance works from the mirror meanwhile; sync reports the outage (an open ``outage`` alert, also on
/metrics) and catches up, in order, once the inbox is back.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from pypdf import PdfReader

from audit.services import Actor
from certificates.options import IssueRequest
from certificates.services import certificate_issue
from residents.models import Resident
from sync.errors import RetryLater
from sync.models import Batch, SyncAlert, SyncCursor
from sync.services import sync_run
from tests.certificates.factories import signing_dir_for_tests
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db
KIOSK = Actor(kind="terminal", id="1", label="テスト端末")


@pytest.fixture(autouse=True)
def _signing(settings, tmp_path_factory):
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)


def _outage_alerts_open() -> int:
    return SyncAlert.objects.filter(kind=SyncAlert.Kind.OUTAGE, cleared_at__isnull=True).count()


def _metric(client, name: str, labels: dict[str, str]) -> float:
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    raise AssertionError(f"{name} {labels} not in /metrics")


def _issue_juminhyo(code: str) -> bytes:
    holder = Resident.objects.get(resident_code=code)
    issued = certificate_issue(
        holder=holder,
        request=IssueRequest(cert_type="juminhyo", copies=1),
        actor=KIOSK,
        terminal_label="7-Eleven 001",
        now=timezone.now(),
    )
    return issued.pdf


def _text(pdf: bytes) -> str:
    return "".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


def _away(kind: str, inbox: Path) -> Path:
    """Make the inbox unavailable the way a dead NFS mount or an unplugged share looks."""
    parked = inbox.with_name("inbox-parked")
    inbox.rename(parked)
    if kind == "dangling_symlink":
        inbox.symlink_to(inbox.with_name("share-that-is-not-mounted"))
    elif kind == "symlink_loop":
        inbox.symlink_to(inbox)  # ELOOP: the folder exists as a name but cannot be read
    return parked


def _back(inbox: Path, parked: Path) -> None:
    if inbox.is_symlink():
        inbox.unlink()
    parked.rename(inbox)


@pytest.mark.parametrize("kind", ["missing", "dangling_symlink", "symlink_loop"])
def test_issuance_goes_on_while_the_core_system_is_away_and_sync_catches_up(client, settings, kind):
    inbox = Path(settings.SYNC_INBOX_DIR)
    fu.write_batch(inbox, 1, fu.family("H001", ("R001", "R002")), kind="full")
    assert [o.number for o in sync_run().applied] == [1]

    parked = _away(kind, inbox)
    # While away the core system goes on producing batches; they wait on its side (here: parked).
    fu.write_batch(parked, 2, [fu.upsert("resident", fu.resident("R002", given_name="花江", seed=2))])
    fu.write_batch(parked, 3, fu.family("H002", ("R003",), seed=9))

    for _ in range(3):  # the periodic job keeps trying during the whole outage
        with pytest.raises(RetryLater):
            sync_run()
        pdf = _issue_juminhyo("R001")
        assert pdf.startswith(b"%PDF")
        assert "佐賀" in _text(pdf) and "太郎" in _text(pdf)
    assert _outage_alerts_open() == 1  # one alert for the whole outage, not one per attempt
    assert _metric(client, "konbini_sync_alerts_open", {"kind": "outage"}) == 1
    assert SyncCursor.objects.get().next_batch_number == 2
    assert not Batch.objects.filter(number__in=[2, 3]).exists()

    _back(inbox, parked)
    result = sync_run()

    assert [o.number for o in result.applied] == [2, 3]
    assert _outage_alerts_open() == 0
    assert _metric(client, "konbini_sync_alerts_open", {"kind": "outage"}) == 0
    assert Resident.objects.get(resident_code="R002").given_name == "花江"
    assert Resident.objects.filter(resident_code="R003").exists()
    assert sorted(os.listdir(inbox / "archive")) == [
        f"{n:010d}.{suffix}" for n in (1, 2, 3) for suffix in ("jsonl", "manifest.json")
    ]
    assert "花江" in _text(_issue_juminhyo("R001"))

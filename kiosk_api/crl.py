"""The CAs' certificate revocation lists (SPEC §4): loaded, verified, kept in the database.

Every trusted CA publishes its own CRL: the My Number card's and the smartphone's (スマホ用電子証明書),
so a lost phone is revoked without touching the card. ``crl_refresh`` reads each source of
``settings.KONBINI_CRL_SOURCES`` (a file path or an http(s) URL) on its own, checks that a trusted CA
signed it and stores its revoked serials under its issuer; the Celery task runs it with the sync jobs.
One source that cannot be read never holds back the others, and the alerts are set once every source
has been tried, so one CA's good list never clears the alert another CA's bad list raised.

Decision (documented in the README's API notes): a CRL past its ``next_update`` cannot say whether a
certificate was revoked since, so authentication with that CA's certificates fails closed with 503
``REVOCATION_CHECK_UNAVAILABLE`` (not ``CERTIFICATE_REVOKED``, which would tell a resident that their
valid card is revoked) and an open ``KioskAlert`` tells clerks; the other CA's certificates keep
working. The kiosk request never fetches a CRL itself (a national CA's list holds hundreds of
thousands of entries: parsing it inside a resident's request would stall that kiosk and every worker
that tries at once); it queues one run of the refresh job, deduplicated through the shared cache, so
that a burst of refused requests asks for one refresh, not one each.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509
from django.core.cache import cache
from django.db import IntegrityError, transaction

from kiosk_api import pki
from kiosk_api.errors import KioskError
from kiosk_api.models import CrlRevokedSerial, CrlSnapshot, KioskAlert
from saga_konbini.fixed_sql import ModelRows

logger = logging.getLogger(__name__)
_FETCH_TIMEOUT_SECONDS = 10
_MAX_CRL_BYTES = 50 * 1024 * 1024
_WRITE_CHUNK = 5000
# At most one refresh queued by kiosk requests per this many seconds (the job retries by itself).
CRL_REFRESH_QUEUE_SECONDS = 60
_REFRESH_QUEUED_KEY = "kiosk:crl:refresh-queued"


class CrlRefreshError(Exception):
    """A CRL source could not be read, parsed or verified (the messages name no person).

    ``alert`` is the clerks' Japanese description of what is wrong with the source."""

    def __init__(self, message: str, *, alert: str = "") -> None:
        super().__init__(message)
        self.alert = alert or message


def _read_source(source: str) -> bytes:
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=_FETCH_TIMEOUT_SECONDS) as response:  # noqa: S310
            data: bytes = response.read(_MAX_CRL_BYTES + 1)
    else:
        path = Path(source.removeprefix("file://"))
        data = path.read_bytes()
    if len(data) > _MAX_CRL_BYTES:
        raise CrlRefreshError("the CRL is larger than allowed")
    return data


def _alert_raise(*, kind: str, message: str, now: datetime) -> None:
    logger.error("kiosk alert %s: %s", kind, message)
    try:
        with transaction.atomic():
            alert = KioskAlert.objects.select_for_update().filter(kind=kind, cleared_at__isnull=True).first()
            if alert is None:
                KioskAlert.objects.create(kind=kind, message=message, raised_at=now, last_seen_at=now)
            else:
                alert.message = message
                alert.last_seen_at = now
                alert.save(update_fields=["message", "last_seen_at"])
    except IntegrityError:
        pass  # another process opened the same alert at the same moment: one open alert is enough


def _alert_clear(*, kinds: list[str], now: datetime) -> None:
    KioskAlert.objects.filter(kind__in=kinds, cleared_at__isnull=True).update(cleared_at=now)


def _stale_message(issuer: str, next_update: datetime) -> str:
    return f"{issuer}: 失効リストの次回更新日時({next_update:%Y-%m-%d %H:%M} UTC)を過ぎています。"


def _missing_message(issuer: str) -> str:
    return f"{issuer}: 失効リストが取り込まれていません。"


def crl_refresh(*, sources: Sequence[str], now: datetime) -> list[CrlSnapshot]:
    """Load and verify the CRL at each of ``sources``, each kept unless a newer one is stored.

    Then the alerts: ``CRL_INVALID`` while any source failed, ``CRL_STALE`` while any trusted CA has
    no current CRL. Raises CrlRefreshError (after keeping what loaded) when any source failed."""
    snapshots: list[CrlSnapshot] = []
    failures: list[str] = []
    for source in sources:
        try:
            snapshots.append(_crl_load(source=source, now=now))
        except CrlRefreshError as exc:
            failures.append(exc.alert)
    if failures:
        _alert_raise(kind=KioskAlert.Kind.CRL_INVALID, message="\n".join(failures), now=now)
    else:
        _alert_clear(kinds=[KioskAlert.Kind.CRL_INVALID], now=now)
    stale = _anchors_without_current_crl(now=now)
    if stale:
        _alert_raise(kind=KioskAlert.Kind.CRL_STALE, message="\n".join(stale), now=now)
    else:
        _alert_clear(kinds=[KioskAlert.Kind.CRL_STALE], now=now)
    if failures:
        raise CrlRefreshError(f"{len(failures)} of {len(sources)} CRL source(s) could not be loaded")
    return snapshots


def _anchors_without_current_crl(*, now: datetime) -> list[str]:
    """One line per trusted CA whose CRL is missing or past its next update."""
    issuers = [anchor.subject.rfc4514_string() for anchor in pki.trust_anchors()]
    next_updates = dict(CrlSnapshot.objects.filter(issuer__in=issuers).values_list("issuer", "next_update"))
    lines = []
    for issuer in issuers:
        next_update = next_updates.get(issuer)
        if next_update is None:
            lines.append(_missing_message(issuer))
        elif next_update <= now:
            lines.append(_stale_message(issuer, next_update))
    return lines


def _crl_load(*, source: str, now: datetime) -> CrlSnapshot:
    try:
        crl = pki.crl_parse(_read_source(source))
    except (OSError, ValueError, CrlRefreshError) as exc:
        raise CrlRefreshError(
            "a CRL source could not be read or parsed", alert=f"失効リストを読み込めません: {source}"
        ) from exc
    anchor = next(
        (
            a
            for a in pki.trust_anchors()
            if a.subject == crl.issuer and crl.is_signature_valid(a.public_key())  # type: ignore[arg-type]
        ),
        None,
    )
    if anchor is None:
        raise CrlRefreshError(
            "a CRL is not signed by a trusted CA",
            alert=f"失効リストの署名を信頼済みの認証局で確認できません: {source}",
        )
    if crl.next_update_utc is None:
        raise CrlRefreshError(
            "a CRL has no next update", alert=f"失効リストに次回更新日時がありません: {source}"
        )
    revoked = sorted({pki.serial_hex(entry.serial_number) for entry in crl})
    return _snapshot_store(crl=crl, issuer=crl.issuer.rfc4514_string(), revoked=revoked, now=now)


def _snapshot_store(
    *, crl: x509.CertificateRevocationList, issuer: str, revoked: list[str], now: datetime
) -> CrlSnapshot:
    assert crl.next_update_utc is not None
    for _attempt in range(2):
        try:
            with transaction.atomic():
                current = CrlSnapshot.objects.select_for_update().filter(issuer=issuer).first()
                if current is not None and current.this_update > crl.last_update_utc:
                    # An older CRL (a stale mirror, a replay) never replaces a newer one.
                    return current
                created = current is None
                if current is None:
                    current = CrlSnapshot(issuer=issuer)
                current.this_update = crl.last_update_utc
                current.next_update = crl.next_update_utc
                current.revoked_count = len(revoked)
                current.loaded_at = now
                current.save()
                _revoked_serials_replace(snapshot=current, revoked=revoked, created=created)
                return current
        except IntegrityError:
            continue  # a concurrent first load created the row: lock it and compare again
    raise CrlRefreshError("the CRL could not be stored")


def _revoked_serials_replace(*, snapshot: CrlSnapshot, revoked: list[str], created: bool) -> None:
    """Make the snapshot's rows equal ``revoked``, writing only the difference (a new CRL mostly
    adds a few serials to the previous one)."""
    stored = (
        set()
        if created
        else set(CrlRevokedSerial.objects.filter(snapshot=snapshot).values_list("serial", flat=True))
    )
    wanted = set(revoked)
    gone = sorted(stored - wanted)
    for start in range(0, len(gone), _WRITE_CHUNK):
        CrlRevokedSerial.objects.filter(
            snapshot=snapshot, serial__in=gone[start : start + _WRITE_CHUNK]
        ).delete()
    CrlRevokedSerial.objects.bulk_create(
        (CrlRevokedSerial(snapshot=snapshot, serial=serial) for serial in sorted(wanted - stored)),
        batch_size=_WRITE_CHUNK,
    )


# The CA's current snapshot and whether it lists the serial, in one indexed statement (the list
# itself may hold hundreds of thousands of serials, and every card authentication asks).
_SNAPSHOTS = ModelRows(CrlSnapshot)
_CARD_STATUS_SQL = (
    "SELECT {columns}, EXISTS ("  # noqa: S608 - the models' own table names
    f" SELECT 1 FROM {CrlRevokedSerial._meta.db_table} r WHERE r.snapshot_id = {{table}}.id AND r.serial = %s"
    ") FROM {table} WHERE issuer = %s"
)


def _card_status(*, issuer: str, serial: str) -> tuple[datetime, bool] | None:
    """The snapshot's next update and whether it lists ``serial``; None without a snapshot."""
    found = _SNAPSHOTS.one_and_rest(_CARD_STATUS_SQL, [serial, issuer])
    if found is None:
        return None
    snapshot, (listed,) = found
    return snapshot.next_update, bool(listed)


def _refresh_queue() -> None:
    """Ask the background job for a refresh, once per CRL_REFRESH_QUEUE_SECONDS for all processes."""
    from kiosk_api.tasks import crl_refresh_task  # the task module imports this one

    if cache.add(_REFRESH_QUEUED_KEY, 1, CRL_REFRESH_QUEUE_SECONDS):
        crl_refresh_task.delay()


def crl_refresh_queue() -> None:
    """Queue the refresh job after the current transaction commits (at once outside one). A broker
    that cannot be reached is logged, not raised: the kiosk's answer is 503 either way, and the
    periodic run refreshes the CRL in any case."""
    transaction.on_commit(_refresh_queue, robust=True)


def crl_card_revoked(*, anchor: x509.Certificate, serial: str, now: datetime) -> bool:
    """Whether the current CRL of ``anchor`` (the CA that issued the certificate) lists ``serial``.

    503 REVOCATION_CHECK_UNAVAILABLE when that CA's CRL is missing or past its next update: the alert is
    raised and a refresh is queued for the background job, never done inside this request."""
    issuer = anchor.subject.rfc4514_string()
    status = _card_status(issuer=issuer, serial=serial)
    if status is None:
        _alert_raise(kind=KioskAlert.Kind.CRL_STALE, message=_missing_message(issuer), now=now)
        crl_refresh_queue()
        raise KioskError("REVOCATION_CHECK_UNAVAILABLE", reason="crl_missing")
    next_update, revoked = status
    if next_update <= now:
        _alert_raise(kind=KioskAlert.Kind.CRL_STALE, message=_stale_message(issuer, next_update), now=now)
        crl_refresh_queue()
        raise KioskError("REVOCATION_CHECK_UNAVAILABLE", reason="crl_stale")
    return revoked

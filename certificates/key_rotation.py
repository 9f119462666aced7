"""Changing the city's document-signing key (SPEC §7 ``signing_key_rotate``): rotation and emergency
revocation, each one audit event.

A rotation publishes the next installed key as active and retires the one before it: the retired
key signs nothing more, and its documents keep verifying (``GET /verify/keys`` lists it with its
period of use). A revocation marks a leaked key compromised: every document it signed answers 無効
from then on, because nobody can tell a genuine one from one forged with the leaked key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from audit.services import Actor, audit_record
from certificates.models import SigningKey
from certificates.signing_keys import IssuingKey, installed_keys, issuing_key_load, test_key_create


class RotationRefused(Exception):
    """The rotation cannot be made; the message (Japanese) says why and what to do."""


@dataclass(frozen=True)
class Rotation:
    activated: IssuingKey
    retired_key_id: str  # "" when no key was active


def signing_key_rotate(*, actor: Actor, now: datetime, key_dir: Path | None = None) -> Rotation:
    """Make the next installed key active and retire the active one, in one transaction."""
    directory = Path(settings.KONBINI_SIGNING_DIR)
    with transaction.atomic():
        # Locks every key row: two rotations at once must not leave two keys active.
        rows = {row.key_id: row for row in SigningKey.objects.select_for_update().order_by("pk")}
        key = _next_key(directory, set(rows), key_dir)
        if not key.certificate.not_valid_before_utc <= now < key.certificate.not_valid_after_utc:
            raise RotationRefused(
                f"鍵 {key.key_id} の証明書は現在有効ではありません"
                f"(有効期間 {key.certificate.not_valid_before_utc}〜{key.certificate.not_valid_after_utc})。"
            )
        current = next((row for row in rows.values() if row.status == SigningKey.Status.ACTIVE), None)
        if current is not None:
            current.status = SigningKey.Status.RETIRED
            current.retired_at = now
            current.save(update_fields=["status", "retired_at"])
        SigningKey.objects.create(
            key_id=key.key_id,
            certificate_pem=key.certificate_pem.decode("ascii"),
            chain_pem=key.chain_pem.decode("ascii"),
            status=SigningKey.Status.ACTIVE,
            activated_at=now,
        )
        retired = current.key_id if current is not None else ""
        audit_record(
            actor=actor,
            action="certificate.signing_key_rotated",
            payload={"key_id": key.key_id, "retired_key_id": retired},
        )
    return Rotation(activated=key, retired_key_id=retired)


def _next_key(directory: Path, published: set[str], key_dir: Path | None) -> IssuingKey:
    installed = installed_keys(directory)
    if key_dir is not None:
        folder = key_dir.resolve()
        if folder.parent != directory.resolve():
            # The web processes read keys from KONBINI_SIGNING_DIR only: a key elsewhere could not sign.
            raise RotationRefused(f"鍵のフォルダは {directory} の直下に置いてください: {key_dir}")
        candidates = [folder]
    else:
        candidates = [folder for key_id, folder in installed.items() if key_id not in published]
    if not candidates and not settings.PRODUCTION:
        candidates = [test_key_create(directory, rotation=True)]  # development only: under the test root
    if not candidates:
        raise RotationRefused(
            f"次の発行用鍵がありません。LGPKIから交付された鍵を {directory} の新しいフォルダに "
            "issuing-key.pem、issuing-cert.pem、chain.pem として置いてから実行してください。"
        )
    if len(candidates) > 1:
        names = "、".join(folder.name for folder in candidates)
        raise RotationRefused(f"未公開の鍵が複数あります({names})。--key-dir で一つを指定してください。")
    try:
        key = issuing_key_load(str(candidates[0]))
    except ImproperlyConfigured as exc:
        raise RotationRefused(f"鍵を使えません: {exc}") from exc
    if key.key_id in published:
        raise RotationRefused(f"鍵 {key.key_id} は公開済みです。一度使った鍵は再び使えません。")
    return key


def signing_key_compromise(*, key_id: str, reason: str, actor: Actor, now: datetime) -> bool:
    """Mark ``key_id`` compromised; True when it was the active key (issuance then stops until the
    next key is rotated in)."""
    if not reason.strip():
        raise RotationRefused("失効の理由を --reason で指定してください。")
    with transaction.atomic():
        row = SigningKey.objects.select_for_update().filter(key_id=key_id).first()
        if row is None:
            raise RotationRefused(f"鍵 {key_id} は公開されていません。")
        if row.status == SigningKey.Status.COMPROMISED:
            raise RotationRefused(f"鍵 {key_id} は既に失効しています。")
        was_active = row.status == SigningKey.Status.ACTIVE
        row.status = SigningKey.Status.COMPROMISED
        row.compromised_at = now
        row.compromise_reason = reason.strip()[:200]
        if was_active:
            row.retired_at = now
        row.save(update_fields=["status", "compromised_at", "compromise_reason", "retired_at"])
        audit_record(
            actor=actor,
            action="certificate.signing_key_compromised",
            payload={"key_id": key_id, "was_active": was_active, "reason": row.compromise_reason},
        )
    return was_active

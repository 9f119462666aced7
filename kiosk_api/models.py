"""Kiosk terminals, their sessions and the short-lived state of an issuance (SPEC §3).

Everything a request needs lives in these rows, never in process memory: several app processes share
one database (a program written for one server has been deployed on several), and two kiosks must
never see each other's data (Kawasaki 2023). Documents are kept encrypted only until the kiosk
reports the print's outcome.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _


class Terminal(models.Model):
    """A multi-copy machine in one store. Authenticates with a bearer token stored as a SHA-256 hash."""

    class Chain(models.TextChoices):
        SEVEN_ELEVEN = "seven_eleven", _("セブン-イレブン")
        LAWSON = "lawson", _("ローソン")
        FAMILYMART = "familymart", _("ファミリーマート")
        MINISTOP = "ministop", _("ミニストップ")
        DAILY_YAMAZAKI = "daily_yamazaki", _("デイリーヤマザキ")
        SEICOMART = "seicomart", _("セイコーマート")
        COCOSTORE = "cocostore", _("ココストア")
        OTHER = "other", _("その他")

    class Status(models.TextChoices):
        ACTIVE = "active", _("稼働中")
        SUSPENDED = "suspended", _("一時停止")
        REVOKED = "revoked", _("廃止")

    name = models.CharField(_("端末名"), max_length=100)
    chain = models.CharField(_("チェーン"), max_length=20, choices=Chain.choices)
    store_code = models.CharField(_("店舗コード"), max_length=20)
    status = models.CharField(_("状態"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    # SHA-256 of the token (hex). The token itself is shown once and never stored.
    token_hash = models.CharField(_("トークンのハッシュ"), max_length=64, unique=True, editable=False)
    # The first characters of the token, so a clerk can tell which token a kiosk holds.
    token_prefix = models.CharField(_("トークン識別子"), max_length=16, editable=False)
    created_at = models.DateTimeField(_("登録日時"), auto_now_add=True)
    rotated_at = models.DateTimeField(_("トークン更新日時"), null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(_("最終接続日時"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("キオスク端末")
        verbose_name_plural = pgettext_lazy("plural", "キオスク端末")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["active", "suspended", "revoked"]), name="terminal_status_valid"
            ),
        ]

    def __str__(self) -> str:
        # Stored as written (issuance records' terminal_label, audit actor labels) whatever language
        # the request asked for: always in the default language.
        with translation.override(settings.LANGUAGE_CODE):
            return f"{self.get_chain_display()} {self.store_code} {self.name}"


class MaintenanceWindow(models.Model):
    """A clerk-set period during which kiosks are refused with SERVICE_CLOSED (SPEC §2)."""

    starts_at = models.DateTimeField(_("開始日時"))
    ends_at = models.DateTimeField(_("終了日時"))
    reason = models.CharField(_("理由"), max_length=200)
    created_at = models.DateTimeField(_("登録日時"), auto_now_add=True)

    class Meta:
        verbose_name = _("保守停止期間")
        verbose_name_plural = pgettext_lazy("plural", "保守停止期間")
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="maintenance_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d %H:%M} – {self.ends_at:%Y-%m-%d %H:%M} {self.reason}"


class KioskSession(models.Model):
    """One resident's visit at one kiosk: a challenge, then (after the card) the holder's context."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="sessions")
    # 32 random bytes; single use (challenge_used_at set by a conditional UPDATE).
    challenge = models.BinaryField(_("チャレンジ"), max_length=32)
    challenge_expires_at = models.DateTimeField(_("チャレンジ有効期限"))
    challenge_used_at = models.DateTimeField(_("チャレンジ使用日時"), null=True, blank=True)
    created_at = models.DateTimeField(_("開始日時"))
    # Sliding expiry: every call moves it to "now + 180 s" (SPEC §3).
    expires_at = models.DateTimeField(_("有効期限"), db_index=True)
    ended_at = models.DateTimeField(_("終了日時"), null=True, blank=True)
    resident_id = models.BigIntegerField(_("本人(内部ID)"), null=True, blank=True)
    card_link_id = models.BigIntegerField(_("カード紐付け(内部ID)"), null=True, blank=True)
    authenticated_at = models.DateTimeField(_("本人確認日時"), null=True, blank=True)
    # Opaque per-session member references for the 住民票 offer: {"<random token>": resident_id}.
    member_refs = models.JSONField(_("世帯員参照"), default=dict)

    class Meta:
        verbose_name = _("キオスク利用セッション")
        verbose_name_plural = pgettext_lazy("plural", "キオスク利用セッション")

    def __str__(self) -> str:
        return gettext("セッション %(id)s") % {"id": self.id}


class KioskIssuance(models.Model):
    """An issuance request made through the kiosk API, keyed by the terminal's Idempotency-Key.

    It is either refused (``refusal_code``, kept so that a retry gets the same answer) or points at the
    issuance it created (``issuance_record_id``). The issuance's state (issued, printed, voided) is the
    record's alone (certificates/lifecycle.py), so that a clerk's void is the kiosk's void too.

        The unique constraint on (terminal, idempotency_key) is what makes two identical requests
        arriving at the same instant create exactly one issuance: the second INSERT waits for the first
        transaction and then fails, and the second request answers with the first one's result.
    """

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="issuances")
    session = models.ForeignKey(KioskSession, on_delete=models.PROTECT, related_name="issuances")
    idempotency_key = models.CharField(_("冪等キー"), max_length=100)
    # SHA-256 over the session id and the canonical request body: same key + other body → 409.
    request_fingerprint = models.CharField(_("リクエスト指紋"), max_length=64)
    refusal_code = models.CharField(_("拒否コード"), max_length=32, blank=True)
    # The certificates app's IssuanceRecord id (no FK: that app owns its table and its lifecycle).
    issuance_record_id = models.BigIntegerField(_("交付記録(内部ID)"), null=True, blank=True, unique=True)
    certificate_numbers = models.JSONField(_("交付番号"), default=list)
    fee_total = models.PositiveIntegerField(_("手数料合計"), default=0)
    sha256 = models.CharField(_("文書のSHA-256"), max_length=64, blank=True)
    # The persons printed (internal ids), checked against the session before the PDF leaves.
    subject_resident_ids = models.JSONField(_("記載者(内部ID)"), default=list)
    created_at = models.DateTimeField(_("作成日時"))

    class Meta:
        verbose_name = _("キオスク交付要求")
        verbose_name_plural = pgettext_lazy("plural", "キオスク交付要求")
        constraints = [
            models.UniqueConstraint(
                fields=["terminal", "idempotency_key"], name="kiosk_issuance_idempotency"
            ),
        ]

    def __str__(self) -> str:
        return gettext("交付要求 %(id)s") % {"id": self.pk}


class StoredDocument(models.Model):
    """The issued PDF, AES-256-GCM encrypted, kept only until the issuance completes (SPEC §3)."""

    issuance = models.OneToOneField(
        KioskIssuance, on_delete=models.CASCADE, related_name="stored_document", primary_key=True
    )
    key_id = models.CharField(_("鍵ID"), max_length=20)
    # nonce || ciphertext+tag; the associated data binds it to its issuance and its SHA-256.
    ciphertext = models.BinaryField(_("暗号文"))
    stored_at = models.DateTimeField(_("保管日時"))

    class Meta:
        verbose_name = _("一時保管文書")
        verbose_name_plural = pgettext_lazy("plural", "一時保管文書")

    def __str__(self) -> str:
        return gettext("文書 %(id)s") % {"id": self.issuance_id}


class CrlSnapshot(models.Model):
    """The latest verified CRL of one trusted CA, loaded by ``crl_refresh`` (SPEC §4)."""

    issuer = models.CharField(_("発行者"), max_length=300, unique=True)
    this_update = models.DateTimeField(_("発行日時"))
    next_update = models.DateTimeField(_("次回更新予定"))
    revoked_count = models.PositiveIntegerField(_("失効件数"), default=0)
    loaded_at = models.DateTimeField(_("取込日時"))

    class Meta:
        verbose_name = _("失効リスト")
        verbose_name_plural = pgettext_lazy("plural", "失効リスト")

    def __str__(self) -> str:
        return f"CRL {self.issuer}"


class CrlRevokedSerial(models.Model):
    """One revoked certificate of a CA's current CRL.

    A row each, under a unique index, so that card authentication looks one serial up instead of
    loading the whole list: a national CA's CRL holds hundreds of thousands of entries.
    """

    snapshot = models.ForeignKey(CrlSnapshot, on_delete=models.CASCADE, related_name="revoked_serials")
    # Lowercase hex without leading zeros, as card links spell serials.
    serial = models.CharField(_("シリアル番号"), max_length=64)

    class Meta:
        verbose_name = _("失効証明書")
        verbose_name_plural = pgettext_lazy("plural", "失効証明書")
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "serial"], name="kiosk_crl_revoked_serial_unique")
        ]

    def __str__(self) -> str:
        return self.serial


class KioskAlert(models.Model):
    """A condition clerks must act on, e.g. a card revocation list past its next update (SPEC §4)."""

    class Kind(models.TextChoices):
        CRL_STALE = "crl_stale", _("失効リストの更新切れ")
        CRL_INVALID = "crl_invalid", _("失効リストを取り込めない")

    kind = models.CharField(_("種別"), max_length=20, choices=Kind.choices)
    message = models.TextField(_("内容"))
    raised_at = models.DateTimeField(_("発生日時"))
    last_seen_at = models.DateTimeField(_("最終確認日時"))
    cleared_at = models.DateTimeField(_("解消日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("キオスク警告")
        verbose_name_plural = pgettext_lazy("plural", "キオスク警告")
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(cleared_at__isnull=True), name="kiosk_alert_one_open"
            ),
        ]

    def __str__(self) -> str:
        return self.get_kind_display()

"""Local records of certificate issuance (SPEC §2, §8): clerks' stops, fees, issuances, numbers.

These rows are the city's own, not the mirror's: they refer to residents by internal id and
``resident_code`` (no foreign keys) so that a full reload of the mirror never cascades into them.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _


class CertType(models.TextChoices):
    # SPEC §2 order: the kiosk shows offers in this order.
    JUMINHYO = "juminhyo", _("住民票の写し")
    INKAN = "inkan", _("印鑑登録証明書")
    SHOTOKU_KAZEI = "shotoku_kazei", _("所得課税証明書")
    NOZEI = "nozei", _("納税証明書")


class IssuanceStop(models.Model):
    """A clerk's stop of kiosk issuance for one resident (交付停止, SPEC §2)."""

    resident_code = models.CharField(_("住民番号"), max_length=20, db_index=True)
    reason = models.CharField(_("停止理由"), max_length=200)
    until = models.DateField(_("停止期限(この日まで)"), null=True, blank=True, help_text=_("空欄は無期限"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("設定した職員"),
    )
    created_at = models.DateTimeField(_("設定日時"))
    lifted_at = models.DateTimeField(_("解除日時"), null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("解除した職員"),
    )

    class Meta:
        verbose_name = _("交付停止")
        verbose_name_plural = pgettext_lazy("plural", "交付停止")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["resident_code"], condition=Q(lifted_at__isnull=True), name="stop_open_idx")
        ]

    def __str__(self) -> str:
        return gettext("交付停止 %(resident_code)s") % {"resident_code": self.resident_code}

    def is_active_on(self, day: date) -> bool:
        return self.lifted_at is None and (self.until is None or self.until >= day)


class Fee(models.Model):
    """Fee per copy, set by clerks; the latest ``effective_from`` on or before the day applies."""

    cert_type = models.CharField(_("証明書の種類"), max_length=16, choices=CertType.choices)
    amount_yen = models.PositiveIntegerField(_("手数料(1通・円)"))
    effective_from = models.DateField(_("適用開始日"))

    class Meta:
        verbose_name = _("手数料")
        verbose_name_plural = pgettext_lazy("plural", "手数料")
        ordering = ["cert_type", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["cert_type", "effective_from"], name="fee_unique_start"),
        ]

    def __str__(self) -> str:
        return gettext("%(cert_type)s %(amount)s円 (%(effective_from)sから)") % {
            "cert_type": self.get_cert_type_display(),
            "amount": self.amount_yen,
            "effective_from": self.effective_from,
        }


class IssuanceRecord(models.Model):
    """One issuance (one request, one PDF, one or more copies). Never the document itself."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("交付済(印刷待ち)")
        PRINTED = "printed", _("印刷完了")
        VOIDED = "voided", _("取消")

    cert_type = models.CharField(_("証明書の種類"), max_length=16, choices=CertType.choices)
    # The options as requested, minus anything personal (member ids are in printed_resident_ids).
    options = models.JSONField(_("請求内容"), default=dict)
    holder_resident_id = models.BigIntegerField(_("請求者(内部ID)"), db_index=True)
    holder_resident_code = models.CharField(_("請求者の住民番号"), max_length=20)
    printed_resident_ids = models.JSONField(_("記載された住民(内部ID)"), default=list)
    copies = models.PositiveSmallIntegerField(_("通数"))
    fee_total = models.PositiveIntegerField(_("手数料合計(円)"))
    status = models.CharField(_("状態"), max_length=8, choices=Status.choices, default=Status.ISSUED)
    void_reason = models.CharField(_("取消理由"), max_length=200, blank=True)
    pdf_sha256 = models.CharField(_("PDFのSHA-256"), max_length=64)
    terminal_label = models.CharField(_("端末"), max_length=200)
    issued_at = models.DateTimeField(_("交付日時"), db_index=True)
    completed_at = models.DateTimeField(_("完了日時"), null=True, blank=True)
    voided_at = models.DateTimeField(_("取消日時"), null=True, blank=True)
    voided_by = models.CharField(_("取消した者"), max_length=200, blank=True)
    # The key that signed the PDF and the 2D codes (SigningKey.key_id): /verify/ answers 無効 once it
    # is found compromised. Empty on records older than key rotation (the first key signed those).
    signing_key_id = models.CharField(_("署名鍵ID"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("交付記録")
        verbose_name_plural = pgettext_lazy("plural", "交付記録")
        ordering = ["-issued_at"]
        constraints = [
            models.CheckConstraint(condition=Q(copies__gte=1, copies__lte=10), name="issuance_copies_range"),
            models.CheckConstraint(
                condition=Q(status__in=["issued", "printed", "voided"]), name="issuance_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return gettext("交付 %(id)s (%(cert_type)s)") % {
            "id": self.pk,
            "cert_type": self.get_cert_type_display(),
        }


class IssuedCertificateNumber(models.Model):
    """One certificate number (交付番号) per copy. Unique forever: numbers are never reused."""

    number = models.CharField(_("交付番号"), max_length=32, unique=True)
    check_code = models.CharField(_("照合コード"), max_length=8)
    issuance = models.ForeignKey(
        IssuanceRecord, on_delete=models.PROTECT, related_name="numbers", verbose_name=_("交付記録")
    )
    copy_index = models.PositiveSmallIntegerField(_("何通目"))

    class Meta:
        verbose_name = _("交付番号")
        verbose_name_plural = pgettext_lazy("plural", "交付番号")
        ordering = ["issuance_id", "copy_index"]

    def __str__(self) -> str:
        return self.number


class CertificateNumberCounter(models.Model):
    """The number counter where the database has no sequences (SQLite, the fresh-clone demo).

    PostgreSQL uses the sequence ``certificates_number_seq`` instead (see numbers.py).
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_value = models.PositiveBigIntegerField(_("最後に払い出した番号"), default=0)

    class Meta:
        verbose_name = _("交付番号カウンタ")
        verbose_name_plural = pgettext_lazy("plural", "交付番号カウンタ")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="number_counter_singleton")]

    def __str__(self) -> str:
        return gettext("交付番号カウンタ %(value)s") % {"value": self.last_value}


class SigningKey(models.Model):
    """A published document-signing key of the city (SPEC §8, ``GET /verify/keys``): city data.

    Exactly one key is active and signs; a retired key signs nothing more but its documents keep
    verifying; a compromised key's documents no longer verify at all (nobody can tell a genuine one
    from one forged with the leaked key). The private keys stay in files (KONBINI_SIGNING_DIR);
    these rows hold the public certificates, the chain and the state.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("使用中")
        RETIRED = "retired", _("使用終了(検証のみ)")
        COMPROMISED = "compromised", _("失効(漏えい)")

    key_id = models.CharField(_("鍵ID"), max_length=32, unique=True)
    certificate_pem = models.TextField(_("証明書(PEM)"))
    chain_pem = models.TextField(_("証明書チェーン(PEM、ルートまで)"))
    status = models.CharField(_("状態"), max_length=12, choices=Status.choices)
    activated_at = models.DateTimeField(_("使用開始日時"))
    retired_at = models.DateTimeField(_("使用終了日時"), null=True, blank=True)
    compromised_at = models.DateTimeField(_("失効日時"), null=True, blank=True)
    compromise_reason = models.CharField(_("失効理由"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("発行用署名鍵")
        verbose_name_plural = pgettext_lazy("plural", "発行用署名鍵")
        ordering = ["activated_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="signing_key_one_active"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["active", "retired", "compromised"]), name="signing_key_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return gettext("発行用署名鍵 %(key_id)s") % {"key_id": self.key_id}

"""Book-keeping of the core-system feed (SPEC §5): batches, quarantined records, blocks, alerts."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _


class SyncCursor(models.Model):
    """The single row that orders the line: which batch number comes next.

    Every batch application locks this row first (SELECT ... FOR UPDATE), so two workers can never
    apply batches concurrently, let alone the same batch twice.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    next_batch_number = models.PositiveBigIntegerField(_("次に適用する連携番号"), null=True, blank=True)
    last_applied_at = models.DateTimeField(_("最終適用日時"), null=True, blank=True)
    last_checked_at = models.DateTimeField(_("最終確認日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("連携の進行状況")
        verbose_name_plural = pgettext_lazy("plural", "連携の進行状況")
        constraints = [models.CheckConstraint(condition=Q(id=1), name="sync_cursor_singleton")]

    def __str__(self) -> str:
        return gettext("次の連携番号 %(number)s") % {"number": self.next_batch_number}


class Batch(models.Model):
    class Kind(models.TextChoices):
        FULL = "full", _("全件")
        DELTA = "delta", _("差分")

    class Status(models.TextChoices):
        APPLIED = "applied", _("適用済")
        REJECTED = "rejected", _("受付拒否")

    number = models.PositiveBigIntegerField(_("連携番号"), db_index=True)
    kind = models.CharField(_("種別"), max_length=5, choices=Kind.choices, blank=True)
    status = models.CharField(_("結果"), max_length=8, choices=Status.choices)
    records_declared = models.PositiveIntegerField(_("件数(マニフェスト)"), null=True, blank=True)
    records_applied = models.PositiveIntegerField(_("適用件数"), default=0)
    records_quarantined = models.PositiveIntegerField(_("保留件数"), default=0)
    sha256 = models.CharField("SHA-256", max_length=64, blank=True)
    manifest_created_at = models.DateTimeField(_("作成日時(マニフェスト)"), null=True, blank=True)
    received_at = models.DateTimeField(_("受付日時"))
    finished_at = models.DateTimeField(_("処理完了日時"))
    reason_code = models.CharField(_("拒否理由コード"), max_length=40, blank=True)
    reason = models.TextField(_("拒否理由"), blank=True)
    stored_as = models.CharField(_("保管先"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("連携バッチ")
        verbose_name_plural = pgettext_lazy("plural", "連携バッチ")
        ordering = ["-number", "-received_at"]
        permissions = [("run_sync", "連携を今すぐ実行できる")]
        constraints = [
            # An applied batch is never applied twice. A rejected number may be delivered again.
            models.UniqueConstraint(
                fields=["number"], condition=Q(status="applied"), name="batch_applied_once"
            ),
        ]

    def __str__(self) -> str:
        return gettext("連携 %(number)010d") % {"number": self.number}


class QuarantinedRecord(models.Model):
    """A record that failed validation; the rest of its batch applied (SPEC §5)."""

    batch = models.ForeignKey(
        Batch, on_delete=models.PROTECT, related_name="quarantined", verbose_name=_("連携")
    )
    line_number = models.PositiveIntegerField(_("行番号"))
    op = models.CharField(_("操作"), max_length=10, blank=True)
    entity = models.CharField(_("種別"), max_length=30, blank=True)
    key = models.CharField(_("キー"), max_length=300, blank=True)
    reason_code = models.CharField(_("理由コード"), max_length=40)
    reason = models.TextField(_("理由"))
    # The record as received, every My Number in it replaced by a marker (sync/redaction.py): the
    # archive keeps the original bytes.
    record = models.JSONField(_("レコード(個人番号除く)"), null=True, blank=True)
    my_numbers_removed = models.PositiveIntegerField(_("削除した個人番号の数"), default=0)
    # Only when the key itself held a My Number and ``key`` shows the marker: a keyed hash of the key
    # as received, through which a later valid record for it still resolves this one (sync/services.py).
    key_digest = models.CharField(_("キーの照合値"), max_length=64, blank=True, default="", editable=False)
    resolved_at = models.DateTimeField(_("解消日時"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        Batch,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="resolved",
        verbose_name=_("解消した連携"),
    )

    class Meta:
        verbose_name = _("保留レコード")
        verbose_name_plural = pgettext_lazy("plural", "保留レコード")
        ordering = ["-batch__number", "line_number"]
        indexes = [models.Index(fields=["entity", "key"], name="quarantine_entity_key_idx")]

    def __str__(self) -> str:
        return gettext("%(batch)s 行%(line)s") % {"batch": self.batch, "line": self.line_number}


class ResidentBlock(models.Model):
    """Kiosk issuance is blocked for this resident while a quarantined record concerns them."""

    resident_code = models.CharField(_("住民番号"), max_length=20, db_index=True)
    quarantined_record = models.ForeignKey(
        QuarantinedRecord, on_delete=models.PROTECT, related_name="blocks", verbose_name=_("保留レコード")
    )
    released_at = models.DateTimeField(_("解除日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("連携不整合による交付停止")
        verbose_name_plural = pgettext_lazy("plural", "連携不整合による交付停止")
        indexes = [
            models.Index(
                fields=["resident_code"],
                condition=Q(released_at__isnull=True),
                name="resident_block_open_idx",
            )
        ]

    def __str__(self) -> str:
        return gettext("停止 %(resident_code)s") % {"resident_code": self.resident_code}


class SyncAlert(models.Model):
    class Kind(models.TextChoices):
        GAP = "gap", _("連携番号の欠番")
        REJECTED = "rejected", _("バッチ受付拒否")
        OUTAGE = "outage", _("受信フォルダに接続できない")
        STALE = "stale", _("連携の遅延")
        MISCONFIGURED = "misconfigured", _("設定の誤り")

    kind = models.CharField(_("種別"), max_length=14, choices=Kind.choices)
    batch_number = models.PositiveBigIntegerField(_("連携番号"), null=True, blank=True)
    message = models.TextField(_("内容"))
    raised_at = models.DateTimeField(_("発生日時"))
    last_seen_at = models.DateTimeField(_("最終確認日時"))
    cleared_at = models.DateTimeField(_("解消日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("連携アラート")
        verbose_name_plural = pgettext_lazy("plural", "連携アラート")
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "batch_number"],
                condition=Q(cleared_at__isnull=True),
                name="sync_alert_one_open",
            )
        ]

    def __str__(self) -> str:
        return self.get_kind_display()

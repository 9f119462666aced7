"""Audit events (SPEC §6): who accessed which residents' data, when, from where, and the outcome.

Events are written only through ``audit.services.audit_record``, in the same transaction as the
act they record. Residents are referenced by internal id as plain integers (no foreign keys): the
log must outlive any change to the mirror and must never cascade.
"""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    class ActorKind(models.TextChoices):
        TERMINAL = "terminal", "キオスク端末"
        CLERK = "clerk", "職員"
        AUDITOR = "auditor", "監査担当"
        JOB = "job", "バッチ処理"
        PUBLIC = "public", "一般(照合ページ)"
        SYSTEM = "system", "システム"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "成功"
        REFUSED = "refused", "拒否"
        FAILURE = "failure", "失敗"

    occurred_at = models.DateTimeField("日時", db_index=True)
    actor_kind = models.CharField("実行者種別", max_length=10, choices=ActorKind.choices)
    actor_id = models.CharField("実行者ID", max_length=64)
    actor_label = models.CharField("実行者", max_length=200)
    action = models.CharField("操作", max_length=64, db_index=True)
    outcome = models.CharField("結果", max_length=8, choices=Outcome.choices)
    reason = models.CharField("理由", max_length=64, blank=True)
    resident_ids = models.JSONField("対象住民(内部ID)", default=list)
    certificate_numbers = models.JSONField("交付番号", default=list)
    source = models.CharField("接続元", max_length=64, blank=True)
    request_id = models.CharField("リクエストID", max_length=64, blank=True)
    payload = models.JSONField("詳細", default=dict)

    class Meta:
        verbose_name = "監査ログ"
        verbose_name_plural = "監査ログ"
        indexes = [models.Index(fields=["actor_kind", "actor_id"], name="audit_actor_idx")]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action}"


class AuditEventResident(models.Model):
    """One row per (event, resident) so that "who saw this resident" is an indexed lookup."""

    event = models.ForeignKey(AuditEvent, on_delete=models.PROTECT, related_name="subjects")
    resident_id = models.BigIntegerField("住民(内部ID)", db_index=True)

    class Meta:
        verbose_name = "監査対象住民"
        verbose_name_plural = "監査対象住民"
        constraints = [models.UniqueConstraint(fields=["event", "resident_id"], name="audit_subject_unique")]

    def __str__(self) -> str:
        return f"{self.event_id}:{self.resident_id}"

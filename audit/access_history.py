"""What a resident is shown of the audit log: who accessed their data, by role, and what for (SPEC §9).

The resident reads it at the kiosk, in the kiosk's language: these labels are in the kiosk's
catalogues (audit/locale/<lang>/, besides English), unlike the auditors' screens. The auditors' search
shows the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models.fields.json import KeyTextTransform
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent, AuditEventResident

# SPEC §9: the holder sees who accessed their data by role, never by a person's name.
ACCESSOR_LABELS: dict[str, Promise] = {
    AuditEvent.ActorKind.CLERK: _("市民生活課"),
    AuditEvent.ActorKind.TERMINAL: _("コンビニ交付"),
    AuditEvent.ActorKind.JOB: _("基幹系連携"),
    AuditEvent.ActorKind.AUDITOR: _("監査"),
    AuditEvent.ActorKind.PUBLIC: _("証明書の照合"),
    AuditEvent.ActorKind.SYSTEM: _("システム"),
}

# One label per event kind the application records, for a success. A label says what happened, and
# only that: 「印刷」 only for an actual print (a voided issuance was never printed).
ACTION_LABELS: dict[str, Promise] = {
    "kiosk.session_started": _("コンビニ交付の利用開始"),
    "kiosk.session_ended": _("コンビニ交付の利用終了"),
    "kiosk.authenticate": _("マイナンバーカードによる本人確認"),
    "kiosk.offers_shown": _("交付できる証明書の表示"),
    # Recorded before certificate.issued and certificate.printed carried the kiosk's request: the
    # older events keep their labels.
    "kiosk.issuance_created": _("証明書の発行"),
    "kiosk.issuance_refused": _("証明書の発行(お断り)"),
    "kiosk.document_fetched": _("証明書データの端末への送信"),
    "kiosk.issuance_completed": _("証明書の印刷完了"),
    "kiosk.access_history_viewed": _("利用履歴の確認"),
    "certificate.issued": _("証明書の発行"),
    "certificate.refused": _("証明書の発行(お断り)"),
    "certificate.issue_failed": _("証明書の発行(失敗)"),
    "certificate.subject_mismatch": _("証明書の発行(内容不一致のため破棄)"),
    "certificate.printed": _("証明書の印刷"),
    "certificate.voided": _("証明書の取消"),
    "certificate.verified": _("証明書の真正性確認"),
    "certificate.signing_key_rotated": _("証明書の署名鍵の切替"),
    "certificate.signing_key_compromised": _("証明書の署名鍵の失効"),
    "verify.lookup": _("証明書の真正性確認"),
    "resident.stop_set": _("コンビニ交付の停止設定"),
    "resident.stop_lifted": _("コンビニ交付の停止解除"),
    "fee.added": _("手数料の追加"),
    "fee.changed": _("手数料の変更"),
    "fee.deleted": _("手数料の削除"),
    "calendar.maintenance_added": _("保守停止予定の追加"),
    "calendar.maintenance_changed": _("保守停止予定の変更"),
    "calendar.maintenance_deleted": _("保守停止予定の削除"),
    "terminal.registered": _("端末の登録"),
    "terminal.updated": _("端末情報の変更"),
    "terminal.token_rotated": _("端末の認証トークンの再発行"),
    "terminal.suspended": _("端末の一時停止"),
    "terminal.reactivated": _("端末の利用再開"),
    "terminal.revoked": _("端末の登録抹消"),
    "staff.login": _("職員のログイン"),
    "staff.created": _("職員アカウントの作成"),
    "staff.changed": _("職員アカウントの変更"),
    "staff.deleted": _("職員アカウントの削除"),
    "staff.otp_enrolled": _("職員の二要素認証の登録"),
    "staff.otp_reset": _("職員の二要素認証のリセット"),
    "staff.lockout_reset": _("職員のログイン制限の解除"),
    "staff.role_created": _("役割の作成"),
    "staff.role_deleted": _("役割の削除"),
    "staff.role_permissions_changed": _("役割の権限の変更"),
    "sync.run": _("基幹系システムとの連携の実行"),
    "sync.batch_applied": _("基幹系システムからのデータ更新"),
    "sync.batch_rejected": _("基幹系システムからのデータ更新(不受理)"),
    "sync.record_quarantined": _("基幹系システムからのデータ更新(保留)"),
    "admin.resident_list": _("職員による住民情報の一覧表示"),
    "admin.resident_view": _("職員による住民情報の閲覧"),
    "audit.search": _("監査による記録の検索"),
    "audit.export": _("監査による記録の書き出し"),
    "audit.event_viewed": _("監査による記録の閲覧"),
    "audit.verify": _("監査ログの検証"),
}

# The kinds whose label already names their one outcome (they are only recorded that way).
_OUTCOME_IN_LABEL = frozenset(
    {
        "kiosk.issuance_refused",
        "certificate.refused",
        "certificate.issue_failed",
        "certificate.subject_mismatch",
        "sync.batch_rejected",
        "sync.record_quarantined",
    }
)

# Any other kind refused or failed: its label with the outcome, so a refused login is not read as one.
_OUTCOME_SUFFIXES: dict[str, Promise] = {
    AuditEvent.Outcome.REFUSED: _("%(label)s(拒否)"),
    AuditEvent.Outcome.FAILURE: _("%(label)s(失敗)"),
}
_VERIFY_FOUND_A_BREAK = _("監査ログの検証(異常を検出)")

# A kiosk issuance ends printed or voided (no fee); a void, by why, never reads as a print. Older
# events recorded the end as kiosk.issuance_completed; a void is now certificate.voided, with the
# system's reason code (a clerk's void has a free-text reason and reads 「証明書の取消」).
_ISSUANCE_VOIDED: dict[str, Promise] = {
    "print_failed": _("証明書の交付取消(端末で出力できず)"),
    "session_ended": _("証明書の交付取消(受け取られずに利用終了)"),
    "session_expired": _("証明書の交付取消(時間切れ)"),
    "subject_mismatch": _("証明書の交付取消(内容不一致)"),
}
_ISSUANCE_VOIDED_OTHERWISE = _("証明書の交付取消")

_PREFIX_LABELS = (
    ("kiosk.", _("コンビニ交付での利用")),
    ("certificate.", _("証明書の処理")),
    ("sync.", _("基幹系システムとの連携")),
    ("admin.", _("職員による閲覧")),
    ("audit.", _("監査による確認")),
    ("terminal.", _("端末の管理")),
    ("resident.", _("住民情報の設定")),
)

# An authentication names the certificate the resident used (SPEC §4): the My Number card's (the
# label above; also every event recorded before smartphones were accepted) or the smartphone's.
_CREDENTIAL_ACTION_LABELS: dict[tuple[str, str], Promise] = {
    ("kiosk.authenticate", "smartphone"): _("スマートフォンによる本人確認"),
}


def action_label(
    action: str,
    *,
    outcome: str = AuditEvent.Outcome.SUCCESS,
    reason: str = "",
    status: str = "",
    credential: str = "",
) -> str:
    """The event's label in the active language (Japanese unless the reader chose English), as it
    ended: ``outcome`` and ``reason`` are the event's; ``status`` and ``credential`` those of its
    payload (how a kiosk issuance was completed, printed or voided; ``card`` or ``smartphone``)."""
    if action == "kiosk.issuance_completed" and (status or ("voided" if reason else "printed")) != "printed":
        return str(_ISSUANCE_VOIDED.get(reason, _ISSUANCE_VOIDED_OTHERWISE))
    if action == "certificate.voided" and reason in _ISSUANCE_VOIDED:
        return str(_ISSUANCE_VOIDED[reason])
    if action == "audit.verify" and outcome == AuditEvent.Outcome.FAILURE:
        return str(_VERIFY_FOUND_A_BREAK)
    label = _success_label(action, credential)
    if outcome in _OUTCOME_SUFFIXES and action not in _OUTCOME_IN_LABEL:
        return str(_OUTCOME_SUFFIXES[outcome]) % {"label": label}
    return label


def _success_label(action: str, credential: str) -> str:
    if (action, credential) in _CREDENTIAL_ACTION_LABELS:
        return str(_CREDENTIAL_ACTION_LABELS[action, credential])
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    for prefix, label in _PREFIX_LABELS:
        if action.startswith(prefix):
            return str(label)
    return gettext("その他の利用")


def event_label(event: AuditEvent) -> str:
    """``action_label`` of a stored event."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    status, credential = payload.get("status"), payload.get("credential")
    return action_label(
        event.action,
        outcome=event.outcome,
        reason=event.reason,
        status=status if isinstance(status, str) else "",
        credential=credential if isinstance(credential, str) else "",
    )


def accessor_label(actor_kind: str) -> str:
    return str(ACCESSOR_LABELS.get(actor_kind, gettext("その他")))


@dataclass(frozen=True)
class AccessHistoryEntry:
    at: datetime
    accessor: str  # a role (市民生活課, コンビニ交付, ...), never a person's name
    action: str  # label of the action, in the active language


def access_history_for_resident(*, resident_id: int, limit: int = 100) -> list[AccessHistoryEntry]:
    """Who accessed this resident's data, newest first, by role (SPEC §9)."""
    rows = (
        AuditEventResident.objects.filter(resident_id=resident_id)
        .annotate(credential=KeyTextTransform("credential", "event__payload"))
        .order_by("-event_id")
        .values_list(
            "event__occurred_at",
            "event__actor_kind",
            "event__action",
            "event__outcome",
            "event__reason",
            KeyTextTransform("status", "event__payload"),
            "credential",
        )[: max(0, limit)]
    )
    return [
        AccessHistoryEntry(
            at=at,
            accessor=accessor_label(kind),
            action=action_label(
                action, outcome=outcome, reason=reason, status=status or "", credential=credential or ""
            ),
        )
        for at, kind, action, outcome, reason, status, credential in rows
    ]

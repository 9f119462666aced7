"""The kiosk API's error codes (SPEC §3), their HTTP status and the Japanese text for the screen.

The texts are Japanese (the SPEC's language); a kiosk that asks for English with
``Accept-Language: en`` gets them from locale/en (kiosk_api/middleware.py picks the language).

Services raise ``KioskError``; the API's exception handler turns it into
``{"error": {"code", "message"}}``. Messages never carry personal data: the true reason of a
refusal goes to the audit log only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    message: str | Promise  # Japanese; translated when the error is raised (Accept-Language)


ERRORS: dict[str, ErrorSpec] = {
    "TERMINAL_UNAUTHORIZED": ErrorSpec(401, _("端末の認証に失敗しました。店舗の係員にお知らせください。")),
    "TERMINAL_SUSPENDED": ErrorSpec(
        403, _("この端末は現在ご利用いただけません。店舗の係員にお知らせください。")
    ),
    "SERVICE_CLOSED": ErrorSpec(503, _("ただいまサービス時間外です。")),
    "SESSION_NOT_FOUND": ErrorSpec(404, _("ご利用の手続きが見つかりません。最初からやり直してください。")),
    "SESSION_EXPIRED": ErrorSpec(
        410, _("一定時間操作がなかったため、手続きを終了しました。最初からやり直してください。")
    ),
    "CHALLENGE_USED": ErrorSpec(
        409, _("この手続きではすでにカードを読み取りました。最初からやり直してください。")
    ),
    "SESSION_NOT_AUTHENTICATED": ErrorSpec(409, _("マイナンバーカードによる本人確認がまだ済んでいません。")),
    "CERTIFICATE_MALFORMED": ErrorSpec(400, _("カードの電子証明書を読み取れませんでした。")),
    "CERTIFICATE_UNTRUSTED": ErrorSpec(401, _("このカードの電子証明書はご利用いただけません。")),
    "CERTIFICATE_EXPIRED": ErrorSpec(
        401, _("カードの電子証明書の有効期限が切れています。市役所の窓口で更新してください。")
    ),
    "CERTIFICATE_REVOKED": ErrorSpec(
        401, _("カードの電子証明書が失効しています。市役所の窓口でご確認ください。")
    ),
    "SIGNATURE_INVALID": ErrorSpec(401, _("カードによる本人確認ができませんでした。")),
    "CARD_NOT_REGISTERED": ErrorSpec(
        403, _("このカードは佐賀市のコンビニ交付に登録されていません。窓口でご確認ください。")
    ),
    "NOT_AVAILABLE_AT_KIOSK": ErrorSpec(
        403, _("この証明書はコンビニでは交付できません。窓口でご請求ください。")
    ),
    "SEAL_NOT_REGISTERED": ErrorSpec(403, _("印鑑登録がありません。窓口でご確認ください。")),
    "NO_TAX_RECORD": ErrorSpec(403, _("ご請求の年度の税情報がありません。窓口でご確認ください。")),
    "INVALID_REQUEST": ErrorSpec(422, _("ご請求の内容に誤りがあります。")),
    "IDEMPOTENCY_KEY_REUSED": ErrorSpec(409, _("この要求番号は別の内容の請求にすでに使われています。")),
    "DOCUMENT_GONE": ErrorSpec(410, _("この証明書のデータはすでに削除されています。")),
    # A clerk (or the end of the session) voided the issuance while the kiosk held it.
    "ISSUANCE_VOIDED": ErrorSpec(409, _("この証明書の交付は取り消されました。窓口でご確認ください。")),
    "RATE_LIMITED": ErrorSpec(
        429, _("短時間に多くの要求がありました。しばらくしてからもう一度お試しください。")
    ),
    # Not in the SPEC's table: the revocation list could not be confirmed current, so no card can
    # be trusted (fail closed). 503 like SERVICE_CLOSED, but without a known reopening time.
    "REVOCATION_CHECK_UNAVAILABLE": ErrorSpec(
        503, _("ただいまカードの有効性を確認できません。しばらくしてからもう一度お試しください。")
    ),
}

# Codes used for transport-level problems under the API path (not domain errors).
HTTP_FALLBACK_CODES: dict[int, tuple[str, str | Promise]] = {
    400: ("INVALID_REQUEST", _("要求の形式が正しくありません。")),
    404: ("NOT_FOUND", _("指定された機能は見つかりません。")),
    405: ("METHOD_NOT_ALLOWED", _("この操作はできません。")),
    406: ("NOT_ACCEPTABLE", _("指定された形式では応答できません。")),
    415: ("UNSUPPORTED_MEDIA_TYPE", _("要求はJSON形式で送信してください。")),
    500: ("INTERNAL_ERROR", _("システムエラーが発生しました。店舗の係員にお知らせください。")),
}


class KioskError(Exception):
    """A refusal the kiosk is told about, by SPEC code. ``reason`` is for the audit log only."""

    def __init__(
        self,
        code: str,
        *,
        reason: str = "",
        message: str | None = None,
        fields: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        spec = ERRORS[code]
        self.code = code
        self.status = spec.status
        self.message = str(message or spec.message)
        self.reason = reason or code.lower()
        self.fields = fields
        self.extra = extra or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            error["fields"] = self.fields
        # Extra members (``reopens_at`` of SERVICE_CLOSED) sit inside the error object, like ``fields``.
        error.update(self.extra)
        return {"error": error}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}

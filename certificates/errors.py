"""Domain errors of certificate issuance (SPEC §2, §3)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# The kiosk-facing codes a refusal may carry (SPEC §3). Everything sensitive is the generic one.
NOT_AVAILABLE_AT_KIOSK = "NOT_AVAILABLE_AT_KIOSK"
SEAL_NOT_REGISTERED = "SEAL_NOT_REGISTERED"
NO_TAX_RECORD = "NO_TAX_RECORD"
INVALID_REQUEST = "INVALID_REQUEST"

# Japanese; translated when read (``message``), in the language of the request that reads them.
REFUSAL_MESSAGES = {
    NOT_AVAILABLE_AT_KIOSK: _("この証明書はコンビニでは交付できません。窓口でご請求ください。"),
    SEAL_NOT_REGISTERED: _("印鑑登録がありません。窓口でご確認ください。"),
    NO_TAX_RECORD: _("ご請求の年度の税情報がありません。窓口でご確認ください。"),
    INVALID_REQUEST: _("ご請求の内容に誤りがあります。"),
}


class CertificateRefused(Exception):
    """Issuance refused.

    ``code`` is what the kiosk may be told (SPEC §3); ``reason`` is the true reason, a machine code
    for the audit log only (it may reveal a support measure, a move-out, ...). The exception's
    message is the kiosk message (Japanese, or the active language's) and never contains personal data.
    """

    def __init__(self, code: str, reason: str) -> None:
        if code not in REFUSAL_MESSAGES:
            raise ValueError(f"unknown refusal code {code!r}")
        self.code = code
        self.reason = reason
        super().__init__(REFUSAL_MESSAGES[code])

    @property
    def message(self) -> str:
        return str(REFUSAL_MESSAGES[self.code])


class SubjectMismatch(CertificateRefused):
    """The finished PDF does not show exactly the requested persons and numbers: it never leaves.

    Kiosk-facing it is the generic refusal; the audit log records ``certificate.subject_mismatch``.
    """

    def __init__(self, detail: str) -> None:
        # ``detail`` is a machine code (e.g. "persons_differ"), never names or numbers.
        super().__init__(NOT_AVAILABLE_AT_KIOSK, "subject_mismatch")
        self.detail = detail
        # The numbers allocated to the discarded PDF, for the audit event (set by the issuer).
        self.certificate_numbers: list[str] = []


class PayloadInvalid(Exception):
    """A verification payload is malformed, or its signature does not match its content."""

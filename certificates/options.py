"""What a well-formed certificate request is (SPEC §2, §3): the one check of a request's options.

An ``IssueRequest`` cannot be built malformed: its constructor refuses a type, a number of copies or
options that SPEC §3 does not allow, with the field-by-field errors the kiosk is shown (422). What
depends on the holder (is the type offered, which members and fiscal years) is decided later by
``certificate_issue`` against the offer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from certificates.errors import INVALID_REQUEST, CertificateRefused
from certificates.models import CertType

MAX_COPIES = 10  # SPEC §2: 1-10 copies per request
JUMINHYO_SCOPES = ("all", "selected")
_OPTIONS_OF = {
    CertType.JUMINHYO: ("scope", "members", "show_relationship", "show_honseki", "show_my_number"),
    CertType.INKAN: (),
    CertType.SHOTOKU_KAZEI: ("fiscal_year",),
    CertType.NOZEI: ("fiscal_year",),
}
_FLAGS = ("show_relationship", "show_honseki", "show_my_number")
_MEMBER_REF_MAX = 64


class OptionsInvalid(CertificateRefused):
    """A malformed request: ``reason`` for the audit, ``fields`` ({name: [message]}) for the kiosk."""

    def __init__(self, reason: str, fields: dict[str, list[str]]) -> None:
        super().__init__(INVALID_REQUEST, reason)
        self.fields = fields


@dataclass(frozen=True)
class IssueRequest:
    cert_type: str
    copies: int
    member_resident_ids: tuple[int, ...] = ()  # juminhyo scope "selected" (the kiosk resolves member_refs)
    scope: str = "all"
    show_relationship: bool = False
    show_honseki: bool = False
    show_my_number: bool = False
    fiscal_year: int | None = None

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            reason = next(iter(problems.values()))[0]
            raise OptionsInvalid(reason, {field: [message] for field, (_r, message) in problems.items()})


def _problems(request: IssueRequest) -> dict[str, tuple[str, str]]:
    """{field: (audit reason, message for the kiosk)} of everything wrong with ``request``."""
    problems: dict[str, tuple[str, str]] = {}
    if request.cert_type not in CertType.values:
        return {"type": ("unknown_type", "証明書の種類が正しくありません。")}
    copies = request.copies
    if isinstance(copies, bool) or not isinstance(copies, int) or not 1 <= copies <= MAX_COPIES:
        problems["copies"] = ("invalid_copies", "通数は1〜10で指定してください。")
    juminhyo = request.cert_type == CertType.JUMINHYO
    for flag in _FLAGS:
        value = getattr(request, flag)
        if not isinstance(value, bool):
            problems[flag] = ("invalid_options", "true または false を指定してください。")
        elif value and not juminhyo:
            problems[flag] = ("options_not_applicable", "この証明書では指定できない項目です。")
    if juminhyo:
        if request.scope not in JUMINHYO_SCOPES:
            problems["scope"] = ("invalid_options", "all または selected を指定してください。")
        elif request.scope == "selected" and not request.member_resident_ids:
            problems["members"] = ("invalid_members", "記載する世帯員を選んでください。")
        elif request.scope == "selected" and len(set(request.member_resident_ids)) != len(
            request.member_resident_ids
        ):
            problems["members"] = ("invalid_members", "同じ世帯員が重複しています。")
        elif request.scope == "all" and request.member_resident_ids:
            problems["members"] = ("members_with_scope_all", "世帯全員の場合は世帯員を指定しません。")
    elif request.scope != "all" or request.member_resident_ids:
        problems["scope" if request.scope != "all" else "members"] = (
            "options_not_applicable",
            "この証明書では指定できない項目です。",
        )
    year = request.fiscal_year
    if "fiscal_year" in _OPTIONS_OF[CertType(request.cert_type)]:
        if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 9999:
            problems["fiscal_year"] = ("invalid_fiscal_year", "年度を西暦の整数で指定してください。")
    elif year is not None:
        problems["fiscal_year"] = ("options_not_applicable", "この証明書では指定できない項目です。")
    return problems


def issue_request_from_options(
    *, cert_type: str, copies: int, options: object, member_ids: Mapping[str, int]
) -> IssueRequest:
    """The request from the kiosk's JSON options (SPEC §3), defaults filled in; ``member_ids`` maps
    the session's opaque member references to residents. Raises ``OptionsInvalid``."""
    if not isinstance(options, dict):
        raise OptionsInvalid("invalid_options", {"options": ["オブジェクトで指定してください。"]})
    allowed = _OPTIONS_OF.get(cert_type, ())  # type: ignore[call-overload]
    unknown = {str(key): ["この証明書では指定できない項目です。"] for key in options if key not in allowed}
    if unknown:
        raise OptionsInvalid("options_not_applicable", unknown)
    refs: Any = options.get("members", [])
    if not isinstance(refs, list) or not all(
        isinstance(r, str) and 0 < len(r) <= _MEMBER_REF_MAX for r in refs
    ):
        raise OptionsInvalid(
            "invalid_members", {"members": ["世帯員の参照を文字列の配列で指定してください。"]}
        )
    if any(ref not in member_ids for ref in refs):
        raise OptionsInvalid("unknown_member_ref", {"members": ["世帯員の指定が正しくありません。"]})
    return IssueRequest(
        cert_type=cert_type,
        copies=copies,
        # In one order whatever order the kiosk sent: the same request has the same fingerprint.
        member_resident_ids=tuple(sorted({int(member_ids[ref]) for ref in refs})),
        scope=options.get("scope", "all"),
        show_relationship=options.get("show_relationship", False),
        show_honseki=options.get("show_honseki", False),
        show_my_number=options.get("show_my_number", False),
        fiscal_year=options.get("fiscal_year"),
    )

"""The auditors' labels of every event kind the application records, by how the event ended."""

import ast
import re
from pathlib import Path

import pytest
from django.utils import translation

from audit.access_history import ACTION_LABELS, action_label
from audit.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
_EVENT_KIND = re.compile(r"^[a-z_]+\.[a-z_]+$")
_NOT_APPLICATION_CODE = {".venv", "tests", "migrations", "bench", "scripts"}


def _recorded_event_kinds() -> set[str]:
    """Every event kind the code can record: the string constants given as ``action`` (a keyword
    argument or a variable of that name, as ``audit_record`` and its wrappers take it) and the
    second argument of the kiosk's ``kiosk_audit(ctx, "kiosk....")``."""
    kinds: set[str] = set()
    for path in ROOT.rglob("*.py"):
        if _NOT_APPLICATION_CODE & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values: list[ast.expr] = []
            if isinstance(node, ast.Call):
                values += [keyword.value for keyword in node.keywords if keyword.arg == "action"]
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("_audit", "kiosk_audit") and len(node.args) >= 2:
                    values.append(node.args[1])
            elif isinstance(node, ast.Assign):
                if any(isinstance(target, ast.Name) and target.id == "action" for target in node.targets):
                    values.append(node.value)
            for value in values:
                for constant in ast.walk(value):
                    if isinstance(constant, ast.Constant) and isinstance(constant.value, str):
                        if _EVENT_KIND.match(constant.value):
                            kinds.add(constant.value)
    return kinds


@pytest.fixture(autouse=True)
def _in_japanese():
    """The auditors' screens are in Japanese unless the reader chose English."""
    with translation.override("ja"):
        yield


RECORDED = sorted(_recorded_event_kinds())
OUTCOMES = [choice.value for choice in AuditEvent.Outcome]
VOID_REASONS = ["print_failed", "session_ended", "session_expired", "subject_mismatch", "other"]


def test_the_scan_finds_the_event_kinds_of_every_part_of_the_application():
    prefixes = {kind.split(".")[0] for kind in RECORDED}
    assert {"kiosk", "certificate", "sync", "staff", "terminal", "admin", "audit", "fee"} <= prefixes
    assert "certificate.voided" in RECORDED and "certificate.printed" in RECORDED


@pytest.mark.parametrize("kind", RECORDED)
def test_every_recorded_event_kind_has_its_own_label(kind):
    assert kind in ACTION_LABELS
    with translation.override("en"):
        english = action_label(kind)
    assert english != action_label(kind)  # translated, not the Japanese fallback
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", english)


def _is_a_print(kind: str, *, outcome: str, reason: str, status: str) -> bool:
    if kind == "certificate.printed":
        return True  # a print, or an attempt to record one refused (the label then says 拒否)
    if kind == "kiosk.issuance_completed":
        return status == "printed" or (not status and not reason)
    return False


@pytest.mark.parametrize("kind", RECORDED)
def test_only_a_print_is_labelled_a_print_whatever_the_outcome(kind):
    for outcome in OUTCOMES:
        for reason in ["", *VOID_REASONS]:
            for status in ("", "printed", "voided"):
                if kind != "kiosk.issuance_completed" and status:
                    continue
                label = action_label(kind, outcome=outcome, reason=reason, status=status)
                printed = _is_a_print(kind, outcome=outcome, reason=reason, status=status)
                assert ("印刷" in label) == printed, (kind, outcome, reason, status, label)


@pytest.mark.parametrize("kind", RECORDED)
def test_a_refused_or_failed_event_does_not_read_as_a_success(kind):
    success = action_label(kind)
    for outcome in (AuditEvent.Outcome.REFUSED, AuditEvent.Outcome.FAILURE):
        label = action_label(kind, outcome=outcome)
        # Kinds recorded only as a refusal or a failure name it in their one label already.
        assert label != success or re.search(r"お断り|失敗|不受理|保留|破棄", label), (kind, outcome)


@pytest.mark.parametrize(
    ("reason", "status", "expected"),
    [
        ("", "printed", "証明書の印刷完了"),
        ("session_expired", "voided", "証明書の交付取消(時間切れ)"),
        ("session_ended", "voided", "証明書の交付取消(受け取られずに利用終了)"),
        ("print_failed", "voided", "証明書の交付取消(端末で出力できず)"),
        ("subject_mismatch", "voided", "証明書の交付取消(内容不一致)"),
        ("", "voided", "証明書の交付取消"),
        ("session_expired", "", "証明書の交付取消(時間切れ)"),  # an event read without its payload
    ],
)
def test_a_kiosk_issuance_is_labelled_by_how_it_was_completed(reason, status, expected):
    assert action_label("kiosk.issuance_completed", reason=reason, status=status) == expected


def test_a_failed_login_and_a_verification_that_found_a_break_say_so():
    assert action_label("staff.login", outcome="failure") == "職員のログイン(失敗)"
    assert action_label("staff.login") == "職員のログイン"
    assert action_label("terminal.suspended", outcome="refused") == "端末の一時停止(拒否)"
    assert action_label("audit.verify", outcome="failure") == "監査ログの検証(異常を検出)"
    with translation.override("en"):
        assert action_label("kiosk.issuance_completed", reason="session_expired", status="voided") == (
            "Certificate issuance cancelled (timed out)"
        )


@pytest.mark.parametrize("reason", ["print_failed", "session_ended", "session_expired", "subject_mismatch"])
def test_a_kiosk_void_says_why_and_never_reads_as_a_print(reason):
    label = action_label("certificate.voided", reason=reason)
    assert label.startswith("証明書の交付取消(") and "印刷" not in label


def test_a_clerks_void_with_a_written_reason_is_a_plain_cancellation():
    assert action_label("certificate.voided", reason="") == "証明書の取消"

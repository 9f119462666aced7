"""The public verification page /verify/ (SPEC §8): a form, rate-limited per client, audited; and the
city's published document-signing keys, ``/verify/keys``."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from audit.models import AuditEvent
from audit.request_context import client_address
from audit.services import Actor, audit_record
from certificates.selectors import MAX_CODE_LENGTH, MAX_NUMBER_LENGTH, certificate_verify_lookup
from certificates.signing_keys import published_keys
from saga_konbini.cache import counter_bump

RATE_WINDOW_SECONDS = 60
ANSWER_LABELS = {"valid": _("有効"), "voided": _("無効"), "key_revoked": _("無効"), "unknown": _("該当なし")}


def verify_rate_limit() -> int:
    """Lookups per client IP per minute: enough for a person, too few to guess check codes."""
    return settings.VERIFY_RATE_LIMIT_PER_MINUTE


class VerifyForm(forms.Form):
    number = forms.CharField(
        label=_("交付番号"), max_length=MAX_NUMBER_LENGTH, strip=True,
        widget=forms.TextInput(attrs={"placeholder": "41201-2026-00001234", "autocomplete": "off"}),
    )  # fmt: skip
    check_code = forms.CharField(
        label=_("照合コード"), max_length=MAX_CODE_LENGTH, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )  # fmt: skip


def _over_limit(ip: str) -> tuple[bool, bool]:
    """(over the limit, first request over it in this window): a fixed one-minute window per IP."""
    count = counter_bump(f"certificates:verify:rate:{ip}", RATE_WINDOW_SECONDS)
    limit = verify_rate_limit()
    return count > limit, count == limit + 1


@require_http_methods(["GET", "POST"])
def verify_page(request: HttpRequest) -> HttpResponse:
    """GET: the form. POST: the answer 有効 / 無効 / 該当なし, with type and issue date only."""
    if request.method == "GET":
        return render(request, "certificates/verify.html", _context(form=VerifyForm()))
    ip = client_address(request)
    over, first_over = _over_limit(ip)
    if over:
        if first_over:
            # One event per window, not one per request: a flood must not flood the audit log too.
            audit_record(
                actor=Actor.public(), action="verify.lookup", outcome=AuditEvent.Outcome.REFUSED,
                reason="rate_limited", source=ip,
            )  # fmt: skip
        response = render(request, "certificates/verify_limited.html", status=429)
        response["Retry-After"] = str(RATE_WINDOW_SECONDS)
        return response
    form = VerifyForm(request.POST)
    if not form.is_valid():
        return render(request, "certificates/verify.html", _context(form=form), status=400)
    with transaction.atomic():
        answer = certificate_verify_lookup(
            number=form.cleaned_data["number"], check_code=form.cleaned_data["check_code"], now=timezone.now()
        )
        # Never the check code: it is the proof of holding the paper.
        audit_record(
            actor=Actor.public(),
            action="verify.lookup",
            resident_ids=answer.resident_ids,
            certificate_numbers=[answer.certificate_number] if answer.certificate_number else [],
            payload={"result": answer.status},
            source=ip,
        )
    context = _context(form=VerifyForm(), answer=answer, answer_label=ANSWER_LABELS[answer.status])
    return render(request, "certificates/verify.html", context)


@require_http_methods(["GET"])
def verify_keys(request: HttpRequest) -> HttpResponse:
    """The document-signing certificates, current and retired, with their chains (SPEC §8): public
    city data, no login, so that anyone can verify a certificate offline."""
    keys = [key.as_json() for key in published_keys().values()]
    response = JsonResponse(keys, safe=False, json_dumps_params={"ensure_ascii": False})
    # A compromise must reach verifiers soon: caches may keep the list for minutes, not days.
    response["Cache-Control"] = "public, max-age=300"
    return response


def _context(**values: object) -> dict[str, object]:
    return {"retention_days": settings.VERIFY_RETENTION_DAYS, **values}

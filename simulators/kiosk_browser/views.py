"""The browser kiosk's screens (SPEC §9): a store's multi-copy machine, for demos and training.

Flow: トップ → 行政サービス → 証明書交付 → カード → 暗証番号 → 証明書の選択 → 通数・内容 → 手数料の確認
→ 印刷 (the PDF is shown) → カードの取り忘れ注意 → 終了; from the offers, the holder's access history.

Everything between screens lives in this browser's Django session (the API session id, the card
file name, the offers, the pending request), never in module state: two browsers are two kiosks'
worth of separate state. The card's key is opened and used within the PIN request and never kept.
Every view answers 404 unless ``KIOSK_SIMULATOR_ENABLED`` (off in production settings).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import dateformat, timezone
from django.utils.translation import gettext, pgettext
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from simulators.kiosk_browser import bridge
from simulators.kiosk_client import KioskApiError
from simulators.kiosk_texts import CREDENTIAL_LABELS, JUMINHYO_FLAGS, TYPE_LABELS, UNAVAILABLE_LABELS

STATE = "kiosk_simulator"
_STATIC = Path(__file__).resolve().parent / "static" / "kiosk_simulator"
# The screen's font is the one the certificates embed (IPAex Gothic): the kiosk looks the same on
# any machine, with or without Japanese system fonts.
ASSETS = {
    "kiosk.css": (_STATIC / "kiosk.css", "text/css; charset=utf-8"),
    "kiosk.js": (_STATIC / "kiosk.js", "text/javascript; charset=utf-8"),
    "ipaexg.ttf": (Path(settings.BASE_DIR) / "certificates" / "fonts" / "ipaexg.ttf", "font/ttf"),
}

View = Callable[..., HttpResponseBase]


def _enabled(view: View) -> View:
    """404 unless enabled, checked on every request (production settings turn it off)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.KIOSK_SIMULATOR_ENABLED:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def simulator_view(view: View) -> View:
    """A kiosk screen: enabled only when configured, and never cached (every screen is one person's)."""
    return never_cache(_enabled(view))


def _state(request: HttpRequest) -> dict[str, Any]:
    return dict(request.session.get(STATE) or {})


def _save(request: HttpRequest, state: dict[str, Any]) -> None:
    request.session[STATE] = state


def _end_api_session(request: HttpRequest, state: dict[str, Any]) -> None:
    """Close the API session (best effort: it expires by itself after 180 s) and forget the state."""
    session_id = state.get("session_id")
    if session_id:
        try:
            bridge.api_client(request=request).session_end(str(session_id))
        except (KioskApiError, bridge.CardError):
            pass  # the server's sweep ends it; nothing personal is left here either way
    request.session.pop(STATE, None)


def _error(request: HttpRequest, message: str, *, code: str = "", status: int = 200) -> HttpResponse:
    return render(request, "kiosk_simulator/error.html", {"message": message, "code": code}, status=status)


def _api_error(request: HttpRequest, exc: KioskApiError) -> HttpResponse:
    """An API refusal on the kiosk screen: the server's message (in the screen's language, see
    bridge.api_client), then back to the start."""
    _end_api_session(request, _state(request))
    return _error(request, exc.message, code=exc.code)


def _authenticated(view: View) -> View:
    """Screens after the card: without an authenticated API session, back to the start."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        state = _state(request)
        if not state.get("session_id") or "offers" not in state:
            return redirect("kiosk_simulator:home")
        return view(request, state, *args, **kwargs)

    return wrapper


# --- menus ---------------------------------------------------------------------------------------


@simulator_view
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "kiosk_simulator/home.html")


@simulator_view
@require_GET
def gyosei(request: HttpRequest) -> HttpResponse:
    return render(request, "kiosk_simulator/gyosei.html")


@simulator_view
@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    _end_api_session(request, _state(request))
    return redirect("kiosk_simulator:home")


# --- card and PIN ----------------------------------------------------------------------------------


@simulator_view
@require_GET
def credential(request: HttpRequest) -> HttpResponse:
    """The first question of a real machine: the My Number card or the smartphone (SPEC §4)."""
    return render(request, "kiosk_simulator/credential.html", {"credentials": CREDENTIAL_LABELS})


def _credential_chosen(data: Any) -> str:
    chosen = str(data.get("credential", "card"))
    return chosen if chosen in CREDENTIAL_LABELS else "card"


@simulator_view
@require_http_methods(["GET", "POST"])
def card(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        _end_api_session(request, _state(request))  # a new card starts a new visit
        file_name = str(request.POST.get("card", ""))
        try:
            bridge.demo_card_check(file_name=file_name, credential=_credential_chosen(request.POST))
        except bridge.CardError as exc:
            return _error(request, str(exc))
        _save(request, {"card": file_name})
        return redirect("kiosk_simulator:pin")
    try:
        bridge.terminal_token()
    except bridge.CardError as exc:
        return _error(request, str(exc))
    chosen = _credential_chosen(request.GET)
    return render(
        request,
        "kiosk_simulator/card.html",
        {
            "groups": bridge.demo_cards_list(credential=chosen),
            "credential": chosen,
            "credential_label": CREDENTIAL_LABELS[chosen],
        },
    )


@simulator_view
@require_http_methods(["GET", "POST"])
def pin(request: HttpRequest) -> HttpResponse:
    state = _state(request)
    if not state.get("card"):
        return redirect("kiosk_simulator:card")
    message = ""
    if request.method == "POST":
        entered = str(request.POST.get("pin", ""))
        if not (len(entered) == 4 and entered.isascii() and entered.isdigit()):
            # Not a PIN at all (the pad only makes 4 digits): the card is not even asked, no try counted.
            return render(
                request,
                "kiosk_simulator/pin.html",
                {"message": gettext("暗証番号は数字4桁で入力してください。")},
            )
        try:
            key = bridge.demo_card_unlock(file_name=state["card"], pin=entered)
        except bridge.CardLocked as exc:
            request.session.pop(STATE, None)
            return _error(request, str(exc), code="CARD_LOCKED")
        except bridge.PinRejected as exc:
            message = str(exc)
        except bridge.CardError as exc:
            return _error(request, str(exc))
        else:
            try:
                client = bridge.api_client(request=request)
                started = client.session_start()
                state["session_id"] = str(started["session_id"])
                _save(request, state)
                body = client.authenticate(state["session_id"], key, started["challenge"])
            except KioskApiError as exc:
                return _api_error(request, exc)
            except bridge.CardError as exc:
                return _error(request, str(exc))
            state.update(holder=body["holder"]["name"], offers=body["offers"])
            _save(request, state)
            return redirect("kiosk_simulator:offers")
    return render(request, "kiosk_simulator/pin.html", {"message": message})


# --- offers, options, confirmation ------------------------------------------------------------------


def _offer_rows(offers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **offer,
            "label": TYPE_LABELS.get(offer["type"], offer["type"]),
            "reason": ""
            if offer["available"]
            else UNAVAILABLE_LABELS.get(offer["unavailable_code"], gettext("交付できません。")),
        }
        for offer in offers
    ]


@simulator_view
@require_GET
@_authenticated
def offers(request: HttpRequest, state: dict[str, Any]) -> HttpResponse:
    return render(
        request,
        "kiosk_simulator/offers.html",
        {"holder": state["holder"], "offers": _offer_rows(state["offers"])},
    )


def _offer(state: dict[str, Any], cert_type: str) -> dict[str, Any] | None:
    for offer in state["offers"]:
        if offer["type"] == cert_type and offer["available"]:
            return dict(offer)
    return None


def _read_options(offer: dict[str, Any], data: Any) -> tuple[int, dict[str, Any], str]:
    """The copies and options the form asked for, or an error message."""
    raw_copies = str(data.get("copies", "1"))
    copies = int(raw_copies) if raw_copies.isdigit() else 0
    if not 1 <= copies <= int(offer["max_copies"]):
        return 0, {}, gettext("通数は1〜%(max)s通で選んでください。") % {"max": offer["max_copies"]}
    options: dict[str, Any] = {}
    if offer["type"] == "juminhyo":
        refs = {m["member_ref"] for m in offer.get("members") or []}
        chosen = [ref for ref in data.getlist("members") if ref in refs]
        if data.get("scope") == "selected":
            if not chosen:
                return 0, {}, gettext("記載する方を選んでください。")
            options.update(scope="selected", members=chosen)
        else:
            options["scope"] = "all"
        for flag in JUMINHYO_FLAGS:
            options[flag] = data.get(flag) == "on"
    elif offer["type"] in ("shotoku_kazei", "nozei"):
        years = [int(y) for y in offer.get("fiscal_years") or []]
        raw_year = str(data.get("fiscal_year", ""))
        if not raw_year.isdigit() or int(raw_year) not in years:
            return 0, {}, gettext("年度を選んでください。")
        options["fiscal_year"] = int(raw_year)
    return copies, options, ""


def _summary(offer: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The chosen options as lines to confirm, built when shown: in the screen's current language."""
    lines: list[tuple[object, object]] = []
    if offer["type"] == "juminhyo":
        if options["scope"] == "selected":
            names = {m["member_ref"]: m["name"] for m in offer.get("members") or []}
            persons = pgettext("list separator", "、").join(names[ref] for ref in options["members"])
        else:
            persons = gettext("世帯全員")
        lines.append((gettext("記載する方"), persons))
        for flag, label in JUMINHYO_FLAGS.items():
            lines.append((label, gettext("記載する") if options[flag] else gettext("記載しない")))
    elif "fiscal_year" in options:
        lines.append((gettext("年度"), gettext("%(year)s年度") % {"year": options["fiscal_year"]}))
    return [f"{label}: {value}" for label, value in lines]


@simulator_view
@require_http_methods(["GET", "POST"])
@_authenticated
def options(request: HttpRequest, state: dict[str, Any], cert_type: str) -> HttpResponse:
    offer = _offer(state, cert_type)
    if offer is None:
        return redirect("kiosk_simulator:offers")
    message = ""
    if request.method == "POST":
        copies, chosen, message = _read_options(offer, request.POST)
        if not message:
            state["pending"] = {
                "type": cert_type,
                "copies": copies,
                "options": chosen,
                "fee_total": int(offer["fee"]) * copies,
                # One key per confirmed request: a double tap or a retry gets the same issuance (SPEC §3).
                "idempotency_key": uuid.uuid4().hex,
            }
            state.pop("issuance", None)
            _save(request, state)
            return redirect("kiosk_simulator:confirm")
    context = {
        "offer": offer,
        "label": TYPE_LABELS[cert_type],
        "copies_range": range(1, int(offer["max_copies"]) + 1),
        "flags": JUMINHYO_FLAGS.items(),
        "message": message,
    }
    return render(request, "kiosk_simulator/options.html", context)


@simulator_view
@require_http_methods(["GET", "POST"])
@_authenticated
def confirm(request: HttpRequest, state: dict[str, Any]) -> HttpResponse:
    pending = state.get("pending")
    offer = _offer(state, pending["type"]) if pending else None
    if not pending or offer is None:
        return redirect("kiosk_simulator:offers")
    if request.method == "POST":
        if state.get("issuance"):
            return redirect("kiosk_simulator:printing")
        try:
            issuance = bridge.api_client(request=request).issue(
                state["session_id"],
                cert_type=pending["type"],
                copies=pending["copies"],
                options=pending["options"],
                key=pending["idempotency_key"],
            )
        except KioskApiError as exc:
            return _api_error(request, exc)
        state["issuance"] = {
            key: issuance[key]
            for key in ("issuance_id", "certificate_numbers", "fee_total", "document_url", "sha256")
        }
        _save(request, state)
        return redirect("kiosk_simulator:printing")
    context = {
        "pending": pending,
        "label": TYPE_LABELS[pending["type"]],
        "summary": _summary(offer, pending["options"]),
        "holder": state["holder"],
    }
    return render(request, "kiosk_simulator/confirm.html", context)


# --- printing, completion ----------------------------------------------------------------------------


@simulator_view
@require_GET
@_authenticated
def printing(request: HttpRequest, state: dict[str, Any]) -> HttpResponse:
    issuance = state.get("issuance")
    if not issuance:
        return redirect("kiosk_simulator:offers")
    context = {"issuance": issuance, "label": TYPE_LABELS[state["pending"]["type"]]}
    return render(request, "kiosk_simulator/printing.html", context)


@simulator_view
@require_GET
@xframe_options_sameorigin  # shown in the printing screen's frame; every other page stays DENY
@_authenticated
def document(request: HttpRequest, state: dict[str, Any]) -> HttpResponse:
    issuance = state.get("issuance")
    if not issuance:
        raise Http404
    try:
        pdf = bridge.api_client(request=request).document(issuance)
    except KioskApiError as exc:
        return _error(request, exc.message, code=exc.code, status=exc.status if exc.status >= 400 else 502)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="certificate-{int(issuance["issuance_id"])}.pdf"'
    return response


@simulator_view
@require_POST
@_authenticated
def complete(request: HttpRequest, state: dict[str, Any]) -> HttpResponse:
    issuance = state.get("issuance")
    if not issuance:
        return redirect("kiosk_simulator:offers")
    outcome = "printed" if request.POST.get("outcome") == "printed" else "failed"
    try:
        result = bridge.api_client(request=request).complete(int(issuance["issuance_id"]), outcome)
    except KioskApiError as exc:
        return _api_error(request, exc)
    printed = result.get("status") == "printed"
    fee_total = int(issuance["fee_total"]) if printed else 0
    _end_api_session(request, state)
    request.session[STATE] = {"finished": {"printed": printed, "fee_total": fee_total}}
    return redirect("kiosk_simulator:remove_card")


@simulator_view
@require_GET
def remove_card(request: HttpRequest) -> HttpResponse:
    finished = _state(request).get("finished")
    if finished is None:
        return redirect("kiosk_simulator:home")
    return render(request, "kiosk_simulator/remove_card.html", {"finished": finished})


@simulator_view
@require_GET
def done(request: HttpRequest) -> HttpResponse:
    finished = _state(request).get("finished") or {}
    request.session.pop(STATE, None)
    return render(request, "kiosk_simulator/done.html", {"finished": finished})


@simulator_view
@require_GET
@_authenticated
def history(request: HttpRequest, state: dict[str, Any]) -> HttpResponse:
    try:
        entries = bridge.api_client(request=request).access_history(state["session_id"])
    except KioskApiError as exc:
        return _api_error(request, exc)
    rows = [{**entry, "at": _japan_time(str(entry.get("at", "")))} for entry in entries]
    return render(request, "kiosk_simulator/history.html", {"holder": state["holder"], "entries": rows})


def _japan_time(value: str) -> str:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = timezone.localtime(moment)
    # A date format (Django's ``date`` letters), as the screen's language writes it.
    return dateformat.format(moment, gettext("Y年n月j日 H:i"))


@cache_control(max_age=3600)
@_enabled
@require_GET
def asset(request: HttpRequest, name: str) -> HttpResponse:
    """The kiosk's CSS and JS, from this package (no CDN, no build step, no app static folder)."""
    if name not in ASSETS:
        raise Http404
    file, content_type = ASSETS[name]
    return HttpResponse(file.read_bytes(), content_type=content_type)

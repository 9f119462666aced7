"""Which screens speak which languages: the residents' in all of settings.LANGUAGES, the others in
Japanese or English.

The kiosk's catalogues (the kiosk API's messages, the kiosks' screens) are complete in every
language residents may choose; the admin, the audit views, sign-in and /verify/ are complete in
Japanese and English only. A resident who chose Tiếng Việt at the web kiosk keeps that choice in the
language cookie; on a staff screen the same browser would get half-Vietnamese pages (Django's own
words translated, ours not). So on every path that is not a resident's, a language outside
STAFF_LANGUAGES falls back to the browser's next choice among them, else to Japanese.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import get_supported_language_variant
from django.utils.translation.trans_real import parse_accept_lang_header


def is_resident_path(path: str) -> bool:
    return path.startswith(tuple(settings.RESIDENT_LANGUAGE_PATHS))


def staff_language(accept_language: str) -> str:
    """The first of the browser's languages that the staff screens have, else the site's language."""
    for tag, _quality in parse_accept_lang_header(accept_language):
        if tag == "*":
            break
        try:
            code = str(get_supported_language_variant(tag))
        except LookupError:
            continue
        if code in settings.STAFF_LANGUAGES:
            return code
    return str(settings.LANGUAGE_CODE)


def staff_languages(request: HttpRequest) -> dict[str, object]:
    """The staff screens' language switch offers only the languages those screens are complete in."""
    return {"STAFF_LANGUAGES": settings.STAFF_LANGUAGES}


class StaffLanguageMiddleware:
    """After Django's LocaleMiddleware: keeps the non-resident screens in STAFF_LANGUAGES."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        active = translation.get_language() or settings.LANGUAGE_CODE
        if active not in settings.STAFF_LANGUAGES and not is_resident_path(request.path_info):
            translation.activate(staff_language(request.headers.get("Accept-Language", "")))
            request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)

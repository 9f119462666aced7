"""Everything under /api/kiosk/v1/ answers in the SPEC's JSON error shape (SPEC §3), never HTML.

Covers what DRF's exception handler cannot see: unknown URLs (404 from the resolver), unhandled
exceptions (500), and bodies over the size limit (rejected before anything reads them). Also
gives every API request an id for the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.functional import Promise
from django.utils.translation import get_supported_language_variant
from django.utils.translation import gettext_lazy as _

from kiosk_api.errors import HTTP_FALLBACK_CODES, error_body

logger = logging.getLogger(__name__)
API_PREFIX = "/api/kiosk/v1/"


def _json_error(status: int, message: str | Promise | None = None) -> JsonResponse:
    code, fallback = HTTP_FALLBACK_CODES.get(status, HTTP_FALLBACK_CODES[400 if status < 500 else 500])
    response = JsonResponse(
        error_body(code, str(message or fallback)), status=status, json_dumps_params={"ensure_ascii": False}
    )
    return response


def _language(request: HttpRequest) -> str:
    """Japanese, unless the kiosk asks for another language the service has (Accept-Language).

    Only the header counts (no cookie, no session: a kiosk has neither), and the choice lasts for
    this request only, so nothing of one kiosk's request carries over to the next.
    """
    header = request.headers.get("Accept-Language", "")
    for part in header.split(","):
        tag = part.split(";", 1)[0].strip().lower()
        if not tag:
            continue
        try:
            return str(get_supported_language_variant(tag))
        except LookupError:
            continue
    return str(settings.LANGUAGE_CODE)


class KioskApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        with translation.override(_language(request)):
            response = self._api_call(request)
        patch_vary_headers(response, ("Accept-Language",))
        return response

    def _api_call(self, request: HttpRequest) -> HttpResponse:
        # The request id is RequestIdMiddleware's (first in MIDDLEWARE), as for every other door.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _json_error(400)
        if length > settings.KONBINI_API_MAX_BODY_BYTES:
            # SPEC §3 answers every invalid request with INVALID_REQUEST, 422, an oversized one too.
            return _json_error(422, _("要求が大きすぎます。"))
        response = self.get_response(request)
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            # A Django page (resolver 404, CSRF 403, ...) would be HTML: answer in the SPEC shape.
            response = _json_error(response.status_code)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(API_PREFIX):
            return None
        # The traceback goes to the log; nothing of the request's data goes to the client.
        logger.exception("unhandled error in the kiosk API", exc_info=exception)
        return _json_error(500)

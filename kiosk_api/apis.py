"""The kiosk REST API, version 1 (SPEC §3): one thin view per operation.

Each view validates its input, calls one service with an explicit ``CallContext`` (terminal, clock,
source, request id) and serializes the result. Errors are ``KioskError`` and DRF exceptions, shaped
by ``kiosk_exception_handler``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from django.db import transaction
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.request_context import request_context
from audit.sealed_batch import audit_sealed_batch
from audit.services import Actor
from certificates.models import CertType
from kiosk_api import door, services
from kiosk_api.auth import TerminalTokenAuthentication
from kiosk_api.errors import ERRORS, KioskError
from kiosk_api.exception_handler import kiosk_exception_handler
from kiosk_api.labels import certificate_label_local
from kiosk_api.models import Terminal

IDEMPOTENCY_KEY_MAX = 100
# Printable ASCII, no leading or trailing space: what the OpenAPI document declares, checked exactly.
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]*[!-~])?$"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


class ErrorSerializer(serializers.Serializer):
    """``{"error": {"code", "message", "fields"?, "reopens_at"?}}`` (SPEC §3)."""

    error = inline_serializer(
        name="ErrorDetail",
        fields={
            "code": serializers.ChoiceField(choices=sorted(ERRORS)),
            "message": serializers.CharField(),
            "fields": serializers.DictField(required=False),
            "reopens_at": serializers.DateTimeField(required=False),
        },
    )


def _errors(*codes: str) -> dict[int, OpenApiResponse]:
    """The documented error responses of an operation, grouped by HTTP status."""
    common = ("TERMINAL_UNAUTHORIZED", "TERMINAL_SUSPENDED", "SERVICE_CLOSED", "RATE_LIMITED")
    by_status: dict[int, list[str]] = {}
    for code in (*common, *codes):
        by_status.setdefault(ERRORS[code].status, []).append(code)
    return {
        status: OpenApiResponse(ErrorSerializer, description=" / ".join(names))
        for status, names in sorted(by_status.items())
    }


class TerminalRequired(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, Terminal)


class PdfRenderer(BaseRenderer):
    media_type = "application/pdf"
    format = "pdf"
    charset = None
    render_style = "binary"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return data if isinstance(data, bytes) else b""


class KioskApiView(APIView):
    """Terminal token, then the door's rules (hours, maintenance, rate), for every operation."""

    authentication_classes = [TerminalTokenAuthentication]
    permission_classes = [TerminalRequired]
    renderer_classes = [JSONRenderer]

    def get_exception_handler(self) -> Any:
        return kiosk_exception_handler

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        # One transaction, one commit per call: the terminal's and the session's touches, the act
        # and its audit events together (the services' own blocks join it without savepoints). A
        # refusal is a response, so its audit event commits with it; a crash rolls everything back.
        # The call's audit events are inserted and chained last, in one statement, so that the
        # chain head is locked only from there to the commit (audit/sealed_batch.py).
        with transaction.atomic(), audit_sealed_batch() as audit_events:
            response = super().dispatch(request, *args, **kwargs)
            if not transaction.get_connection().needs_rollback:
                audit_events.flush()
            return response

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        door.door_check(terminal_id=request.auth.pk, now=timezone.now())

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(response, Response) and response.status_code >= 400:
            # Errors are JSON even where the success is a PDF.
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    def call_context(self, request: Request) -> services.CallContext:
        terminal = request.auth
        assert isinstance(terminal, Terminal)
        context = request_context(request, actor=Actor.terminal(terminal))
        return services.CallContext(
            terminal=terminal, now=timezone.now(), source=context.source, request_id=context.request_id
        )


class SessionStartApi(KioskApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "SessionStartOutput"

        session_id = serializers.UUIDField()
        challenge = serializers.CharField(help_text="base64 of 32 random bytes; single use")
        expires_at = serializers.DateTimeField(help_text="when the challenge expires (60 s after issue)")

    @extend_schema(
        operation_id="start",
        summary="1. start: open a session",
        request=None,
        responses={201: OutputSerializer, **_errors()},
    )
    def post(self, request: Request) -> Response:
        session = services.session_start(ctx=self.call_context(request))
        data = {
            "session_id": session.id,
            "challenge": base64.b64encode(bytes(session.challenge)).decode("ascii"),
            "expires_at": session.challenge_expires_at,
        }
        return Response(self.OutputSerializer(data).data, status=201)


class OfferSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=CertType.values)
    available = serializers.BooleanField()
    unavailable_code = serializers.CharField(allow_null=True)
    fee = serializers.IntegerField()
    max_copies = serializers.IntegerField()
    label_local = serializers.CharField(
        help_text="the certificate's name in the language of the request's Accept-Language (the "
        "certificate itself is Japanese)"
    )
    members = inline_serializer(
        name="OfferMember",
        fields={"member_ref": serializers.CharField(), "name": serializers.CharField()},
        many=True,
        required=False,
        help_text="juminhyo only",
    )
    fiscal_years = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="tax types"
    )


def offer_data(view: services.OfferView) -> dict[str, Any]:
    offer = view.offer
    data: dict[str, Any] = {
        "type": offer.type,
        "available": offer.available,
        "unavailable_code": offer.unavailable_code,
        "fee": offer.fee,
        "max_copies": offer.max_copies,
        # The certificate is printed in Japanese whatever the language; the screen names it in its own.
        "label_local": certificate_label_local(offer.type),
    }
    if offer.type == "juminhyo":
        data["members"] = [{"member_ref": ref, "name": name} for ref, name in view.member_refs]
    elif offer.type in {"shotoku_kazei", "nozei"}:
        data["fiscal_years"] = list(offer.fiscal_years)
    return data


class SessionAuthenticateApi(KioskApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AuthenticateInput"

        certificate = serializers.CharField(
            min_length=1,
            max_length=16384,
            trim_whitespace=False,
            help_text="base64 DER of the user certificate",
        )
        signature = serializers.CharField(
            min_length=1,
            max_length=2048,
            trim_whitespace=False,
            help_text="base64 RSASSA-PKCS1-v1_5 SHA-256",
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AuthenticateOutput"

        holder = inline_serializer(name="Holder", fields={"name": serializers.CharField()})
        offers = OfferSerializer(many=True)

    @extend_schema(
        operation_id="authenticate",
        summary="2. card: authenticate the holder",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **_errors(
                "SESSION_NOT_FOUND",
                "SESSION_EXPIRED",
                "CHALLENGE_USED",
                "CERTIFICATE_MALFORMED",
                "CERTIFICATE_UNTRUSTED",
                "CERTIFICATE_EXPIRED",
                "CERTIFICATE_REVOKED",
                "SIGNATURE_INVALID",
                "CARD_NOT_REGISTERED",
                "INVALID_REQUEST",
                "REVOCATION_CHECK_UNAVAILABLE",
            ),
        },
    )
    def post(self, request: Request, session_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            services.session_require(ctx=self.call_context(request), session_id=session_id)
            raise ValidationError(serializer.errors)
        holder = services.session_authenticate(
            ctx=self.call_context(request),
            session_id=session_id,
            certificate_b64=serializer.validated_data["certificate"],
            signature_b64=serializer.validated_data["signature"],
        )
        data = {"holder": {"name": holder.name}, "offers": [offer_data(view) for view in holder.offers]}
        return Response(self.OutputSerializer(data).data)


class IssuanceCreateApi(KioskApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "IssuanceCreateInput"

        type = serializers.ChoiceField(choices=CertType.values)
        copies = serializers.IntegerField(min_value=1, max_value=10)
        options = serializers.JSONField(
            required=False,
            help_text='juminhyo {"scope", "members", "show_relationship", "show_honseki", "show_my_number"}; '
            'shotoku_kazei / nozei {"fiscal_year"}; inkan {}',
        )

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "IssuanceCreateOutput"

        issuance_id = serializers.IntegerField()
        certificate_numbers = serializers.ListField(child=serializers.CharField())
        fee_total = serializers.IntegerField()
        document_url = serializers.CharField()
        sha256 = serializers.CharField()

    @extend_schema(
        operation_id="issue",
        summary="3. issue: issue a certificate",
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": IDEMPOTENCY_KEY_MAX,
                    "pattern": IDEMPOTENCY_KEY_PATTERN,
                },
                OpenApiParameter.HEADER,
                required=True,
                description="1〜100文字の印字可能なASCII (先頭・末尾に空白なし)",
            )
        ],
        request=InputSerializer,
        responses={
            201: OutputSerializer,
            **_errors(
                "SESSION_NOT_FOUND",
                "SESSION_EXPIRED",
                "SESSION_NOT_AUTHENTICATED",
                "NOT_AVAILABLE_AT_KIOSK",
                "SEAL_NOT_REGISTERED",
                "NO_TAX_RECORD",
                "INVALID_REQUEST",
                "IDEMPOTENCY_KEY_REUSED",
            ),
        },
    )
    def post(self, request: Request, session_id: str) -> Response:
        key = request.headers.get("Idempotency-Key", "")
        if len(key) > IDEMPOTENCY_KEY_MAX or not _IDEMPOTENCY_KEY.fullmatch(key):
            services.session_require(ctx=self.call_context(request), session_id=session_id)
            raise KioskError(
                "INVALID_REQUEST",
                reason="idempotency_key_missing",
                fields={"Idempotency-Key": ["1〜100文字の要求番号を指定してください。"]},
            )
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            services.session_require(ctx=self.call_context(request), session_id=session_id)
            raise ValidationError(serializer.errors)
        data = serializer.validated_data
        record = services.issuance_create(
            ctx=self.call_context(request),
            session_id=session_id,
            idempotency_key=key,
            cert_type=data["type"],
            copies=data["copies"],
            options=data.get("options", {}),
        )
        out = {
            "issuance_id": record.pk,
            "certificate_numbers": record.certificate_numbers,
            "fee_total": record.fee_total,
            "document_url": reverse("kiosk_api:document-fetch", kwargs={"issuance_id": record.pk}),
            "sha256": record.sha256,
        }
        return Response(self.OutputSerializer(out).data, status=201)


class DocumentFetchApi(KioskApiView):
    renderer_classes = [PdfRenderer, JSONRenderer]

    @extend_schema(
        operation_id="fetch",
        summary="4. fetch: the PDF, until the issuance completes",
        responses={
            (200, "application/pdf"): OpenApiResponse(description="the certificate PDF"),
            **_errors(
                "SESSION_NOT_FOUND",
                "SESSION_EXPIRED",
                "SESSION_NOT_AUTHENTICATED",
                "NOT_AVAILABLE_AT_KIOSK",
                "DOCUMENT_GONE",
            ),
        },
    )
    def get(self, request: Request, issuance_id: str) -> HttpResponse:
        record, pdf = services.document_fetch(ctx=self.call_context(request), issuance_id=issuance_id)
        response = HttpResponse(pdf, content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="certificate-{record.pk}.pdf"'
        response["Cache-Control"] = "no-store"
        response["X-Content-SHA256"] = record.sha256
        return response


class IssuanceCompleteApi(KioskApiView):
    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "IssuanceCompleteInput"

        outcome = serializers.ChoiceField(choices=["printed", "failed"])

    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "IssuanceCompleteOutput"

        status = serializers.ChoiceField(choices=["printed", "voided"])

    @extend_schema(
        operation_id="complete",
        summary="5. result: report the print outcome",
        request=InputSerializer,
        responses={
            200: OutputSerializer,
            **_errors(
                "SESSION_NOT_FOUND",
                "SESSION_EXPIRED",
                "SESSION_NOT_AUTHENTICATED",
                "INVALID_REQUEST",
                "ISSUANCE_VOIDED",
            ),
        },
    )
    def post(self, request: Request, issuance_id: str) -> Response:
        serializer = self.InputSerializer(data=request.data)
        if not serializer.is_valid():
            services.issuance_require(ctx=self.call_context(request), issuance_id=issuance_id)
            raise ValidationError(serializer.errors)
        status = services.issuance_complete(
            ctx=self.call_context(request),
            issuance_id=issuance_id,
            outcome=serializer.validated_data["outcome"],
        )
        return Response(self.OutputSerializer({"status": status}).data)


class SessionEndApi(KioskApiView):
    @extend_schema(
        operation_id="end",
        summary="6. end: close the session (unprinted issuances are voided)",
        responses={204: None, **_errors("SESSION_NOT_FOUND")},
    )
    def delete(self, request: Request, session_id: str) -> Response:
        services.session_end(ctx=self.call_context(request), session_id=session_id)
        return Response(status=204)


class SessionAccessHistoryApi(KioskApiView):
    class OutputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AccessHistoryEntry"

        at = serializers.DateTimeField()
        accessor = serializers.CharField(
            help_text="by role (e.g. 市民生活課, コンビニ交付), never a clerk's name"
        )
        action = serializers.CharField()

    @extend_schema(
        operation_id="access_history",
        summary="the holder's own access history (SPEC §9)",
        responses={
            200: OutputSerializer(many=True),
            **_errors("SESSION_NOT_FOUND", "SESSION_EXPIRED", "SESSION_NOT_AUTHENTICATED"),
        },
    )
    def get(self, request: Request, session_id: str) -> Response:
        entries = services.session_access_history(ctx=self.call_context(request), session_id=session_id)
        return Response(self.OutputSerializer(entries, many=True).data)


class KioskSchemaApi(SpectacularAPIView):
    """The OpenAPI document of the kiosk API only, public (it holds no data), JSON or YAML."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    custom_settings = {
        "TITLE": "佐賀市証明書コンビニ交付 キオスクAPI",
        "DESCRIPTION": "SPEC §3. 認証: Authorization: Bearer <端末トークン>。エラーは "
        '{"error": {"code", "message"}}(検証エラーは "fields" 付き)。',
        "VERSION": "1",
        "PREPROCESSING_HOOKS": ["kiosk_api.apis.kiosk_endpoints_only"],
    }


def kiosk_endpoints_only(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """Schema preprocessing hook: only the kiosk API's operations, not the schema view itself."""
    return [
        endpoint
        for endpoint in endpoints
        if endpoint[0].startswith("/api/kiosk/v1/") and not endpoint[0].endswith("/schema/")
    ]


class KioskDocsPage(SpectacularSwaggerView):
    """The browsable API reference (Swagger UI, served from our own static files: no CDN)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

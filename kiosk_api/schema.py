"""drf-spectacular extension: the terminal token is an HTTP bearer scheme in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TerminalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "kiosk_api.auth.TerminalTokenAuthentication"
    name = "terminalToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "端末トークン (登録時に一度だけ表示)"}

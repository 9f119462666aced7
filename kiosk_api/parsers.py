"""The kiosk API's JSON parser: DRF's, but a pathological body is a parse error, never a crash."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class KioskJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            # Thousands of nested brackets fit in the 64 KiB limit; Python's json gives up with
            # RecursionError, which DRF does not catch. It is malformed input like any other.
            raise ParseError("JSON nested too deeply") from exc

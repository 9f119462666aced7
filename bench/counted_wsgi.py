"""The deployed WSGI application, counting the SQL statements each worker sends (bench only).

bench/kiosk_load.py serves the app through this module so that it can report statements per visit:
each worker adds up the statements of its requests and writes its running total to
``KONBINI_BENCH_COUNT_DIR/<pid>`` after each request (a few bytes; the bench reads the files before
and after the measured window). Nothing here runs in production.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from django.db import connection

from saga_konbini.wsgi import application as _deployed

_COUNT_DIR = Path(os.environ["KONBINI_BENCH_COUNT_DIR"])
_totals = {"statements": 0, "requests": 0}  # this worker's own counters, numbers only


def _counting(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
    _totals["statements"] += 1
    return execute(sql, params, many, context)


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    with connection.execute_wrapper(_counting):
        body = list(_deployed(environ, start_response))
    _totals["requests"] += 1
    (_COUNT_DIR / str(os.getpid())).write_text(f"{_totals['statements']} {_totals['requests']}")
    return body

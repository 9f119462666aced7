"""sync.feed.line_parse: orjson for speed, with exactly the standard library's verdicts (SPEC §5:
an unparseable line rejects the batch; a parseable line with a bad value is quarantined)."""

from __future__ import annotations

import json

import pytest

from sync.feed import line_parse


@pytest.mark.parametrize(
    "raw",
    [
        b'{"op":"upsert","entity":"household","key":"H1","data":{"address":"\xe4\xbd\x90\xe8\xb3\x80"}}\n',
        b'{"a": [1, 2.5, -0, 1e3, true, false, null, "\\u00e9"]}',
        # What orjson refuses but JSON allows: the standard decoder takes over, so these are values
        # for validation to judge (quarantine), not unparseable lines (batch rejection).
        b'{"assessed": 100000000000000000000000000000}',
        b'{"paid": -9223372036854775809, "unpaid": 18446744073709551616}',
        b'{"ratio": 0.12345678901234567890123, "huge": 1e400}',
        b'{"name": "\\ud800"}',
        b'  {"padded": 1}  \r\n',
        b'"just a string"',
    ],
)
def test_values_are_the_standard_librarys(raw):
    expected = json.loads(raw.decode("utf-8"))
    parsed = line_parse(raw)
    assert parsed == expected
    assert repr(parsed) == repr(expected)  # the same types too: an integer stays an integer


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1} {"b": 2}', b'{"a": 1}x', b"", b"\xff\xfe"],
)
def test_refusals_are_value_errors(raw):
    with pytest.raises(ValueError):
        line_parse(raw)

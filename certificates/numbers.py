"""Certificate numbers (交付番号): unique, never reused, one per copy (SPEC §8).

Format ``41201-2026-00001234``: the municipality code (佐賀市 41201), the year of issue (Japan time)
and a serial of at least 8 digits. The serial is ONE counter for all years and types, not reset each
January: uniqueness then rests on the serial alone and needs no per-year bookkeeping, and the year
is there for people reading the number.

- PostgreSQL: the SEQUENCE ``certificates_number_seq`` (migration 0002). ``nextval`` is atomic
  across processes and never rolled back, so concurrent issuances never share a number and a failed
  issuance leaves a gap, never a reuse.
- Other databases (SQLite, the fresh-clone demo): the CertificateNumberCounter row, incremented in
  the caller's transaction. SQLite serialises writers, so two issuances cannot interleave; a rolled
  back issuance returns its numbers, which is harmless because nothing carrying them left the server
  (the document is handed out only after the issuance commits).

The unique constraint on IssuedCertificateNumber.number is the last line of defence either way.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F

from certificates.models import CertificateNumberCounter

SEQUENCE_NAME = "certificates_number_seq"
_SERIAL_DIGITS = 8


def certificate_number_format(*, year: int, serial: int) -> str:
    return f"{settings.MUNICIPALITY_CODE}-{year:04d}-{serial:0{_SERIAL_DIGITS}d}"


def certificate_numbers_allocate(*, count: int, year: int) -> list[str]:
    """``count`` fresh certificate numbers for issue year ``year``, in increasing order."""
    if not 1 <= count <= 100:
        raise ValueError("count must be between 1 and 100")
    return [certificate_number_format(year=year, serial=serial) for serial in _next_serials(count)]


def _next_serials(count: int) -> list[int]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT nextval('{SEQUENCE_NAME}') FROM generate_series(1, %s)", [count])  # noqa: S608
            return sorted(row[0] for row in cursor.fetchall())
    with transaction.atomic():
        CertificateNumberCounter.objects.get_or_create(pk=1)
        # A conditional UPDATE, not read-modify-write: where the database has row locks, this takes one.
        CertificateNumberCounter.objects.filter(pk=1).update(last_value=F("last_value") + count)
        last = CertificateNumberCounter.objects.values_list("last_value", flat=True).get(pk=1)
    return list(range(last - count + 1, last + 1))

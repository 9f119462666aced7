"""Certificate numbers (SPEC §8): format, uniqueness under concurrent issuance, check codes."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from audit.services import Actor
from certificates.models import IssuedCertificateNumber
from certificates.numbers import certificate_number_format, certificate_numbers_allocate
from certificates.options import IssueRequest
from certificates.services import certificate_issue
from certificates.signing import check_code_compute, check_code_matches
from residents.models import Resident
from tests.certificates.factories import ResidentFactory, SealRegistrationFactory, jst, signing_dir_for_tests


@pytest.fixture(autouse=True)
def _signing(settings, tmp_path_factory):
    settings.KONBINI_SIGNING_DIR = signing_dir_for_tests(tmp_path_factory)


def test_number_format():
    assert certificate_number_format(year=2026, serial=1234) == "41201-2026-00001234"
    # Past 8 digits the serial simply grows: still unique, never wrapped.
    assert certificate_number_format(year=2031, serial=123_456_789) == "41201-2031-123456789"


@pytest.mark.django_db
def test_allocation_gives_distinct_increasing_numbers():
    first = certificate_numbers_allocate(count=3, year=2026)
    second = certificate_numbers_allocate(count=2, year=2027)
    serials = [int(n.rsplit("-", 1)[1]) for n in first + second]
    assert serials == sorted(serials) and len(set(serials)) == 5
    assert all(n.startswith("41201-2026-") for n in first)
    assert all(n.startswith("41201-2027-") for n in second)


@pytest.mark.django_db
def test_allocation_rejects_absurd_counts():
    with pytest.raises(ValueError):
        certificate_numbers_allocate(count=0, year=2026)


@pytest.mark.django_db  # the active signing key is a row of the published keys
def test_check_code_is_short_unambiguous_and_tied_to_the_number():
    code = check_code_compute("41201-2026-00000001")
    assert len(code) == 6 and not set(code) & set("ILOU")
    assert code == check_code_compute("41201-2026-00000001")
    assert code != check_code_compute("41201-2026-00000002")
    assert check_code_matches("41201-2026-00000001", code.lower())
    # Typed with the letters people confuse: O for 0, I or L for 1, with a separator.
    typed = code.replace("0", "O").replace("1", "I")
    assert check_code_matches("41201-2026-00000001", typed[:3] + "-" + typed[3:])
    assert not check_code_matches("41201-2026-00000002", code)


@pytest.mark.django_db
def test_check_code_depends_on_the_signing_key(tmp_path):
    from certificates.signing_keys import issuing_key_load
    from simulators.lgpki import lgpki_test_key_create

    code = check_code_compute("41201-2026-00000001")
    another = issuing_key_load(str(lgpki_test_key_create(tmp_path, "another-key")))
    assert check_code_compute("41201-2026-00000001", key=another) != code


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="concurrent writers need PostgreSQL: SQLite's in-memory test database refuses them (CI runs this)",
)
def test_numbers_are_unique_under_concurrent_issuance():
    threads_count, copies = 8, 3
    holders = []
    for _ in range(threads_count):
        holder = ResidentFactory.create()
        SealRegistrationFactory.create(resident=holder)
        holders.append(holder.pk)
    barrier = threading.Barrier(threads_count)
    results: dict[int, list[str]] = {}
    errors: list[BaseException] = []

    def issue(holder_id: int) -> None:
        try:
            holder = Resident.objects.get(pk=holder_id)
            barrier.wait(timeout=30)
            issued = certificate_issue(
                holder=holder,
                request=IssueRequest(cert_type="inkan", copies=copies),
                actor=Actor(kind="terminal", id=str(holder_id), label=f"端末{holder_id}"),
                terminal_label=f"端末{holder_id}",
                now=jst(2026, 11, 26),
            )
            results[holder_id] = issued.certificate_numbers
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread's assertion
            errors.append(exc)
        finally:
            connections.close_all()

    workers = [threading.Thread(target=issue, args=(pk,)) for pk in holders]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    numbers = [n for batch in results.values() for n in batch]
    assert len(numbers) == threads_count * copies
    assert len(set(numbers)) == len(numbers)
    stored = list(IssuedCertificateNumber.objects.values_list("number", flat=True))
    assert sorted(stored) == sorted(numbers)
    # Each issuance's own numbers belong to its own record (nothing crossed between requests).
    for holder_id, batch in results.items():
        owners = set(
            IssuedCertificateNumber.objects.filter(number__in=batch).values_list(
                "issuance__holder_resident_id", flat=True
            )
        )
        assert owners == {holder_id}

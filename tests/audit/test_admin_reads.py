"""SPEC §6: every admin page that shows a resident is an audit event with the clerk as the actor, and
no admin page shows one without it: a walk over every registered ModelAdmin, so that a new admin page
showing names without auditing fails here. The doors with no audit are shut: Django's history pages
of resident data and the admin's autocomplete endpoint answer 403 to everyone."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import Client
from django.urls import NoReverseMatch, reverse

from audit.models import AuditEvent
from certificates.models import IssuanceRecord
from kiosk_api.models import Terminal
from residents.admin_mixins import AuditedResidentDataAdminMixin
from residents.models import Resident
from staff import roles
from sync.models import QuarantinedRecord
from sync.services import sync_run
from tests.certificates.factories import IssuanceStopFactory, jst
from tests.certificates.records import kiosk_record, terminal_for
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db

# Names found nowhere else on an admin page (unlike 佐賀, which is in every page's header).
MIRRORED = {
    "family_name": "唐津谷",
    "given_name": "珠緒",
    "family_name_kana": "カラツダニ",
    "given_name_kana": "タマオ",
}
UNMIRRORED = {
    "family_name": "伊万里",
    "given_name": "澪",
    "family_name_kana": "イマリ",
    "given_name_kana": "ミオ",
}
MIRRORED_MARKS = ("唐津谷", "カラツダニ")
UNMIRRORED_MARKS = ("伊万里", "イマリ")


@dataclass
class Seeded:
    resident: Resident
    quarantined_mirrored: QuarantinedRecord  # names a resident the mirror holds
    quarantined_newcomer: QuarantinedRecord  # names a resident the mirror does not hold


@pytest.fixture
def seeded(settings) -> Seeded:
    """A resident who reaches every page that can show one: the mirror (with seal, tax, payment and
    card through the real feed), an issuance, a stop, and two quarantined records naming people."""
    inbox = Path(settings.SYNC_INBOX_DIR)
    family = [
        fu.upsert("household", fu.household("H001", head_resident_code="R001")),
        fu.upsert("resident", fu.resident("R001", "H001", seed=1, **MIRRORED)),
        fu.upsert("resident", fu.resident("R002", "H001", seed=2, given_name="花子", relationship="妻")),
        fu.upsert("seal_registration", fu.seal("S001", "R001")),
        fu.upsert("tax_assessment", fu.tax_assessment("R001")),
        fu.upsert("tax_payment", fu.tax_payment("R001")),
        fu.upsert("card_link", fu.card_link("1f", "R001")),
    ]
    fu.write_batch(inbox, 1, family, kind="full")
    bad = [
        fu.upsert("resident", fu.resident("R001", "H001", seed=1, birth_date="1980-02-30", **MIRRORED)),
        fu.upsert("resident", fu.resident("R900", "H001", seed=90, birth_date="2026-02-30", **UNMIRRORED)),
    ]
    fu.write_batch(inbox, 2, bad)
    assert len(sync_run().applied) == 2
    resident = Resident.objects.get(resident_code="R001")
    assert not Resident.objects.filter(resident_code="R900").exists()
    record = kiosk_record(terminal=terminal_for("lawson"), at=jst(2026, 11, 26))
    IssuanceRecord.objects.filter(pk=record.pk).update(
        holder_resident_id=resident.pk, holder_resident_code="R001", printed_resident_ids=[resident.pk]
    )
    IssuanceStopFactory.create(resident_code="R001")
    return Seeded(
        resident=resident,
        quarantined_mirrored=QuarantinedRecord.objects.get(key="R001"),
        quarantined_newcomer=QuarantinedRecord.objects.get(key="R900"),
    )


def _staff(role: str) -> User:
    if role == "admin":
        return User.objects.create_superuser(f"u-{role}", password="pw-for-tests-1")
    groups = roles.roles_ensure()
    user = User.objects.create_user(f"u-{role}", password="pw-for-tests-1", is_staff=True)
    user.groups.add(groups[role])
    return user


def _pages(model_admin: admin.ModelAdmin[Any]) -> list[str]:
    """Every page of one ModelAdmin a clerk could open: its change list (also as the lookup popup of
    a raw-id widget), its custom views that take no argument (reports), and for every row the
    change, delete-confirmation and history pages."""
    opts = model_admin.model._meta
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    pages = [changelist, f"{changelist}?_popup=1&_to_field=id"]
    for url in model_admin.get_urls():
        name = getattr(url, "name", None)
        if not name or name.endswith(("_changelist", "_add")):
            continue
        try:
            pages.append(reverse(f"admin:{name}"))
        except NoReverseMatch:
            continue  # takes an object id: walked per row below
    for pk in model_admin.model._default_manager.values_list("pk", flat=True):
        for page in ("change", "delete", "history"):
            pages.append(reverse(f"admin:{opts.app_label}_{opts.model_name}_{page}", args=[pk]))
    return pages


@pytest.mark.parametrize("role", [roles.CLERK, "admin"])
def test_every_admin_page_that_shows_a_resident_is_audited_as_the_clerks_read(client, seeded, role):
    user = _staff(role)
    client.force_login(user)
    showing_mirrored: list[str] = []
    showing_newcomer: list[str] = []
    for model_admin in admin.site._registry.values():
        for page in _pages(model_admin):
            before = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            response = client.get(page, REMOTE_ADDR="198.51.100.23")
            if response.status_code != 200:
                continue
            html = response.content.decode(errors="replace")
            events = list(AuditEvent.objects.filter(pk__gt=before))
            if any(mark in html for mark in MIRRORED_MARKS):
                showing_mirrored.append(page)
                assert any(
                    event.actor_kind == "clerk"
                    and event.actor_id == str(user.pk)
                    and seeded.resident.pk in event.resident_ids
                    and event.source == "198.51.100.23"
                    for event in events
                ), f"{page} shows the resident's name without an audit event naming them"
            if any(mark in html for mark in UNMIRRORED_MARKS):
                showing_newcomer.append(page)
                assert any(
                    event.actor_id == str(user.pk)
                    and seeded.quarantined_newcomer.pk
                    in event.payload.get("quarantined_records_not_in_mirror", [])
                    for event in events
                ), f"{page} shows a person the mirror lacks without an audit event naming the record"
    # The walk did reach the pages that show names: the mirror and the quarantined records.
    assert reverse("admin:residents_resident_changelist") in showing_mirrored
    assert reverse("admin:residents_resident_change", args=[seeded.resident.pk]) in showing_mirrored
    mirrored_record = reverse("admin:sync_quarantinedrecord_change", args=[seeded.quarantined_mirrored.pk])
    newcomer_record = reverse("admin:sync_quarantinedrecord_change", args=[seeded.quarantined_newcomer.pk])
    assert mirrored_record in showing_mirrored
    assert showing_newcomer == [newcomer_record]


def test_a_quarantined_record_page_names_the_records_and_the_residents_the_mirror_holds(client, seeded):
    clerk = _staff(roles.CLERK)
    client.force_login(clerk)
    spouse = Resident.objects.get(resident_code="R002")

    page = client.get(
        reverse("admin:sync_quarantinedrecord_change", args=[seeded.quarantined_newcomer.pk]),
        HTTP_X_REQUEST_ID="req-quarantine-1",
    )

    assert page.status_code == 200 and "伊万里" in page.content.decode()
    event = AuditEvent.objects.get(action="admin.resident_view")
    # R900 is not in the mirror; the household it names (R001, R002) is, and is blocked by it.
    assert event.resident_ids == sorted([seeded.resident.pk, spouse.pk])
    assert event.payload["quarantined_records"] == [seeded.quarantined_newcomer.pk]
    assert event.payload["quarantined_records_not_in_mirror"] == [seeded.quarantined_newcomer.pk]
    assert event.request_id == "req-quarantine-1"
    assert "R900" not in str(event.payload) and "伊万里" not in str(event.payload)

    listing = client.get(reverse("admin:sync_quarantinedrecord_changelist"))
    assert listing.status_code == 200
    listed = AuditEvent.objects.get(action="admin.resident_list")
    assert listed.payload["quarantined_records"] == sorted(
        [seeded.quarantined_mirrored.pk, seeded.quarantined_newcomer.pk]
    )
    assert listed.payload["quarantined_records_not_in_mirror"] == [seeded.quarantined_newcomer.pk]


def test_the_raw_id_lookup_popup_is_audited_like_the_list(client, seeded):
    clerk = _staff(roles.CLERK)
    client.force_login(clerk)

    popup = client.get(reverse("admin:residents_resident_changelist"), {"_popup": "1", "_to_field": "id"})

    assert popup.status_code == 200 and "唐津谷" in popup.content.decode()
    event = AuditEvent.objects.get(action="admin.resident_list")
    assert seeded.resident.pk in event.resident_ids and event.payload["popup"] is True


def test_the_void_confirmation_lists_records_and_is_audited(client, seeded):
    supervisor = _staff(roles.SUPERVISOR)
    client.force_login(supervisor)
    record = IssuanceRecord.objects.get()

    page = client.post(
        reverse("admin:certificates_issuancerecord_changelist"),
        {"action": "void_selected", "_selected_action": [record.pk]},
    )

    assert page.status_code == 200 and "交付の取消" in page.content.decode()
    event = AuditEvent.objects.get(action="admin.resident_list")
    assert event.resident_ids == [seeded.resident.pk] and event.payload["page"] == "void_confirm"
    assert event.actor_id == str(supervisor.pk)


# --- the doors without an audit are shut ---------------------------------------------------------

ROLES = [roles.CLERK, roles.SUPERVISOR, roles.AUDITOR, "admin"]
RESIDENT_DATA_MODELS = {
    "residents.household",
    "residents.resident",
    "residents.sealregistration",
    "residents.taxassessment",
    "residents.taxpayment",
    "residents.cardlink",
    "sync.quarantinedrecord",
    "sync.residentblock",
    "certificates.issuancerecord",
    "certificates.issuancestop",
}


def _audited_admins() -> dict[str, admin.ModelAdmin[Any]]:
    return {
        model._meta.label_lower: model_admin
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, AuditedResidentDataAdminMixin)
    }


def test_every_admin_of_resident_data_is_audited():
    assert set(_audited_admins()) == RESIDENT_DATA_MODELS


@pytest.mark.parametrize("role", [*ROLES, None])
def test_history_pages_of_resident_data_answer_403_to_everyone(seeded, role):
    client = Client()
    if role is not None:
        client.force_login(_staff(role))
    for label, model_admin in sorted(_audited_admins().items()):
        opts = model_admin.model._meta
        pk = model_admin.model._default_manager.values_list("pk", flat=True).first()
        assert pk is not None, label
        response = client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_history", args=[pk]))
        assert response.status_code == 403, (label, role)
        assert "唐津谷" not in response.content.decode()


def test_change_pages_of_resident_data_link_to_no_history(client, seeded):
    client.force_login(_staff(roles.SUPERVISOR))
    page = client.get(reverse("admin:residents_resident_change", args=[seeded.resident.pk]))
    assert page.status_code == 200 and "historylink" not in page.content.decode()
    terminal = reverse("admin:kiosk_api_terminal_change", args=[Terminal.objects.get().pk])
    assert "historylink" in client.get(terminal).content.decode()  # other pages keep theirs


@pytest.mark.parametrize("role", [*ROLES, None])
def test_the_admin_autocomplete_answers_403_to_everyone(seeded, role):
    client = Client()
    if role is not None:
        client.force_login(_staff(role))
    query = {
        "app_label": "residents",
        "model_name": "sealregistration",
        "field_name": "resident",
        "term": "唐津谷",
    }

    response = client.get(reverse("admin:autocomplete"), query)

    assert response.status_code == 403
    assert "唐津谷" not in response.content.decode()
    assert not AuditEvent.objects.filter(action__startswith="admin.").exists()


def test_a_stop_for_someone_the_mirror_lacks_is_named_by_its_id(client, seeded):
    """The stops list shows resident codes and the clerk's reasons: an event must say whom, also
    for a stop whose resident the mirror does not hold (no internal id exists)."""
    client.force_login(_staff(roles.CLERK))
    absent = IssuanceStopFactory.create(resident_code="R777")
    assert client.get(reverse("admin:certificates_issuancestop_changelist")).status_code == 200
    event = AuditEvent.objects.get(action="admin.resident_list", payload__model="certificates.issuancestop")
    assert absent.pk in event.payload["stops"] and event.payload["stops_not_in_mirror"] == [absent.pk]
    assert seeded.resident.pk in event.resident_ids

"""Clerks' views of resident data in the admin are audited with the clerk as the actor."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.contrib.messages.storage.cookie import CookieStorage
from django.template.response import TemplateResponse
from django.test import RequestFactory
from django.urls import reverse

from audit.models import AuditEvent
from residents.admin_mixins import AuditedResidentDataAdminMixin
from residents.models import Household, Resident, SealRegistration
from tests.certificates.factories import ResidentFactory, SealRegistrationFactory, member_of

pytestmark = pytest.mark.django_db


class ResidentPageAdmin(AuditedResidentDataAdminMixin, admin.ModelAdmin):
    pass


@pytest.fixture
def superclerk(db) -> User:
    return User.objects.create_superuser("madoguchi", password="madoguchi-password-123")


def request_for(user: User, path: str = "/admin/", **get: str):
    request = RequestFactory().get(path, get)
    request.user = user
    # The admin reports "does not exist" as a message.
    setattr(request, "_messages", CookieStorage(request))  # noqa: B010
    return request


def test_changelist_records_the_residents_on_the_page(superclerk):
    holder = ResidentFactory.create()
    spouse = member_of(holder)
    model_admin = ResidentPageAdmin(Resident, admin.site)

    response = model_admin.changelist_view(request_for(superclerk))

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="admin.resident_list")
    assert event.resident_ids == sorted([holder.pk, spouse.pk])
    assert (event.actor_kind, event.actor_id, event.actor_label) == ("clerk", str(superclerk.pk), "madoguchi")
    assert event.payload["model"] == "residents.resident"


def test_detail_page_records_the_resident_viewed(superclerk):
    registration = SealRegistrationFactory.create()
    model_admin = ResidentPageAdmin(SealRegistration, admin.site)

    response = model_admin.change_view(request_for(superclerk), str(registration.pk))

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="admin.resident_view")
    assert event.resident_ids == [registration.resident_id]


def test_household_pages_record_every_member(superclerk):
    holder = ResidentFactory.create()
    spouse = member_of(holder)
    model_admin = ResidentPageAdmin(Household, admin.site)

    model_admin.change_view(request_for(superclerk), str(holder.household_id))

    assert AuditEvent.objects.get(action="admin.resident_view").resident_ids == sorted([holder.pk, spouse.pk])


def test_missing_object_records_nothing(superclerk):
    model_admin = ResidentPageAdmin(Resident, admin.site)
    response = model_admin.change_view(request_for(superclerk), "999999")
    assert response.status_code == 302  # the admin redirects with "does not exist"
    assert not AuditEvent.objects.filter(action="admin.resident_view").exists()


@pytest.fixture
def madoguchi(db) -> User:
    from staff import roles

    groups = roles.roles_ensure()
    user = User.objects.create_user("madoguchi2", password="madoguchi-password-123", is_staff=True)
    user.groups.add(groups[roles.CLERK])
    return user


def test_the_mirrors_admin_pages_are_audited_for_a_clerk(client, madoguchi):
    holder = ResidentFactory.create()
    spouse = member_of(holder)
    registration = SealRegistrationFactory.create(resident=holder)
    client.force_login(madoguchi)

    listing = client.get(reverse("admin:residents_resident_changelist"), {"q": holder.family_name})
    detail = client.get(reverse("admin:residents_resident_change", args=[spouse.pk]))
    seal = client.get(reverse("admin:residents_sealregistration_change", args=[registration.pk]))

    assert listing.status_code == detail.status_code == seal.status_code == 200
    listed = AuditEvent.objects.get(action="admin.resident_list")
    assert listed.resident_ids == sorted([holder.pk, spouse.pk])
    assert listed.payload["searched"] is True
    viewed = list(AuditEvent.objects.filter(action="admin.resident_view").order_by("pk"))
    assert [event.resident_ids for event in viewed] == [[spouse.pk], [holder.pk]]
    assert {(event.actor_kind, event.actor_label) for event in [listed, *viewed]} == {("clerk", "madoguchi2")}


class DeletableResidentPageAdmin(AuditedResidentDataAdminMixin, admin.ModelAdmin):
    """Resident data that could be deleted: no such admin exists today, the mixin covers it anyway."""


def test_delete_confirmation_records_the_resident_it_names(superclerk):
    holder = ResidentFactory.create()
    model_admin = DeletableResidentPageAdmin(Resident, admin.site)

    response = model_admin.delete_view(request_for(superclerk), str(holder.pk))

    assert isinstance(response, TemplateResponse) and response.status_code == 200
    assert str(holder) in response.rendered_content  # 「佐賀　太郎」
    event = AuditEvent.objects.get(action="admin.resident_view")
    assert event.resident_ids == [holder.pk] and event.payload["page"] == "delete"
    assert Resident.objects.filter(pk=holder.pk).exists()

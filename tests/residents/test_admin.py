"""The mirror's admin: read-only, Japanese, and the My Number never shown nor searchable."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.urls import reverse

from residents.models import Resident, SealRegistration
from sync.services import sync_run
from tests.sync import feedutil as fu

pytestmark = pytest.mark.django_db


@pytest.fixture
def mirror(settings) -> None:
    fu.write_batch(Path(settings.SYNC_INBOX_DIR), 1, fu.family(), kind="full")
    assert sync_run().applied


def test_resident_pages_never_show_the_my_number(admin_client, mirror):
    resident = Resident.objects.get(resident_code="R001")

    listing = admin_client.get(reverse("admin:residents_resident_changelist"))
    detail = admin_client.get(reverse("admin:residents_resident_change", args=[resident.pk]))

    assert listing.status_code == detail.status_code == 200
    for page in (listing, detail):
        html = page.content.decode()
        assert fu.my_number(1) not in html
        assert resident.my_number_encrypted not in html
        assert "my_number" not in html
    assert "佐賀" in detail.content.decode()


def test_residents_are_searched_by_name_kana_and_code_but_not_by_my_number(admin_client, mirror):
    url = reverse("admin:residents_resident_changelist")

    by_kana = admin_client.get(url, {"q": "サガ"})
    by_code = admin_client.get(url, {"q": "R002"})
    by_number = admin_client.get(url, {"q": fu.my_number(1)})

    assert list(
        by_kana.context["cl"].queryset.values_list("resident_code", flat=True).order_by("resident_code")
    ) == [
        "R001",
        "R002",
    ]
    assert list(by_code.context["cl"].queryset.values_list("resident_code", flat=True)) == ["R002"]
    assert by_number.context["cl"].queryset.count() == 0


def test_mirror_cannot_be_added_changed_or_deleted(admin_client, mirror):
    resident = Resident.objects.get(resident_code="R001")

    add = admin_client.get(reverse("admin:residents_resident_add"))
    delete = admin_client.post(
        reverse("admin:residents_resident_delete", args=[resident.pk]), {"post": "yes"}
    )
    change = admin_client.post(
        reverse("admin:residents_resident_change", args=[resident.pk]), {"given_name": "改ざん"}
    )

    assert add.status_code == 403 and delete.status_code == 403 and change.status_code == 403
    assert Resident.objects.get(pk=resident.pk).given_name == "太郎"


def test_seal_image_is_shown_as_a_picture_not_as_bytes(admin_client, mirror):
    seal = SealRegistration.objects.first()
    assert seal is not None

    page = admin_client.get(reverse("admin:residents_sealregistration_change", args=[seal.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert 'src="data:image/png;base64,' in html
    assert "\\x89PNG" not in html and "b&#x27;" not in html


@pytest.mark.parametrize(
    "model", ["household", "taxassessment", "taxpayment", "cardlink", "sealregistration"]
)
def test_every_mirror_list_renders(admin_client, mirror, model):
    assert admin_client.get(reverse(f"admin:residents_{model}_changelist")).status_code == 200


def test_dates_are_shown_in_wareki_with_the_western_year_in_japanese(admin_client, mirror):
    Resident.objects.filter(resident_code="R001").update(birth_date=date(1975, 4, 1))
    Resident.objects.filter(resident_code="R002").update(birth_date=date(1926, 12, 25))  # 昭和元年
    resident = Resident.objects.get(resident_code="R001")
    url = reverse("admin:residents_resident_changelist")

    listing = admin_client.get(url)
    detail = admin_client.get(reverse("admin:residents_resident_change", args=[resident.pk])).content.decode()

    html = listing.content.decode()
    assert "昭和50年(1975年)4月1日" in html and "昭和元年(1926年)12月25日" in html
    assert "昭和50年(1975年)4月1日" in detail
    assert "1975年4月1日" not in html + detail  # not Django's own format beside it
    # The detail page's other dates: the day the resident came (1980-04-01), the synced time.
    assert "昭和55年(1980年)4月1日" in detail
    assert "令和" in detail and "年(20" in detail
    # The column still sorts by the date itself.
    column = listing.context["cl"].list_display.index("birth_date_wareki")
    by_birth = admin_client.get(url, {"o": str(column)})
    assert [row.resident_code for row in by_birth.context["cl"].result_list] == ["R002", "R001"]


def test_dates_stay_western_in_english(admin_client, mirror, settings):
    Resident.objects.filter(resident_code="R001").update(birth_date=date(1975, 4, 1))
    resident = Resident.objects.get(resident_code="R001")
    admin_client.cookies.load({settings.LANGUAGE_COOKIE_NAME: "en"})

    listing = admin_client.get(reverse("admin:residents_resident_changelist")).content.decode()
    detail = admin_client.get(reverse("admin:residents_resident_change", args=[resident.pk])).content.decode()

    for page in (listing, detail):
        assert "昭和" not in page and "1975年" not in page
        assert "April 1, 1975" in page

import pytest
from django.utils import timezone

from sync.models import SyncCursor


def test_healthz_answers_without_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_is_unavailable_until_the_mirror_has_been_filled(client):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["mirror"] == "stale"


@pytest.mark.django_db
def test_readyz_is_ready_with_a_fresh_mirror(client):
    SyncCursor.objects.create(pk=1, next_batch_number=2, last_applied_at=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["database"] == "ok"


@pytest.mark.django_db
def test_readyz_reports_an_unreachable_redis(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    SyncCursor.objects.create(pk=1, next_batch_number=2, last_applied_at=timezone.now())
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "unavailable"

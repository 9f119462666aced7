"""Staff pages on their own host name (STAFF_HOSTS): /admin/ and /audit/ answer only there; on any
other host they are the site's ordinary 404, before sessions, authentication or the admin run."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client

from staff import roles

pytestmark = pytest.mark.django_db

PUBLIC = "konbini.example.jp"
STAFF = "konbini-admin.example.jp"
PASSWORD = "a-long-supervisor-password"


@pytest.fixture(autouse=True)
def _two_names(settings):
    settings.ALLOWED_HOSTS = [PUBLIC, STAFF]
    settings.STAFF_HOSTS = [STAFF]
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def supervisor() -> Client:
    groups = roles.roles_ensure()
    user = get_user_model().objects.create_user("kakaricho", password=PASSWORD, is_staff=True)
    user.groups.set([groups[roles.SUPERVISOR]])
    client = Client()
    client.force_login(user)
    return client


STAFF_PATHS = ["/admin/", "/admin", "/admin/login/", "/admin/kiosk_api/terminal/add/", "/audit/", "/audit"]


@pytest.mark.parametrize("path", STAFF_PATHS)
def test_staff_pages_are_a_plain_404_on_the_public_name(supervisor, path, django_assert_num_queries):
    unknown = supervisor.get("/no-such-page/", HTTP_HOST=PUBLIC)
    # No query at all: no session is read, nobody is authenticated, no admin code runs.
    with django_assert_num_queries(0):
        response = supervisor.get(path, HTTP_HOST=PUBLIC)
    # Exactly the page of a path that does not exist: nothing says the admin lives elsewhere.
    assert (response.status_code, response.content) == (404, unknown.content)
    assert not response.cookies


def test_a_login_on_the_public_name_never_reaches_the_login_form(client):
    response = client.post("/admin/login/", {"username": "kakaricho", "password": "wrong"}, HTTP_HOST=PUBLIC)
    assert response.status_code == 404
    assert not AccessAttempt.objects.exists()  # django-axes never saw it: no lockout to provoke


def test_staff_pages_work_on_the_staff_name(supervisor, client):
    assert supervisor.get("/admin/", HTTP_HOST=STAFF).status_code == 200
    assert supervisor.get("/admin/kiosk_api/terminal/add/", HTTP_HOST=f"{STAFF}:8443").status_code == 200
    assert client.get("/admin/login/", HTTP_HOST=STAFF.upper()).status_code == 200
    # Auditors' views: signed-out visitors are sent to the staff login page, on the same name.
    response = client.get("/audit/", HTTP_HOST=STAFF)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_public_pages_and_the_language_switch_stay_on_every_name(client):
    assert client.get("/verify/", HTTP_HOST=PUBLIC).status_code == 200
    assert client.get("/healthz", HTTP_HOST=PUBLIC).status_code == 200
    # /verify/'s own language switch.
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/verify/"}, HTTP_HOST=PUBLIC)
    assert (response.status_code, response["Location"]) == (302, "/verify/")


def test_the_audit_logs_public_face_stays_on_every_name(client):
    """Witnesses outside the city read the signed checkpoint and its proofs under the public name."""
    for host in (PUBLIC, STAFF):
        response = client.get("/audit/transparency/checkpoint", HTTP_HOST=host)
        assert response["Content-Type"] == "application/json"  # the view's answer, not the site's 404
        response = client.get("/audit/transparency/consistency?first=a&second=b", HTTP_HOST=host)
        assert response.status_code == 400 and "error" in response.json()
    # Only that: the rest of /audit/ stays on the staff name.
    assert client.get("/audit/transparency", HTTP_HOST=PUBLIC).status_code == 404
    assert client.get("/audit/chain/", HTTP_HOST=PUBLIC).status_code == 404


def test_without_staff_hosts_staff_pages_are_on_every_allowed_name(client, settings):
    settings.STAFF_HOSTS = []
    assert client.get("/admin/login/", HTTP_HOST=PUBLIC).status_code == 200
    assert client.get("/admin/login/", HTTP_HOST=STAFF).status_code == 200


def test_a_host_that_is_not_allowed_is_refused_as_before(client):
    assert client.get("/admin/login/", HTTP_HOST="evil.example.com").status_code == 400


def test_the_host_check_runs_before_sessions_authentication_and_lockouts(settings):
    order = settings.MIDDLEWARE
    check = order.index("saga_konbini.staff_hosts.StaffHostMiddleware")
    for later in (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "axes.middleware.AxesMiddleware",
    ):
        assert check < order.index(later), later

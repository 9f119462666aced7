from typing import Any

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from oversight import health, metrics
from staff import roles
from staff import views as staff_views

admin.site.site_header = _("佐賀市 証明書コンビニ交付 管理")
admin.site.site_title = _("佐賀市 コンビニ交付")
admin.site.index_title = _("業務メニュー")
admin.site.has_permission = roles.admin_site_has_permission  # type: ignore[method-assign]
# Every admin view the site wraps: a change list refuses (403) an action it does not offer.
_admin_view = admin.site.admin_view


def _admin_view_offered_actions_only(view: Any, cacheable: bool = False) -> Any:
    return _admin_view(roles.admin_actions_offered_only(view), cacheable)


admin.site.admin_view = _admin_view_offered_actions_only  # type: ignore[method-assign]
# SPEC §9: the one-form sign-in (user name, password, TOTP code) on the admin's login page.
admin.site.login = staff_views.admin_login  # type: ignore[assignment]


def admin_autocomplete_refused(request: HttpRequest) -> HttpResponse:
    """The admin's autocomplete endpoint searches any model with ``search_fields`` through any
    foreign key to it (residents by name, for one) and answers in JSON, unaudited. No admin uses
    autocomplete_fields, so it is closed: 403 to everyone, signed in or not (SPEC §6)."""
    raise PermissionDenied


urlpatterns = [
    # TOTP enrolment at first sign-in, under /admin/ with the rest of the staff screens.
    path("admin/otp/", include("staff.urls")),
    # Before the admin's own URLs, so that this answer comes first and no login redirect precedes it.
    path("admin/autocomplete/", admin_autocomplete_refused, name="admin_autocomplete_refused"),
    # Everyone signed in may sign out, auditors and staff in no role too: the admin's own logout URL
    # sits behind its door check (admin_site_has_permission), which would keep them signed in.
    path("admin/logout/", admin.site.logout, name="staff_logout"),
    path("admin/", admin.site.urls),
    # The language switch of the screens (Japanese by default, English available): POST to set_language.
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    # Prometheus; answers only to METRICS_ALLOWED_IPS or the METRICS_TOKEN bearer.
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/kiosk/v1/", include("kiosk_api.urls")),
    path("audit/", include("oversight.urls")),
    # The demos' browser kiosk, named by string: production does not install the simulators and the
    # product never imports them. Its URLs are empty unless KIOSK_SIMULATOR_ENABLED.
    *(
        [path("kiosk-simulator/", include("simulators.kiosk_browser.urls"))]
        if apps.is_installed("simulators")
        else []
    ),
    # certificates.urls holds the public /verify/ page (SPEC §8).
    path("", include("certificates.urls")),
]

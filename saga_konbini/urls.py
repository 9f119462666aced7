from django.contrib import admin
from django.urls import include, path

from saga_konbini import health

admin.site.site_header = "佐賀市 証明書コンビニ交付 管理"
admin.site.site_title = "佐賀市 コンビニ交付"
admin.site.index_title = "業務メニュー"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/kiosk/v1/", include("kiosk_api.urls")),
    path("audit/", include("audit.urls")),
    # certificates.urls holds the public /verify/ page (SPEC §8).
    path("", include("certificates.urls")),
]

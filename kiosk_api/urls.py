"""Kiosk API v1 routes (SPEC §3), mounted at /api/kiosk/v1/. No trailing slashes, as the SPEC writes them."""

from django.urls import path

from kiosk_api import apis

app_name = "kiosk_api"

urlpatterns = [
    path("sessions", apis.SessionStartApi.as_view(), name="session-start"),
    path("sessions/<str:session_id>", apis.SessionEndApi.as_view(), name="session-end"),
    path(
        "sessions/<str:session_id>/authenticate",
        apis.SessionAuthenticateApi.as_view(),
        name="session-authenticate",
    ),
    path("sessions/<str:session_id>/issuances", apis.IssuanceCreateApi.as_view(), name="issuance-create"),
    path(
        "sessions/<str:session_id>/access-history",
        apis.SessionAccessHistoryApi.as_view(),
        name="session-access-history",
    ),
    path("issuances/<str:issuance_id>/document", apis.DocumentFetchApi.as_view(), name="document-fetch"),
    path(
        "issuances/<str:issuance_id>/complete", apis.IssuanceCompleteApi.as_view(), name="issuance-complete"
    ),
    path("schema/", apis.KioskSchemaApi.as_view(), name="schema"),
    path("docs/", apis.KioskDocsPage.as_view(url_name="kiosk_api:schema"), name="docs"),
]

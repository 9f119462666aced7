from django.urls import path

from audit import public_views
from oversight import views

# The auditors' pages and the public transparency log share /audit/ and its "audit" URL names.
app_name = "audit"

urlpatterns = [
    path("", views.event_search, name="search"),
    path("events/<int:pk>/", views.event_detail, name="event_detail"),
    path("export.csv", views.event_export, name="export"),
    path("chain/", views.chain_status, name="chain"),
    path("chain/verify/", views.chain_verify_now, name="chain_verify"),
    path("statistics/", views.statistics, name="statistics"),
    # Public, for witnesses outside the city (SPEC §6): no login, no personal data.
    path("transparency/checkpoint", public_views.transparency_checkpoint, name="transparency_checkpoint"),
    path("transparency/consistency", public_views.transparency_consistency, name="transparency_consistency"),
]

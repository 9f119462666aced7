from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.event_search, name="search"),
    path("events/<int:pk>/", views.event_detail, name="event_detail"),
    path("export.csv", views.event_export, name="export"),
    path("chain/", views.chain_status, name="chain"),
    path("chain/verify/", views.chain_verify_now, name="chain_verify"),
    path("statistics/", views.statistics, name="statistics"),
]

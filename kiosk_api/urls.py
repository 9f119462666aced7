from django.urls import path  # noqa: F401

app_name = "kiosk_api"

urlpatterns: list = []

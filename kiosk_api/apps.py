from django.apps import AppConfig


class KioskApiConfig(AppConfig):
    name = "kiosk_api"
    verbose_name = "キオスク端末"

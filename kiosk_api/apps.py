from django.apps import AppConfig


class KioskApiConfig(AppConfig):
    name = "kiosk_api"
    verbose_name = "キオスク端末"

    def ready(self) -> None:
        # Registers the OpenAPI description of the terminal token (drf-spectacular extension).
        from kiosk_api import schema  # noqa: F401

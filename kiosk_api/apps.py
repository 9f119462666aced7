from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class KioskApiConfig(AppConfig):
    name = "kiosk_api"
    verbose_name = pgettext_lazy("app", "キオスク端末")

    def ready(self) -> None:
        # Registers the OpenAPI description of the terminal token (drf-spectacular extension).
        from kiosk_api import schema  # noqa: F401

from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class KioskApiConfig(AppConfig):
    name = "kiosk_api"
    verbose_name = pgettext_lazy("app", "キオスク端末")

    def ready(self) -> None:
        # The OpenAPI description of the terminal token (drf-spectacular extension), and the deploy
        # check that production trusts no simulated card CA: both register themselves on import.
        from kiosk_api import checks, schema  # noqa: F401

from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class KioskApiConfig(AppConfig):
    name = "kiosk_api"
    verbose_name = pgettext_lazy("app", "キオスク端末")

    def ready(self) -> None:
        # The OpenAPI description of the terminal token (drf-spectacular extension), and the deploy
        # check that production trusts no simulated card CA: both register themselves on import.
        # An issuance printed or voided anywhere (a clerk's void in the admin too) drops the
        # kiosk's stored document in the same transaction.
        from certificates.lifecycle import issuance_closed
        from kiosk_api import checks, schema  # noqa: F401
        from kiosk_api.services.closing import document_discard

        issuance_closed.connect(document_discard, dispatch_uid="kiosk_api.document_discard")

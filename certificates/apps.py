from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class CertificatesConfig(AppConfig):
    name = "certificates"
    verbose_name = pgettext_lazy("app", "証明書")

    def ready(self) -> None:
        # The deploy check of the document-signing keys registers itself on import.
        from certificates import checks  # noqa: F401

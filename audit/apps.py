from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = pgettext_lazy("app", "監査")

    def ready(self) -> None:
        from audit import checks  # noqa: F401  (registers the deploy checks)

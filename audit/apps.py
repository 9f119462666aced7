from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = pgettext_lazy("app", "監査")

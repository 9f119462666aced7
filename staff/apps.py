from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = _("職員アカウント")

    def ready(self) -> None:
        from staff import checks  # noqa: F401  (registers the deploy check)

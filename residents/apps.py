from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class ResidentsConfig(AppConfig):
    name = "residents"
    verbose_name = pgettext_lazy("app", "住民記録ミラー")

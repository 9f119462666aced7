from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = pgettext_lazy("app", "基幹系連携")

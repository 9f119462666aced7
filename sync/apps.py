from typing import Any

from django.apps import AppConfig
from django.utils.translation import pgettext_lazy

from residents.holds import holds_asked


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = pgettext_lazy("app", "基幹系連携")

    def ready(self) -> None:
        # certificates asks residents which residents are held; sync answers for its quarantine.
        # Imported here: the selectors need the models, which are loaded only once the apps are.
        from sync.selectors import resident_codes_sync_blocked

        def quarantine_holds(sender: Any, *, resident_codes: list[str], **kwargs: Any) -> set[str]:
            return resident_codes_sync_blocked(resident_codes=resident_codes)

        holds_asked.connect(quarantine_holds, dispatch_uid="sync.quarantine_holds", weak=False)

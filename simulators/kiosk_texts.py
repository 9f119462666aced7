"""The texts both kiosks (browser and command line) show beside the API's own, in the kiosk's language.

One place, so that a term is the same on both kiosks and in every language (docs/glossary.md). The
certificates' names: the API's offers carry them in the request's language (``label_local``); the
browser kiosk names them itself as well, because its visitor may switch language after the offers
came (every screen is rendered in the language chosen now).
"""

from __future__ import annotations

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

TYPE_LABELS: dict[str, Promise] = {
    "juminhyo": _("住民票の写し"),
    "inkan": _("印鑑登録証明書"),
    "shotoku_kazei": _("所得課税証明書"),
    "nozei": _("納税証明書"),
}
UNAVAILABLE_LABELS: dict[str, Promise] = {
    "NOT_AVAILABLE_AT_KIOSK": _("コンビニでは交付できません。市役所の窓口でご請求ください。"),
    "SEAL_NOT_REGISTERED": _("印鑑登録がありません。"),
    "NO_TAX_RECORD": _("税情報がありません。"),
}
# SPEC §4: what the resident holds to the machine; a card file says which (absent: a card).
CREDENTIAL_LABELS: dict[str, Promise] = {"card": _("マイナンバーカード"), "smartphone": _("スマートフォン")}
JUMINHYO_FLAGS: dict[str, Promise] = {
    "show_relationship": _("世帯主・続柄"),
    "show_honseki": _("本籍・筆頭者"),
    "show_my_number": _("個人番号"),
}


def kiosk_languages() -> list[tuple[str, str]]:
    """(code, name) of every language of the kiosk's language button, each name in its own language."""
    named = []
    for code, name in settings.LANGUAGES:
        with translation.override(code):
            named.append((code, str(name)))
    return named

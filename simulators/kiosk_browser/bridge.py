"""The browser kiosk's server side (SPEC §9): demo cards, their PINs, and the kiosk API over HTTP.

The browser never holds a key or a token. This bridge, on the server, plays the two parts of a
real multi-copy machine that a browser cannot: the card reader (it reads a demo card file from
``KIOSK_SIMULATOR_CARDS_DIR``, opens its key with the PIN, three wrong PINs lock the card, and the
card signs the challenge) and the machine's terminal credentials (the demo terminal's token from
``terminal.json`` in the same folder). It then speaks the SPEC §3 API over plain HTTP like any
kiosk (``simulators.kiosk_client``), so the browser kiosk exercises exactly what a store's machine does.

Only card files in that folder are ever opened (a name is checked against a strict pattern and
looked up inside the folder), so the bridge cannot sign for anything but the demo cards.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from simulators.city.cards import card_pin_try
from simulators.kiosk_client import CardKey, KioskClient
from simulators.kiosk_texts import CREDENTIAL_LABELS

CARD_FORMAT = "saga-konbini-card/1"
TOKEN_FILE = "terminal.json"  # noqa: S105 (a file name, not a secret)
# seed_demo names cards "<scenario>-<card id>.json" (simulators/city/cards.py).
CARD_NAME = re.compile(r"^(?P<scenario>[a-z0-9_]{1,40})-(?P<card_id>[0-9A-Za-z][0-9A-Za-z-]{0,63})\.json$")

SCENARIO_LABELS = {
    "ok": _("すべての証明書を交付できる"),
    "ok_single": _("単身世帯"),
    "no_seal": _("印鑑登録なし"),
    "seal_abolished": _("印鑑登録廃止"),
    "moving_out": _("転出予定"),
    "moved_out": _("転出済み"),
    "deceased": _("死亡"),
    "support_measure": _("支援措置対象"),
    "clerk_stop": _("交付停止中"),
    "pending_change": _("異動処理中"),
    "household_pending_change": _("世帯員が異動処理中"),
    "no_tax_record": _("税情報なし"),
    "under_15": _("15歳未満"),
    "adult_ward": _("成年被後見人"),
    "gaiji": _("外字を含む氏名"),
    "linked_today": _("本日カード紐付け"),
    "expired_cert": _("電子証明書の有効期限切れ"),
    "revoked_cert": _("電子証明書の失効"),
    "unlinked_cert": _("カード紐付けなし"),
    "untrusted_cert": _("信頼されていない認証局"),
    "smartphone_ok": _("スマートフォンで交付できる"),
    "smartphone_revoked": _("スマートフォンの電子証明書の失効(カードは利用可)"),
    "other": _("その他"),
}
# Files opened at most per scenario while looking for the chosen kind: a label such as "other"
# holds thousands of files, of both kinds.
_LIST_READS_PER_SCENARIO = 60


class CardError(Exception):
    """A card problem to show on the kiosk screen (its message in the screen's language)."""


class CardNotFound(CardError):
    pass


class CardLocked(CardError):
    pass


class PinRejected(CardError):
    def __init__(self, message: str, *, remaining: int) -> None:
        super().__init__(message)
        self.remaining = remaining


@dataclass(frozen=True)
class DemoCard:
    file_name: str
    scenario: str
    holder_name: str
    pin_hint: str  # demo cards only: shown to trainers so that they can walk the flow
    locked: bool

    @property
    def scenario_label(self) -> str:
        return str(SCENARIO_LABELS.get(self.scenario, self.scenario))


def cards_dir() -> Path:
    return Path(settings.KIOSK_SIMULATOR_CARDS_DIR)


def _card_path(file_name: str) -> Path:
    if not CARD_NAME.match(file_name):
        raise CardNotFound(gettext("カードを読み取れません。もう一度カードを選んでください。"))
    path = cards_dir() / file_name
    if not path.is_file():
        raise CardNotFound(gettext("カードを読み取れません。もう一度カードを選んでください。"))
    return path


def _card_read(path: Path) -> dict[str, Any]:
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CardNotFound(gettext("カードを読み取れません。もう一度カードを選んでください。")) from exc
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise CardNotFound(gettext("このカードは使用できません。"))
    return card


def card_credential(card: dict[str, Any]) -> str:
    return str(card.get("credential", "card"))


def demo_cards_list(
    *, credential: str = "card", per_scenario: int = 3
) -> list[tuple[str, str, list[DemoCard]]]:
    """The demo cards of one kind (``card`` or ``smartphone``), a few per scenario label, as
    (scenario, label, cards), ``ok`` first.

    Only the first files of each scenario are opened: the demo folder holds thousands.
    """
    folder = cards_dir()
    by_scenario: dict[str, list[str]] = defaultdict(list)
    if folder.is_dir():
        for name in sorted(os.listdir(folder)):
            match = CARD_NAME.match(name)
            if match:
                by_scenario[match["scenario"]].append(name)
    order = list(SCENARIO_LABELS)
    result = []
    for scenario in sorted(by_scenario, key=lambda s: (order.index(s) if s in order else len(order), s)):
        cards: list[DemoCard] = []
        for name in by_scenario[scenario][:_LIST_READS_PER_SCENARIO]:
            if len(cards) == per_scenario:
                break
            try:
                content = _card_read(folder / name)
            except CardNotFound:
                continue
            if card_credential(content) != credential:
                continue
            cards.append(
                DemoCard(
                    file_name=name,
                    scenario=scenario,
                    holder_name=str(content.get("holder", {}).get("name", "")),
                    pin_hint=str(content.get("pin", "")),
                    locked=bool(content.get("locked")),
                )
            )
        if cards:
            result.append((scenario, str(SCENARIO_LABELS.get(scenario, scenario)), cards))
    return result


def demo_card_check(*, file_name: str, credential: str) -> None:
    """The file is a readable demo card of the kind the resident chose (a phone is no card)."""
    if card_credential(_card_read(_card_path(file_name))) != credential:
        raise CardNotFound(
            gettext("選んだ方法では読み取れません。%(credential)sを選んでやり直してください。")
            % {"credential": CREDENTIAL_LABELS.get(credential, CREDENTIAL_LABELS["card"])}
        )


def demo_card_unlock(*, file_name: str, pin: str) -> CardKey:
    """Open the card's key with ``pin``. A wrong PIN counts in the card file; the third locks it."""
    attempt = card_pin_try(path=_card_path(file_name), pin=pin, read=_card_read)
    if attempt.was_locked:
        raise CardLocked(
            gettext(
                "このカードは暗証番号の誤りが続いたためロックされています。市役所の窓口で解除してください。"
            )
        )
    if attempt.locked:
        raise CardLocked(
            gettext(
                "暗証番号が3回誤って入力されたため、カードがロックされました。市役所の窓口で解除してください。"
            )
        )
    if attempt.key is None:
        message = ngettext(
            "暗証番号が違います。あと%(remaining)d回誤るとカードがロックされます。",
            "暗証番号が違います。あと%(remaining)d回誤るとカードがロックされます。",
            attempt.remaining,
        ) % {"remaining": attempt.remaining}
        raise PinRejected(message, remaining=attempt.remaining)
    return attempt.key


def terminal_token() -> str:
    try:
        data = json.loads((cards_dir() / TOKEN_FILE).read_text(encoding="utf-8"))
        return str(data["token"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CardError(
            gettext(
                "この端末は登録されていません(デモ端末のトークンがありません。seed_demo を実行してください)。"
            )
        ) from exc


def api_client(*, request: HttpRequest) -> KioskClient:
    """A kiosk API client for this request, as the demo terminal. Built per request: nothing shared.

    It speaks the language of this request's screen (LocaleMiddleware's choice), so that the API's
    messages come back in the language the screen shows.
    """
    base = settings.KIOSK_SIMULATOR_API_BASE or request.build_absolute_uri("/")
    language = getattr(request, "LANGUAGE_CODE", settings.LANGUAGE_CODE)
    return KioskClient(base, terminal_token(), timeout=60.0, language=language)

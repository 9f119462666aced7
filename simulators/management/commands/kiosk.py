"""``manage.py kiosk``: a convenience-store kiosk for people, on the command line (SPEC §4, §7).

Speaks only HTTP to a running server (``simulators.kiosk_client``), like a real multi-copy machine:
reads a software card, asks its PIN (three wrong tries lock the card, written back into the card
file), runs the challenge–response, shows the offers, issues, saves the PDF and reports the print's
outcome. Every question has a flag for non-interactive use. ``--lang`` is the kiosk's language
button: the screens, and the API's messages (sent as Accept-Language), in any of settings.LANGUAGES;
the certificate itself stays Japanese.
"""

from __future__ import annotations

import getpass
import json
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from simulators.city.cards import card_pin_try
from simulators.kiosk_client import CardKey, KioskApiError, KioskClient
from simulators.kiosk_texts import CREDENTIAL_LABELS, JUMINHYO_FLAGS, TYPE_LABELS, UNAVAILABLE_LABELS

CARD_FORMAT = "saga-konbini-card/1"
# Answers that mean yes, in every language of the kiosk (and the Japanese はい).
YES = {"y", "yes", "はい", "是", "예", "네", "có", "sim", "s", "ya"}


def _parse_option(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise CommandError(_("--option は key=value の形で指定してください: %(raw)s") % {"raw": raw})
    lowered = value.strip().lower()
    parsed: Any
    if lowered in {"true", "yes", "1", "on"}:
        parsed = True
    elif lowered in {"false", "no", "0", "off"}:
        parsed = False
    elif lowered.isdigit():
        parsed = int(lowered)
    elif key == "members":
        parsed = [v for v in value.split(",") if v]
    else:
        parsed = value
    return key.strip(), parsed


class Command(BaseCommand):
    help = "コンビニ交付のキオスク端末を模擬します(HTTPでサーバに接続します)。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--server", required=True, help="サーバのURL (例: http://127.0.0.1:8000)")
        parser.add_argument("--token-file", required=True, help='端末トークンのファイル ({"token": ...})')
        parser.add_argument("--card", required=True, help="カードファイル (saga-konbini-card/1)")
        parser.add_argument(
            "--credential",
            choices=sorted(CREDENTIAL_LABELS),
            help="本人確認に使うもの: card(マイナンバーカード)または smartphone(スマートフォン)。"
            "省略すると、--type も --pin もない対話時は選択を求め、それ以外はカードファイルのとおり",
        )
        parser.add_argument("--pin", help="暗証番号(4桁)。省略すると入力を求めます")
        parser.add_argument("--type", choices=sorted(TYPE_LABELS), help="証明書の種類")
        parser.add_argument("--copies", type=int, help="通数 (1〜10)")
        parser.add_argument(
            "--option",
            action="append",
            default=[],
            help="請求オプション key=value (scope=all|selected, members=名前,名前, show_relationship=true, "
            "fiscal_year=2026 など)",
        )
        parser.add_argument("--out", help="証明書PDFの保存先")
        parser.add_argument("--outcome", choices=["printed", "failed"], help="印刷結果")
        parser.add_argument("--history", action="store_true", help="自分の情報へのアクセス履歴を表示する")
        parser.add_argument(
            "--lang",
            choices=[code for code, _name in settings.LANGUAGES],
            default=settings.LANGUAGE_CODE,
            help="画面の言語 (証明書は日本語のまま)",
        )

    # --- small interaction helpers ------------------------------------------------------------

    def _say(self, text: str = "") -> None:
        self.stdout.write(text)

    def _ask(self, prompt: str) -> str:
        try:
            return input(prompt).strip()
        except EOFError as exc:
            raise CommandError(_("入力が終了しました。")) from exc

    def _ask_yes(self, prompt: str, default: bool = False) -> bool:
        answer = self._ask(f"{prompt} [{'Y/n' if default else 'y/N'}] ").lower()
        return default if not answer else answer in YES

    def _ask_number(self, prompt: str, low: int, high: int) -> int:
        while True:
            answer = self._ask(prompt)
            if answer.isdigit() and low <= int(answer) <= high:
                return int(answer)
            self._say(_("%(low)s〜%(high)sの数字を入力してください。") % {"low": low, "high": high})

    # --- steps ----------------------------------------------------------------------------------

    def _load_card(self, path: Path) -> dict[str, Any]:
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(_("カードファイルを読み込めません: %(path)s") % {"path": path}) from exc
        if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
            raise CommandError(
                _("カードファイルの形式が違います (%(format)s ではありません)。") % {"format": CARD_FORMAT}
            )
        if card.get("credential", "card") not in CREDENTIAL_LABELS:
            raise CommandError(_("カードファイルの credential は card または smartphone です。"))
        return card

    def _choose_credential(self, card: dict[str, Any], wanted: str | None, interactive: bool) -> None:
        """The resident's choice, as the machine's first screen asks it: マイナンバーカード or
        スマートフォン. The file must be of that kind (a phone is no card to the reader)."""
        held = str(card.get("credential", "card"))
        if wanted is None:
            if not interactive:
                return
            self._say(_("本人確認に使うものを選んでください:"))
            kinds = list(CREDENTIAL_LABELS)
            for index, kind in enumerate(kinds, start=1):
                self._say(f"  {index}. {CREDENTIAL_LABELS[kind]}")
            wanted = kinds[self._ask_number(_("番号を選んでください: "), 1, len(kinds)) - 1]
        if wanted != held:
            message = _("このファイルは%(held)sの電子証明書です。%(wanted)sを選んだ場合は使えません。")
            raise CommandError(
                message % {"held": CREDENTIAL_LABELS[held], "wanted": CREDENTIAL_LABELS[wanted]}
            )

    def _unlock(self, path: Path, card: dict[str, Any], pin_flag: str | None) -> CardKey:
        locked_message = _(
            "このカードは暗証番号の誤りが続いたためロックされています。市役所の窓口で解除してください。"
        )
        if card.get("locked"):
            # A locked card is refused before any PIN is asked (as the real card does).
            raise CommandError(locked_message)
        while True:
            pin = (
                pin_flag if pin_flag is not None else getpass.getpass(_("暗証番号(4桁)を入力してください: "))
            )
            # Counted under the card file's lock: another kiosk may be entering PINs on it too.
            attempt = card_pin_try(path=path, pin=pin, read=self._load_card)
            if attempt.key is not None:
                return attempt.key
            if attempt.was_locked:
                raise CommandError(locked_message)
            if attempt.locked:
                raise CommandError(
                    _(
                        "暗証番号が3回誤って入力されたため、カードがロックされました。市役所の窓口で解除してください。"
                    )
                )
            message = ngettext(
                "暗証番号が違います。あと%(remaining)d回誤るとカードがロックされます。",
                "暗証番号が違います。あと%(remaining)d回誤るとカードがロックされます。",
                attempt.remaining,
            ) % {"remaining": attempt.remaining}
            if pin_flag is not None:
                raise CommandError(message)
            self._say(message)

    def _show_offers(self, body: dict[str, Any]) -> None:
        self._say(_("%(name)s 様") % {"name": body["holder"]["name"]})
        self._say(_("交付できる証明書:"))
        for index, offer in enumerate(body["offers"], start=1):
            # The offer names its certificate in the language this kiosk asked the API for.
            label = offer["label_local"]
            if offer["available"]:
                extra = ""
                if offer.get("fiscal_years"):
                    years = pgettext("list separator", "、").join(
                        _fiscal_year(y) for y in offer["fiscal_years"]
                    )
                    extra = "  " + _("年度: %(years)s") % {"years": years}
                self._say(f"  {index}. {label}  {_per_copy(offer['fee'])}{extra}")
            else:
                self._say(f"  {index}. {label}  ― {_unavailable(offer)}")

    def _choose_offer(self, body: dict[str, Any], wanted: str | None) -> dict[str, Any]:
        offers = {offer["type"]: offer for offer in body["offers"]}
        if wanted is None:
            available = [offer for offer in body["offers"] if offer["available"]]
            if not available:
                raise CommandError(_("このカードでは交付できる証明書がありません。窓口でご請求ください。"))
            index = self._ask_number(_("番号を選んでください: "), 1, len(body["offers"]))
            wanted = body["offers"][index - 1]["type"]
        offer = offers[wanted]
        if not offer["available"]:
            raise CommandError(f"{offer['label_local']}: {_unavailable(offer)}")
        return dict(offer)

    def _options(self, offer: dict[str, Any], raw: list[str], interactive: bool) -> dict[str, Any]:
        given = dict(_parse_option(item) for item in raw)
        if offer["type"] == "juminhyo":
            return self._juminhyo_options(offer, given, interactive)
        if offer["type"] in {"shotoku_kazei", "nozei"}:
            years = offer.get("fiscal_years") or []
            if "fiscal_year" in given:
                return {"fiscal_year": given["fiscal_year"]}
            if interactive and len(years) > 1:
                for index, year in enumerate(years, start=1):
                    self._say(f"  {index}. {_fiscal_year(year)}")
                return {
                    "fiscal_year": years[self._ask_number(_("年度を選んでください: "), 1, len(years)) - 1]
                }
            return {"fiscal_year": years[0]}
        return {}

    def _juminhyo_options(
        self, offer: dict[str, Any], given: dict[str, Any], interactive: bool
    ) -> dict[str, Any]:
        members = offer.get("members") or []
        by_name = {m["name"].replace("　", "").replace(" ", ""): m["member_ref"] for m in members}
        options: dict[str, Any] = {"scope": given.get("scope", "all")}
        if "members" in given:
            names = given["members"] if isinstance(given["members"], list) else [str(given["members"])]
            try:
                options["members"] = [by_name[name.replace("　", "").replace(" ", "")] for name in names]
            except KeyError as exc:
                raise CommandError(_("世帯員が見つかりません: %(name)s") % {"name": exc.args[0]}) from None
            options["scope"] = "selected"
        elif (
            interactive and len(members) > 1 and not self._ask_yes(_("世帯全員を記載しますか?"), default=True)
        ):
            chosen = [
                m["member_ref"]
                for m in members
                if self._ask_yes("  " + _("%(name)s を記載しますか?") % {"name": m["name"]})
            ]
            if not chosen:
                raise CommandError(_("記載する世帯員が選ばれていません。"))
            options.update(scope="selected", members=chosen)
        for flag, label in JUMINHYO_FLAGS.items():
            if flag in given:
                options[flag] = bool(given[flag])
            elif interactive:
                options[flag] = self._ask_yes(_("%(item)sを記載しますか?") % {"item": label})
        return options

    def handle(self, *args: Any, **options: Any) -> None:
        with translation.override(options["lang"]):
            self._visit(options)

    def _visit(self, options: dict[str, Any]) -> None:
        token_data = json.loads(Path(options["token_file"]).read_text(encoding="utf-8"))
        client = KioskClient(options["server"], str(token_data["token"]), language=options["lang"])
        card_path = Path(options["card"])
        card = self._load_card(card_path)
        interactive = options["type"] is None
        # Asked like the machine's first screen only when the person answers everything else too.
        self._choose_credential(card, options["credential"], interactive and options["pin"] is None)
        key = self._unlock(card_path, card, options["pin"])

        session_id: str | None = None
        try:
            session = client.session_start()
            session_id = str(session["session_id"])
            body = client.authenticate(session_id, key, session["challenge"])
            self._show_offers(body)
            if options["history"]:
                for entry in client.access_history(session_id):
                    self._say(f"  {entry['at']}  {entry['accessor']}  {entry['action']}")
            offer = self._choose_offer(body, options["type"])
            copies = options["copies"] or (
                self._ask_number(
                    _("通数 (1〜%(max)s): ") % {"max": offer["max_copies"]}, 1, offer["max_copies"]
                )
                if interactive
                else 1
            )
            request_options = self._options(offer, options["option"], interactive)
            fee = offer["fee"] * copies
            self._say(
                f"{offer['label_local']}  {_copies(copies)}  " + _("手数料 %(fee)s") % {"fee": _yen(fee)}
            )
            if interactive and not self._ask_yes(_("この内容で交付しますか?")):
                self._say(_("取りやめました。"))
                return
            # One key for this request: a retry after a lost answer gets the same issuance.
            idempotency_key = uuid.uuid4().hex
            try:
                issuance = client.issue(
                    session_id,
                    cert_type=offer["type"],
                    copies=copies,
                    options=request_options,
                    key=idempotency_key,
                )
            except KioskApiError as exc:
                if exc.code != "CONNECTION_FAILED":
                    raise
                issuance = client.issue(
                    session_id,
                    cert_type=offer["type"],
                    copies=copies,
                    options=request_options,
                    key=idempotency_key,
                )
            pdf = client.document(issuance)
            out = Path(options["out"] or f"certificate-{issuance['issuance_id']}.pdf")
            out.write_bytes(pdf)
            numbers = ", ".join(issuance["certificate_numbers"])
            self._say(
                _("証明書を保存しました: %(path)s (交付番号 %(numbers)s)") % {"path": out, "numbers": numbers}
            )
            outcome = options["outcome"] or (
                "printed"
                if not interactive or self._ask_yes(_("印刷できましたか?"), default=True)
                else "failed"
            )
            result = client.complete(int(issuance["issuance_id"]), outcome)
            if result["status"] == "printed":
                self._say(_("交付が完了しました。手数料 %(fee)s") % {"fee": _yen(issuance["fee_total"])})
            else:
                self._say(_("印刷できなかったため、交付を取り消しました。手数料はかかりません。"))
        except KioskApiError as exc:
            raise CommandError(f"{exc.message} ({exc.code})") from None
        finally:
            if session_id is not None:
                try:
                    client.session_end(session_id)
                except KioskApiError:
                    self.stderr.write(_("セッションを終了できませんでした(一定時間後に自動で終了します)。"))


def _yen(amount: int) -> str:
    return _("%(amount)s円") % {"amount": f"{amount:,}"}


def _copies(count: int) -> str:
    return ngettext("%(count)s通", "%(count)s通", count) % {"count": count}


def _per_copy(fee: int) -> str:
    return _("1通 %(fee)s") % {"fee": _yen(fee)}


def _fiscal_year(year: int) -> str:
    return _("%(year)s年度") % {"year": year}


def _unavailable(offer: dict[str, Any]) -> str:
    reason = UNAVAILABLE_LABELS.get(offer["unavailable_code"])
    return str(reason) if reason is not None else _("交付できません。")

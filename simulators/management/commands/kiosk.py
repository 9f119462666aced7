"""``manage.py kiosk``: a convenience-store kiosk for people, on the command line (SPEC §4, §7).

Speaks only HTTP to a running server (``simulators.kiosk_client``), like a real multi-copy machine:
reads a software card, asks its PIN (three wrong tries lock the card, written back into the card
file), runs the challenge–response, shows the offers in Japanese, issues, saves the PDF and
reports the print's outcome. Every question has a flag for non-interactive use.
"""

from __future__ import annotations

import getpass
import json
import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from simulators.city.cards import card_pin_try
from simulators.kiosk_client import CardKey, KioskApiError, KioskClient

CARD_FORMAT = "saga-konbini-card/1"
TYPE_LABELS = {
    "juminhyo": "住民票の写し",
    "inkan": "印鑑登録証明書",
    "shotoku_kazei": "所得課税証明書",
    "nozei": "納税証明書",
}
UNAVAILABLE_LABELS = {
    "NOT_AVAILABLE_AT_KIOSK": "コンビニでは交付できません(窓口でご請求ください)",
    "SEAL_NOT_REGISTERED": "印鑑登録がありません",
    "NO_TAX_RECORD": "税情報がありません",
}
# SPEC §4: what the resident holds to the machine; a card file says which (absent: a card).
CREDENTIAL_LABELS = {"card": "マイナンバーカード", "smartphone": "スマートフォン"}
OPTION_FLAGS = {
    "show_relationship": "世帯主・続柄",
    "show_honseki": "本籍・筆頭者",
    "show_my_number": "個人番号",
}


def _parse_option(raw: str) -> tuple[str, Any]:
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise CommandError(f"--option は key=value の形で指定してください: {raw}")
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

    # --- small interaction helpers ------------------------------------------------------------

    def _say(self, text: str = "") -> None:
        self.stdout.write(text)

    def _ask(self, prompt: str) -> str:
        try:
            return input(prompt).strip()
        except EOFError as exc:
            raise CommandError("入力が終了しました。") from exc

    def _ask_yes(self, prompt: str, default: bool = False) -> bool:
        answer = self._ask(f"{prompt} [{'Y/n' if default else 'y/N'}] ").lower()
        return default if not answer else answer in {"y", "yes", "はい"}

    def _ask_number(self, prompt: str, low: int, high: int) -> int:
        while True:
            answer = self._ask(prompt)
            if answer.isdigit() and low <= int(answer) <= high:
                return int(answer)
            self._say(f"{low}〜{high}の数字を入力してください。")

    # --- steps ----------------------------------------------------------------------------------

    def _load_card(self, path: Path) -> dict[str, Any]:
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CommandError(f"カードファイルを読み込めません: {path}") from exc
        if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
            raise CommandError(f"カードファイルの形式が違います ({CARD_FORMAT} ではありません)。")
        if card.get("credential", "card") not in CREDENTIAL_LABELS:
            raise CommandError("カードファイルの credential は card または smartphone です。")
        return card

    def _choose_credential(self, card: dict[str, Any], wanted: str | None, interactive: bool) -> None:
        """The resident's choice, as the machine's first screen asks it: マイナンバーカード or
        スマートフォン. The file must be of that kind (a phone is no card to the reader)."""
        held = str(card.get("credential", "card"))
        if wanted is None:
            if not interactive:
                return
            self._say("本人確認に使うものを選んでください:")
            kinds = list(CREDENTIAL_LABELS)
            for index, kind in enumerate(kinds, start=1):
                self._say(f"  {index}. {CREDENTIAL_LABELS[kind]}")
            wanted = kinds[self._ask_number("番号を選んでください: ", 1, len(kinds)) - 1]
        if wanted != held:
            raise CommandError(
                f"このファイルは{CREDENTIAL_LABELS[held]}の電子証明書です。"
                f"{CREDENTIAL_LABELS[wanted]}を選んだ場合は使えません。"
            )

    def _unlock(self, path: Path, card: dict[str, Any], pin_flag: str | None) -> CardKey:
        locked_message = (
            "このカードは暗証番号の誤りが続いたためロックされています。市役所の窓口で解除してください。"
        )
        if card.get("locked"):
            # A locked card is refused before any PIN is asked (as the real card does).
            raise CommandError(locked_message)
        while True:
            pin = pin_flag if pin_flag is not None else getpass.getpass("暗証番号(4桁)を入力してください: ")
            # Counted under the card file's lock: another kiosk may be entering PINs on it too.
            attempt = card_pin_try(path=path, pin=pin, read=self._load_card)
            if attempt.key is not None:
                return attempt.key
            if attempt.was_locked:
                raise CommandError(locked_message)
            if attempt.locked:
                raise CommandError("暗証番号が3回誤って入力されたため、カードをロックしました。")
            message = f"暗証番号が違います。あと{attempt.remaining}回誤るとカードがロックされます。"
            if pin_flag is not None:
                raise CommandError(message)
            self._say(message)

    def _show_offers(self, body: dict[str, Any]) -> None:
        self._say(f"{body['holder']['name']} 様")
        self._say("交付できる証明書:")
        for index, offer in enumerate(body["offers"], start=1):
            label = TYPE_LABELS.get(offer["type"], offer["type"])
            if offer["available"]:
                extra = ""
                if offer.get("fiscal_years"):
                    extra = " 年度: " + "、".join(f"{y}年度" for y in offer["fiscal_years"])
                self._say(f"  {index}. {label}  1通 {offer['fee']:,}円{extra}")
            else:
                reason = UNAVAILABLE_LABELS.get(offer["unavailable_code"], "交付できません")
                self._say(f"  {index}. {label}  ― {reason}")

    def _choose_offer(self, body: dict[str, Any], wanted: str | None) -> dict[str, Any]:
        offers = {offer["type"]: offer for offer in body["offers"]}
        if wanted is None:
            available = [offer for offer in body["offers"] if offer["available"]]
            if not available:
                raise CommandError("このカードでは交付できる証明書がありません。窓口でご請求ください。")
            index = self._ask_number("番号を選んでください: ", 1, len(body["offers"]))
            wanted = body["offers"][index - 1]["type"]
        offer = offers[wanted]
        if not offer["available"]:
            reason = UNAVAILABLE_LABELS.get(offer["unavailable_code"], "交付できません")
            raise CommandError(f"{TYPE_LABELS[wanted]}: {reason}")
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
                    self._say(f"  {index}. {year}年度")
                return {"fiscal_year": years[self._ask_number("年度を選んでください: ", 1, len(years)) - 1]}
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
                raise CommandError(f"世帯員が見つかりません: {exc.args[0]}") from None
            options["scope"] = "selected"
        elif interactive and len(members) > 1 and not self._ask_yes("世帯全員を記載しますか?", default=True):
            chosen = [m["member_ref"] for m in members if self._ask_yes(f"  {m['name']} を記載しますか?")]
            if not chosen:
                raise CommandError("記載する世帯員が選ばれていません。")
            options.update(scope="selected", members=chosen)
        for flag, label in OPTION_FLAGS.items():
            if flag in given:
                options[flag] = bool(given[flag])
            elif interactive:
                options[flag] = self._ask_yes(f"{label}を記載しますか?")
        return options

    def handle(self, *args: Any, **options: Any) -> None:
        token_data = json.loads(Path(options["token_file"]).read_text(encoding="utf-8"))
        client = KioskClient(options["server"], str(token_data["token"]))
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
                self._ask_number(f"通数 (1〜{offer['max_copies']}): ", 1, offer["max_copies"])
                if interactive
                else 1
            )
            request_options = self._options(offer, options["option"], interactive)
            fee = offer["fee"] * copies
            label = TYPE_LABELS[offer["type"]]
            self._say(f"{label} {copies}通 手数料 {fee:,}円")
            if interactive and not self._ask_yes("この内容で交付しますか?"):
                self._say("取りやめました。")
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
            self._say(f"証明書を保存しました: {out} (交付番号 {', '.join(issuance['certificate_numbers'])})")
            outcome = options["outcome"] or (
                "printed" if not interactive or self._ask_yes("印刷できましたか?", default=True) else "failed"
            )
            result = client.complete(int(issuance["issuance_id"]), outcome)
            if result["status"] == "printed":
                self._say(f"交付が完了しました。手数料 {issuance['fee_total']:,}円")
            else:
                self._say("印刷できなかったため交付を取り消しました。手数料はかかりません。")
        except KioskApiError as exc:
            raise CommandError(f"{exc.message} ({exc.code})") from None
        finally:
            if session_id is not None:
                try:
                    client.session_end(session_id)
                except KioskApiError:
                    self.stderr.write("セッションを終了できませんでした(一定時間後に自動で終了します)。")

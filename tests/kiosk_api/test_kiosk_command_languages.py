"""The command-line kiosk's language button (``--lang``): its screens and the API's messages in the
chosen language, the certificates' names from the offers' ``label_local``, and the certificate
itself still Japanese."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.services import Actor
from certificates.models import IssuanceRecord
from kiosk_api.services import terminal_register
from tests.kiosk_api.cards import Pki
from tests.kiosk_api.live import card_file, distinct_holder, pdf_text

KANA = re.compile(r"[\u3040-\u30ff]")
KANA_OR_KANJI = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# What each language's kiosk prints: the offers' heading, the seal certificate's name, the end.
SCREENS = {
    "zh-hans": ("可发放的证明书：", "印章登记证明书", "发放已完成。手续费 400日元"),
    "ko": ("교부 가능한 증명서:", "인감등록증명서", "교부가 완료되었습니다. 수수료 400엔"),
    "vi": (
        "Các giấy chứng nhận có thể cấp:",
        "Giấy chứng nhận đăng ký con dấu",
        "Đã cấp xong. Lệ phí 400 yên",
    ),
    "pt-br": (
        "Certificados disponíveis:",
        "Certificado de registro de carimbo (inkan)",
        "Emissão concluída. Taxa ¥400",
    ),
    "id": (
        "Surat keterangan yang dapat diterbitkan:",
        "Surat keterangan pendaftaran stempel (inkan)",
        "Penerbitan selesai. Biaya ¥400",
    ),
}
WRONG_PIN = {
    "zh-hans": "再输错2次",
    "ko": "2회 더 틀리면",
    "vi": "thêm 2 lần nữa",
    "pt-br": "Mais 2 erros",
    "id": "2 kali salah lagi",
}


def _token_file(directory: Path) -> Path:
    _terminal, token = terminal_register(
        name="1号機", chain="lawson", store_code="L-1", actor=Actor.job("test")
    )
    path = directory / "terminal.json"
    path.write_text(json.dumps({"token": token}), encoding="utf-8")
    return path


def _japanese_left(language: str, text: str) -> list[str]:
    script = KANA if language == "zh-hans" else KANA_OR_KANJI
    return [line for line in text.splitlines() if script.search(line)]


@pytest.mark.django_db
@pytest.mark.parametrize("language", list(WRONG_PIN))
def test_a_wrong_pin_is_told_in_the_kiosks_language(pki: Pki, tmp_path: Path, language):
    holder = distinct_holder(20)
    card_path = card_file(tmp_path, pki.card(holder), holder)
    # Nothing listens on this port: the PIN is refused before the kiosk talks to the server.
    with pytest.raises(CommandError, match=WRONG_PIN[language]) as refused:
        call_command(
            "kiosk",
            server="http://127.0.0.1:9",
            token_file=str(_token_file(tmp_path)),
            card=str(card_path),
            pin="0000",
            lang=language,
        )
    assert _japanese_left(language, str(refused.value)) == []


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("language", list(SCREENS))
def test_a_visit_in_each_language_prints_a_japanese_certificate(
    live_server, pki: Pki, tmp_path: Path, language
):
    holder = distinct_holder(21)
    card_path = card_file(tmp_path, pki.card(holder), holder)
    out, screen = tmp_path / "inkan.pdf", io.StringIO()

    call_command(
        "kiosk",
        server=live_server.url,
        token_file=str(_token_file(tmp_path)),
        card=str(card_path),
        pin="1234",
        type="inkan",
        copies=2,
        out=str(out),
        outcome="printed",
        history=True,
        lang=language,
        stdout=screen,
    )

    heading, seal, finished = SCREENS[language]
    text = screen.getvalue()
    assert heading in text and seal in text and finished in text
    # Nothing Japanese on the screen but the holder's name (data) and the saved file's Japanese path.
    names = {holder.full_name, *(str(p) for p in (out, tmp_path))}
    assert [line for line in _japanese_left(language, text) if not any(n in line for n in names)] == []
    # The certificate is the legal document: Japanese whatever the kiosk's language.
    assert "印鑑登録証明書" in pdf_text(out.read_bytes())
    assert IssuanceRecord.objects.get().status == "printed"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_an_api_refusal_reaches_the_command_line_in_its_language(live_server, pki: Pki, tmp_path: Path):
    holder = distinct_holder(22)
    card_path = card_file(tmp_path, pki.card(holder, link=False), holder)
    with pytest.raises(CommandError) as refused:
        call_command(
            "kiosk",
            server=live_server.url,
            token_file=str(_token_file(tmp_path)),
            card=str(card_path),
            pin="1234",
            type="inkan",
            lang="vi",
        )
    assert str(refused.value) == (
        "Thẻ này chưa được đăng ký dịch vụ cấp giấy tờ tại cửa hàng tiện lợi của thành phố Saga. "
        "Vui lòng hỏi tại quầy của tòa thị chính. (CARD_NOT_REGISTERED)"
    )

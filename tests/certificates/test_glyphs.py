import pytest

from certificates.glyphs import UnprintableCharacterError, characters_missing_from_font, ensure_printable


def test_names_addresses_and_kana_of_the_standard_set_are_printable():
    assert (
        characters_missing_from_font("佐賀県佐賀市城内二丁目3番45号 髙橋　齋藤 渡邉 サガ　タロウ ｱｲｳ ① ㈱")
        == set()
    )


def test_characters_outside_the_font_are_reported():
    # 𠮷 (U+20BB7) is not in IPAex; a variation selector would otherwise be silently dropped.
    assert characters_missing_from_font("𠮷野　太郎") == {"𠮷"}
    assert characters_missing_from_font("辻\U000e0100") == {"\U000e0100"}


def test_control_characters_are_not_printable():
    assert characters_missing_from_font("佐賀\t太郎\n") == {"\t", "\n"}


def test_refusal_message_names_neither_the_text_nor_its_code_points():
    with pytest.raises(UnprintableCharacterError) as caught:
        ensure_printable(["佐賀市", "𠮷野　太郎", "髙\U000e0100"])
    message = str(caught.value)
    assert caught.value.count == 2
    assert "2" in message
    for leaked in ("𠮷", "野", "太郎", "20BB7", "20bb7", "134071", "E0100", "e0100"):
        assert leaked not in message
    assert isinstance(caught.value, ValueError)

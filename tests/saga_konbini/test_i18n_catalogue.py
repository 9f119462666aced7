"""The catalogues: every text translated, in every language, and each committed .mo says what its .po says.

English (locale/en) covers the whole project. The languages residents may choose at the kiosk have
one catalogue per resident-facing app (<app>/locale/<lang>/), holding the kiosk's texts only, each
marked as awaiting review by native speakers. The .mo files are committed so that running the
server needs no GNU gettext; they must therefore be rebuilt whenever a .po changes (`make messages`).
"""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import to_locale

from kiosk_api.management.commands.kiosk_messages import RESIDENT_FACING, is_resident_facing

BASE = Path(settings.BASE_DIR)
ENGLISH = BASE / "locale" / "en" / "LC_MESSAGES" / "django.po"
KANA = re.compile(r"[\u3040-\u30ff]")
KANJI = re.compile(r"[\u4e00-\u9fff]")
# Japanese forms of characters that simplified Chinese writes otherwise (证, 书, 发, 户, 笔, ...): a
# Chinese text holding one was copied from the Japanese, not translated.
JAPANESE_FORMS = re.compile(
    "[証書発録読済続帯険払戸様県駅図広売営円単転変択訳関連緒筆紙経認際験効覧細総時間題現実機開閉]"
)
RESIDENT_LANGUAGES = [code for code, _name in settings.LANGUAGES if code not in settings.STAFF_LANGUAGES]
# The apps whose screens or messages residents see, each with its own catalogue per language.
RESIDENT_APPS = sorted({pattern.split("/", 1)[0] for pattern in RESIDENT_FACING})


def _resident_catalogues() -> list[tuple[str, Path]]:
    return [
        (language, BASE / app / "locale" / to_locale(language) / "LC_MESSAGES" / "django.po")
        for language in RESIDENT_LANGUAGES
        for app in RESIDENT_APPS
    ]


CATALOGUES = [("en", ENGLISH), *_resident_catalogues()]
CATALOGUE_IDS = [str(path.relative_to(BASE)) for _language, path in CATALOGUES]


def _ids(entry: polib.POEntry) -> tuple[str | None, str]:
    return entry.msgctxt, entry.msgid


def _texts(entry: polib.POEntry) -> list[str]:
    return [entry.msgstr, *entry.msgstr_plural.values()]


def test_the_resident_languages_are_the_kiosks_languages():
    assert RESIDENT_LANGUAGES == ["zh-hans", "ko", "vi", "pt-br", "id"]
    assert RESIDENT_APPS == ["audit", "kiosk_api", "simulators"]


@pytest.mark.parametrize("language", RESIDENT_LANGUAGES)
def test_a_text_in_two_catalogues_reads_the_same_in_both(language):
    """Django merges the apps' catalogues: a text (a certificate's name, a glossary term) marked in
    two apps must say the same in both, or the screen would depend on which catalogue wins."""
    seen: dict[tuple[str | None, str], tuple[str, ...]] = {}
    for code, path in _resident_catalogues():
        if code != language:
            continue
        for entry in polib.pofile(str(path)):
            texts = tuple(_texts(entry))
            assert seen.setdefault(_ids(entry), texts) == texts, entry.msgid


def test_the_english_catalogue_covers_the_whole_project():
    assert len(polib.pofile(str(ENGLISH))) > 500  # the screens, the admin and the kiosk API


@pytest.mark.parametrize(("language", "path"), CATALOGUES, ids=CATALOGUE_IDS)
def test_every_text_is_translated_and_not_japanese(language, path):
    catalogue = polib.pofile(str(path))
    assert len(catalogue) > 0
    assert [entry.msgid for entry in catalogue if not entry.translated()] == []
    assert [entry.msgid for entry in catalogue if entry.fuzzy] == []
    # Translated, not Japanese copied through: no kana anywhere, and no kanji but in Chinese.
    script = (
        re.compile(f"{KANA.pattern}|{JAPANESE_FORMS.pattern}")
        if language == "zh-hans"
        else re.compile(f"{KANA.pattern}|{KANJI.pattern}")
    )
    leftover = [entry.msgid for entry in catalogue for text in _texts(entry) if script.search(text)]
    assert leftover == []


@pytest.mark.parametrize(("language", "path"), _resident_catalogues())
def test_a_resident_catalogue_awaits_review_and_holds_kiosk_texts_only(language, path):
    catalogue = polib.pofile(str(path))
    assert "AWAITING REVIEW BY NATIVE SPEAKERS" in catalogue.header
    assert "awaiting review by native speakers" in catalogue.metadata["Language-Team"]
    # The kiosk's texts, each also in English; the admin's and the models' stay out.
    english = {_ids(entry) for entry in polib.pofile(str(ENGLISH))}
    assert {_ids(entry) for entry in catalogue} <= english
    sources = {occurrence for entry in catalogue for occurrence, _line in entry.occurrences}
    assert sources and all(is_resident_facing(source) for source in sources), sources


@pytest.mark.parametrize("app", RESIDENT_APPS)
def test_every_resident_language_has_the_same_texts(app):
    texts = {
        language: {_ids(entry) for entry in polib.pofile(str(path))}
        for language, path in _resident_catalogues()
        if path.is_relative_to(BASE / app)
    }
    assert len(texts) == len(RESIDENT_LANGUAGES)
    first = next(iter(texts.values()))
    assert all(ids == first for ids in texts.values())


@pytest.mark.parametrize(("language", "path"), CATALOGUES, ids=CATALOGUE_IDS)
def test_the_compiled_catalogue_says_what_the_po_file_says(language, path):
    stale = f"{path.with_suffix('.mo').relative_to(BASE)} is out of date"
    catalogue = polib.pofile(str(path))
    single_form = catalogue.metadata["Plural-Forms"].startswith("nplurals=1;")
    with translation.override(language):
        for entry in catalogue:
            if entry.msgid_plural:
                for count, index in ((1, 0), (2, 0 if single_form else 1)):
                    got = (
                        translation.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, count)
                        if entry.msgctxt
                        else translation.ngettext(entry.msgid, entry.msgid_plural, count)
                    )
                    assert got == entry.msgstr_plural[index], stale
            else:
                got = (
                    translation.pgettext(entry.msgctxt, entry.msgid)
                    if entry.msgctxt
                    else translation.gettext(entry.msgid)
                )
                assert got == entry.msgstr, stale


GLOSSARY = BASE / "docs" / "glossary.md"
GLOSSARY_COLUMNS = ["ja", "en", "zh-hans", "ko", "vi", "pt-br", "id"]


def _uncapitalised(text: str) -> str:
    return text[:1].lower() + text[1:]


def _glossary_terms() -> dict[str, dict[str, str]]:
    """The glossary's tables: Japanese term → {language: term}."""
    terms = {}
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == len(GLOSSARY_COLUMNS) and cells[0] not in ("日本語", "---"):
            terms[cells[0]] = dict(zip(GLOSSARY_COLUMNS, cells, strict=True))
    return terms


def test_the_glossary_marks_itself_as_awaiting_review():
    text = GLOSSARY.read_text(encoding="utf-8")
    assert "Awaiting review by native speakers" in text
    assert {
        "住民票の写し",
        "印鑑登録証明書",
        "暗証番号",
        "所得課税証明書",
        "戸籍",
        "マイナンバーカード",
    } <= set(_glossary_terms())
    assert "利用者証明用電子証明書" in _glossary_terms()


@pytest.mark.parametrize("language", ["en", *RESIDENT_LANGUAGES])
def test_a_glossary_term_that_is_a_whole_text_reads_as_the_glossary_says(language):
    """Where a catalogue text is exactly a glossary term (a certificate's name, 暗証番号, ...), its
    translation is the glossary's, in every catalogue of the language."""
    paths = [ENGLISH] if language == "en" else [p for code, p in _resident_catalogues() if code == language]
    terms = _glossary_terms()
    checked = 0
    for path in paths:
        for entry in polib.pofile(str(path)):
            if entry.msgid in terms and not entry.msgctxt:
                # Standing alone, a term starts with a capital letter.
                assert _uncapitalised(entry.msgstr) == _uncapitalised(terms[entry.msgid][language]), (
                    entry.msgid
                )
                checked += 1
    assert checked >= 4  # the four certificates at least

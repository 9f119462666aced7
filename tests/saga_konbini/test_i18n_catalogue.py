"""The English catalogue (locale/en): every text translated, and the committed .mo says what the .po says.

The .mo is committed so that running the server needs no GNU gettext; it must therefore be rebuilt
whenever the .po changes (the .po's header says how).
"""

from __future__ import annotations

import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.utils import translation

PO_FILE = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES" / "django.po"
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def catalogue() -> polib.POFile:
    return polib.pofile(str(PO_FILE))


def test_every_text_has_an_english_translation(catalogue):
    assert len(catalogue) > 500  # the screens, the admin and the kiosk API
    untranslated = [entry.msgid for entry in catalogue if not entry.translated()]
    assert untranslated == []
    assert [entry.msgid for entry in catalogue if entry.fuzzy] == []
    # English, not Japanese copied through.
    japanese = [
        entry.msgid
        for entry in catalogue
        for text in [entry.msgstr, *entry.msgstr_plural.values()]
        if JAPANESE.search(text)
    ]
    assert japanese == []


def test_the_compiled_catalogue_says_what_the_po_file_says(catalogue):
    with translation.override("en"):
        for entry in catalogue:
            if entry.msgid_plural:
                for count, index in ((1, 0), (2, 1)):
                    got = (
                        translation.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, count)
                        if entry.msgctxt
                        else translation.ngettext(entry.msgid, entry.msgid_plural, count)
                    )
                    assert got == entry.msgstr_plural[index], "locale/en/LC_MESSAGES/django.mo is out of date"
            else:
                got = (
                    translation.pgettext(entry.msgctxt, entry.msgid)
                    if entry.msgctxt
                    else translation.gettext(entry.msgid)
                )
                assert got == entry.msgstr, "locale/en/LC_MESSAGES/django.mo is out of date"

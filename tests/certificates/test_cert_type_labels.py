"""The certificate types' names shown to people come from one place, certificates.models.CertType."""

from __future__ import annotations

from django.utils import translation

from audit.selectors import CERT_TYPE_LABELS
from certificates.models import CertType
from certificates.rendering.inkan import InkanRenderer
from certificates.rendering.juminhyo import JuminhyoRenderer
from certificates.rendering.nozei import NozeiRenderer
from certificates.rendering.shotoku_kazei import ShotokuKazeiRenderer


def test_the_spec_names_of_the_four_types():
    with translation.override("ja"):
        labels = {value: str(label) for value, label in CertType.choices}
    # SPEC §2, in its order.
    assert labels == {
        "juminhyo": "住民票の写し",
        "inkan": "印鑑登録証明書",
        "shotoku_kazei": "所得課税証明書",
        "nozei": "納税証明書",
    }


def test_the_printed_titles_and_the_auditors_labels_are_the_same_names():
    with translation.override("ja"):
        labels = {value: str(label) for value, label in CertType.choices}
        assert {key: str(label) for key, label in CERT_TYPE_LABELS.items()} == labels
    printed = {
        "juminhyo": JuminhyoRenderer.title,
        "inkan": InkanRenderer.title,
        "shotoku_kazei": ShotokuKazeiRenderer.title,
        "nozei": NozeiRenderer.title,
    }
    assert printed == labels

"""The certificates' names as the kiosk shows them beside the Japanese one.

A certificate is a legal document and stays Japanese (certificates.models.CertType names it); a
resident who reads another language is shown its name in that language too, from these texts. They
are the same Japanese texts as CertType's, marked here so that the kiosk's catalogues
(kiosk_api/locale/<lang>/) hold them; their translations follow docs/glossary.md.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from certificates.models import CertType

CERTIFICATE_LABELS: dict[str, Promise] = {
    CertType.JUMINHYO: _("住民票の写し"),
    CertType.INKAN: _("印鑑登録証明書"),
    CertType.SHOTOKU_KAZEI: _("所得課税証明書"),
    CertType.NOZEI: _("納税証明書"),
}


def certificate_label_local(cert_type: str) -> str:
    """The certificate's name in the active language (the request's Accept-Language)."""
    return str(CERTIFICATE_LABELS[cert_type])

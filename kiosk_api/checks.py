"""Deploy checks of the kiosk API (``manage.py check --deploy``, which docker-compose's migrate
service runs before anything serves).

The demo's simulated CAs (the card's and the smartphone's, named in ``JPKI_TEST_CA_NAMES``) sign
certificates for anyone who runs the simulator; a production server that trusted either would
authenticate those cards and phones as residents. Their files sit where KONBINI_TRUSTED_CA_FILES
points by default, so production refuses to deploy while any trusted anchor is one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from kiosk_api.jpki_names import JPKI_TEST_CA_NAMES


@register(Tags.security, deploy=True)
def check_production_trusts_no_test_ca(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    if not settings.PRODUCTION:
        return []
    from kiosk_api.pki import trust_anchors

    try:
        anchors = trust_anchors()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="kiosk_api.E002")]
    if any(anchor.subject in JPKI_TEST_CA_NAMES for anchor in anchors):
        return [
            Error(
                "KONBINI_TRUSTED_CA_FILES trusts one of the demo's simulated JPKI test CAs.",
                hint="Point KONBINI_TRUSTED_CA_FILES at the real JPKI user-authentication CAs only.",
                id="kiosk_api.E001",
            )
        ]
    return []

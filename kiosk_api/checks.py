"""Deploy checks of the kiosk API (``manage.py check --deploy``, which docker-compose's migrate
service runs before anything serves).

The demo's simulated card CA (named ``JPKI_TEST_CA_NAME``) signs cards for anyone who runs the
simulator; a production server that trusted it would authenticate those cards as residents. Its
files sit where KONBINI_TRUSTED_CA_FILES points by default, so production refuses to deploy while
any trusted anchor is that CA.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from kiosk_api.jpki_names import JPKI_TEST_CA_NAME


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
    if any(anchor.subject == JPKI_TEST_CA_NAME for anchor in anchors):
        return [
            Error(
                "KONBINI_TRUSTED_CA_FILES trusts the demo's simulated JPKI test CA.",
                hint="Point KONBINI_TRUSTED_CA_FILES at the real JPKI user-authentication CA only.",
                id="kiosk_api.E001",
            )
        ]
    return []

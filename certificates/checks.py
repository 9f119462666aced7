"""Deploy checks of the city's document-signing keys (``manage.py check --deploy``, which
docker-compose's migrate service runs before anything serves).

In production the keys are the city's LGPKI credentials, installed as files: nothing is generated,
so a missing or broken key folder, or a key under the demo's test root, stops the deployment
instead of the first resident's issuance.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register
from django.core.exceptions import ImproperlyConfigured


@register(Tags.security, deploy=True)
def check_production_signing_keys(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[CheckMessage]:
    if not settings.PRODUCTION:
        return []
    from certificates.lgpki_names import LGPKI_TEST_ROOT_NAME
    from certificates.signing_keys import installed_keys, issuing_key_load

    directory = Path(settings.KONBINI_SIGNING_DIR)
    installed = installed_keys(directory)
    if not installed:
        return [
            Error(
                f"No document-signing key is installed in KONBINI_SIGNING_DIR ({directory}).",
                hint="Install the city's LGPKI key as a folder holding issuing-key.pem, issuing-cert.pem "
                "and chain.pem, then run manage.py signing_key_rotate (docs/operations.md).",
                id="certificates.E001",
            )
        ]
    errors: list[CheckMessage] = []
    for folder in installed.values():
        try:
            key = issuing_key_load(str(folder))
        except ImproperlyConfigured as exc:
            errors.append(Error(str(exc), id="certificates.E002"))
            continue
        if key.chain[-1].subject == LGPKI_TEST_ROOT_NAME:
            errors.append(
                Error(
                    f"The document-signing key in {folder} chains to the demo's test LGPKI root.",
                    hint="Install the key LGPKI issued to the city; remove the demo's test keys.",
                    id="certificates.E003",
                )
            )
    return errors

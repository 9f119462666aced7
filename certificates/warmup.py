"""Warm a fresh web process before it serves: the fonts, every renderer, the signer.

gunicorn replaces each worker after a few thousand requests (deploy/gunicorn.conf.py,
``max_requests``). Without this, the new worker's first issuance would parse the fonts, import
pyHanko and build the signature template while a resident stands at the kiosk (about half a
second); with it, the worker does that before it accepts its first request.

The certificates drawn are the fictitious specimens (見本) of ``certificates.rendering.samples``;
the one signature made is over a specimen, in memory, and is dropped: nothing is stored or sent.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError
from django.urls import get_resolver

from certificates.rendering import RenderCopy, render_certificate_pdf
from certificates.rendering.samples import (
    sample_inkan,
    sample_juminhyo,
    sample_nozei,
    sample_payload,
    sample_shotoku_kazei,
)
from certificates.signing import pdf_sign

logger = logging.getLogger(__name__)


def warm_up() -> None:
    """Render a specimen of every certificate type and sign one; load the URL configuration."""
    specimens = (sample_juminhyo(), sample_inkan(), sample_shotoku_kazei(), sample_nozei())
    pdf = b""
    for document in specimens:
        copy = RenderCopy(document=document, verification_payload=sample_payload(document))
        pdf = render_certificate_pdf(copies=[copy])
    try:
        pdf_sign(pdf)  # with the active key: the one the first issuance will use
    except (DatabaseError, ImproperlyConfigured) as exc:
        # Which key is active is in the database: a worker that starts while it is unreachable, or
        # before the first key is published, still serves; its first issuance builds the signer.
        logger.warning("signer not warmed: %s", type(exc).__name__)
    # Importing every view module is otherwise the first request's work too.
    get_resolver().url_patterns  # noqa: B018

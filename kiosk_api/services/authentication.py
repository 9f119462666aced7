"""Card authentication (SPEC §3 step 2, §4): challenge–response, the CRL, the card's link, offers."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from certificates.eligibility import Offer, offers_for_holder
from kiosk_api import door, pki
from kiosk_api.crl import crl_card_revoked
from kiosk_api.errors import KioskError
from kiosk_api.models import KioskSession
from kiosk_api.queries import card_link_with_holder
from kiosk_api.services.context import REFUSED, CallContext, audit_text, kiosk_audit, session_ref
from kiosk_api.services.sessions import session_live


@dataclass(frozen=True)
class OfferView:
    offer: Offer
    member_refs: tuple[tuple[str, str], ...]  # (member_ref, name) for juminhyo


@dataclass(frozen=True)
class AuthenticatedHolder:
    name: str
    offers: tuple[OfferView, ...]


def _serial_display(serial: str) -> str:
    # Colon-separated octets, as certificate viewers show serials; also never a 12-digit run.
    padded = serial if len(serial) % 2 == 0 else f"0{serial}"
    return ":".join(padded[i : i + 2] for i in range(0, len(padded), 2))


# Failures that look like an attack (a forged signature, a crafted or foreign certificate, a
# replayed challenge) count against the terminal as well as the certificate.
_AUTH_FAILURES_AGAINST_TERMINAL = frozenset(
    {"SIGNATURE_INVALID", "CERTIFICATE_MALFORMED", "CERTIFICATE_UNTRUSTED", "CHALLENGE_USED"}
)


# A genuine card that cannot be used (expired, revoked, not linked to a resident) counts against
# its own certificate only: its holder retrying must not lock the store's kiosk for others.
_AUTH_FAILURES_AGAINST_CARD = frozenset({"CERTIFICATE_EXPIRED", "CERTIFICATE_REVOKED", "CARD_NOT_REGISTERED"})


def session_authenticate(
    *, ctx: CallContext, session_id: str, certificate_b64: str, signature_b64: str
) -> AuthenticatedHolder:
    """Challenge–response with the card's user-authentication certificate (SPEC §3 step 2, §4).

    The challenge is consumed first, whatever the outcome: one challenge, one attempt.
    """
    session = session_live(ctx=ctx, session_id=session_id)
    payload: dict[str, Any] = {"session": session_ref(session)}
    card: pki.CardCertificate | None = None
    try:
        door.auth_failures_check(terminal_id=ctx.terminal.pk, fingerprint=None)
        # Single use, atomically: of two concurrent calls exactly one UPDATE matches.
        consumed = KioskSession.objects.filter(
            pk=session.pk, challenge_used_at__isnull=True, challenge_expires_at__gt=ctx.now
        ).update(challenge_used_at=ctx.now)
        if not consumed:
            used = KioskSession.objects.filter(pk=session.pk, challenge_used_at__isnull=False).exists()
            if used:
                raise KioskError("CHALLENGE_USED", reason="challenge_used")
            raise KioskError("SESSION_EXPIRED", reason="challenge_expired")
        challenge = bytes(session.challenge)  # read with the session; this call now owns it
        card = pki.certificate_parse(certificate_b64)
        payload.update(issuer=audit_text(card.issuer), serial=_serial_display(card.serial))
        door.auth_failures_check(terminal_id=ctx.terminal.pk, fingerprint=card.fingerprint)
        anchor = pki.issuing_anchor(card.certificate, pki.trust_anchors())
        pki.certificate_check_usable(card.certificate, now=ctx.now)
        if crl_card_revoked(anchor=anchor, serial=card.serial, now=ctx.now):
            raise KioskError("CERTIFICATE_REVOKED", reason="certificate_revoked")
        pki.signature_check(card.certificate, signature_b64=signature_b64, challenge=challenge)
        link = card_link_with_holder(
            "{table}.issuer = %s AND {table}.serial = %s", [card.issuer, card.serial]
        )
        if link is None:
            raise KioskError("CARD_NOT_REGISTERED", reason="card_not_linked")
    except KioskError as exc:
        # Count what could be an attack on a card or a terminal; not the server's or the clock's
        # doing (rate limits, an expired challenge, a missing CRL are never counted).
        if exc.code in _AUTH_FAILURES_AGAINST_TERMINAL or exc.code in _AUTH_FAILURES_AGAINST_CARD:
            door.auth_failure_count(
                terminal_id=ctx.terminal.pk,
                fingerprint=card.fingerprint if card else None,
                against_terminal=exc.code in _AUTH_FAILURES_AGAINST_TERMINAL,
            )
        kiosk_audit(ctx, "kiosk.authenticate", outcome=REFUSED, reason=exc.reason, payload=payload)
        raise

    holder = link.resident
    offers = offers_for_holder(holder=holder, now=ctx.now, card_link=link)
    views: list[OfferView] = []
    member_refs: dict[str, int] = {}
    for offer in offers:
        refs: list[tuple[str, str]] = []
        for member in offer.members:
            ref = secrets.token_urlsafe(12)
            member_refs[ref] = member.resident_id
            refs.append((ref, member.name))
        views.append(OfferView(offer=offer, member_refs=tuple(refs)))
    shown_ids = {holder.pk, *member_refs.values()}
    with transaction.atomic(savepoint=False):
        KioskSession.objects.filter(pk=session.pk).update(
            resident_id=holder.pk, card_link_id=link.pk, authenticated_at=ctx.now, member_refs=member_refs
        )
        kiosk_audit(
            ctx,
            "kiosk.authenticate",
            resident_ids=[holder.pk],
            # Which certificate the holder used: the card's and the smartphone's are revoked apart.
            payload={**payload, "card_link": link.pk, "credential": link.credential},
        )
        kiosk_audit(
            ctx,
            "kiosk.offers_shown",
            resident_ids=shown_ids,
            payload={
                "session": session_ref(session),
                "offers": [
                    {"type": o.type, "available": o.available, "reason": o.reason or ""} for o in offers
                ],
            },
        )
    return AuthenticatedHolder(name=holder.full_name, offers=tuple(views))

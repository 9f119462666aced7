"""Who acts, from which address and under which request id: read once from a request.

Every door that records an audit event, counts a rate limit or locks out a login (staff admin,
auditors' views, /verify/, the kiosk API, django-axes, /metrics) takes the client's address from
``client_address`` and nowhere else, so that they all agree on who "from where" is.

SPEC §9: behind a proxy listed in ``KONBINI_TRUSTED_PROXIES`` the client is the right-most address
of ``X-Forwarded-For`` that is not itself a trusted proxy; from any other peer the header is ignored
(anyone can send it), and the client is the socket's peer. Walking from the right matters: a proxy
appends the address it saw to whatever the client sent, so only the entries our own proxies added
can be believed, and every entry left of the first untrusted one may be the client's invention.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from audit.models import AuditEvent
from audit.request_scope import request_scope
from audit.services import Actor, audit_record

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# audit_record stores at most this many characters of the source.
SOURCE_MAX_LENGTH = 64


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    # Keyed by the setting's value, so a test's override_settings is seen at once. Settings
    # validated every entry at start-up (saga_konbini/env.py, env_networks).
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _parse_address(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]" or "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client reaching an IPv6 socket shows up as ::ffff:a.b.c.d: one client, one address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(request: HttpRequest | Any) -> str:
    """The client's address as SPEC §9 defines it ("" when the peer is unknown).

    Accepts a Django ``HttpRequest`` or a DRF ``Request`` (both expose ``META``); django-axes calls it
    through ``AXES_CLIENT_IP_CALLABLE``.
    """
    peer_text = str(request.META.get("REMOTE_ADDR", ""))
    peer = _parse_address(peer_text)
    if peer is None:
        return peer_text[:SOURCE_MAX_LENGTH]
    trusted = _trusted_networks(tuple(settings.KONBINI_TRUSTED_PROXIES))
    if not trusted or not _is_trusted(peer, trusted):
        return str(peer)
    hops = [hop for hop in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",") if hop.strip()]
    nearest = peer
    for hop in reversed(hops):
        address = _parse_address(hop)
        if address is None:
            # Our own proxy wrote something that is no address: believe nothing further left, and
            # name the last hop we could trust rather than a string anyone could have typed.
            return str(nearest)
        if not _is_trusted(address, trusted):
            return str(address)
        nearest = address
    # Every hop was one of our proxies (a health check from inside, say): the left-most of them.
    return str(nearest)


def _is_trusted(address: IPAddress, networks: tuple[IPNetwork, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def request_id_of(request: HttpRequest | Any) -> str:
    """The request id RequestIdMiddleware settled on (the proxy's when harmless, else its own)."""
    return str(request.META.get("HTTP_X_REQUEST_ID", ""))[:SOURCE_MAX_LENGTH]


@dataclass(frozen=True)
class RequestContext:
    """Who acts, from which address, under which request id: what every audited act of a request
    records (SPEC §6), read once from the request, passed explicitly to the services."""

    actor: Actor
    source: str
    request_id: str

    def audit(self, action: str, **event: Any) -> AuditEvent:
        """Record ``action`` as this request's act (``event``: outcome, reason, residents, payload...)."""
        return audit_record(
            actor=self.actor, action=action, source=self.source, request_id=self.request_id, **event
        )


def request_context(request: HttpRequest | Any, *, actor: Actor) -> RequestContext:
    """The context of ``request`` (a Django or DRF request) acted on by ``actor``."""
    return RequestContext(actor=actor, source=client_address(request), request_id=request_id_of(request))


def staff_request_context(request: HttpRequest, *, kind: str = AuditEvent.ActorKind.CLERK) -> RequestContext:
    """The context of a signed-in clerk's (or, with ``kind``, auditor's) request."""
    return request_context(request, actor=Actor.user(request.user, kind=kind))


class RequestContextMiddleware:
    """Makes the request's true client address and request id the defaults of its audit events.
    After RequestIdMiddleware, which settles the request id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with request_scope(source=client_address(request), request_id=request_id_of(request)):
            return self.get_response(request)

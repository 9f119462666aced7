"""Which residents' records may not be certified right now, as an app above residents decides.

The mirror's sync holds a resident whose feed record it quarantined (SPEC §5): until a clerk resolves
it, the mirror may be wrong about them. certificates must refuse them, yet neither app may import the
other (they are siblings above residents). So certificates asks through this signal, and sync answers
it (sync/apps.py connects its receiver at start-up).

The check must never silently vanish: with no receiver connected, asking raises instead of holding
nobody.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import cast

from django.core.exceptions import ImproperlyConfigured
from django.dispatch import Signal

# Sent with ``resident_codes`` (a list); each receiver returns the set of those codes it holds.
holds_asked = Signal()


def resident_codes_held(*, resident_codes: Collection[str]) -> set[str]:
    """The codes among ``resident_codes`` that some app holds from issuance."""
    if not holds_asked.has_listeners():
        raise ImproperlyConfigured("no app answers residents.holds.holds_asked: is sync installed?")
    held: set[str] = set()
    for _receiver, codes in holds_asked.send(sender=None, resident_codes=list(resident_codes)):
        held |= cast(set[str], codes)
    return held

"""``{% kiosk_languages as languages %}``: the language button's choices, each named in its own language."""

from __future__ import annotations

from django import template

from simulators.kiosk_texts import kiosk_languages as _kiosk_languages

register = template.Library()


@register.simple_tag
def kiosk_languages() -> list[tuple[str, str]]:
    return _kiosk_languages()

"""Admin for clerks (Japanese by default, English available): terminals, maintenance windows,
alerts, CRL state.

Terminals are registered, rotated, suspended and revoked only through the services, so every step
is audited. A new token is shown once, on the page that answers the registering or rotating POST
itself, and is never stored: not in a cookie, the session, the messages framework, a URL or a log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext_lazy
from django.utils.translation import gettext_lazy as _

from audit.request_context import staff_request_context
from audit.services import Actor
from kiosk_api import door, services
from kiosk_api.models import CrlSnapshot, KioskAlert, MaintenanceWindow, Terminal
from saga_konbini.admin_dates import WarekiDatesModelAdmin

# The tokens issued while answering one request, kept on that request object only: save_model
# issues the token and response_add shows it, and nothing else may carry it between the two.
_ISSUED_TOKENS_ATTRIBUTE = "_konbini_issued_terminal_tokens"


@dataclass(frozen=True)
class IssuedToken:
    terminal: Terminal
    token: str = field(repr=False)  # never in a repr, hence never in a traceback or a log line


def _issued_tokens(request: HttpRequest) -> list[IssuedToken]:
    issued: list[IssuedToken] | None = getattr(request, _ISSUED_TOKENS_ATTRIBUTE, None)
    if issued is None:
        issued = []
        setattr(request, _ISSUED_TOKENS_ATTRIBUTE, issued)
    return issued


def _show_token(
    request: HttpRequest, model_admin: admin.ModelAdmin[Terminal], *, title: str, issued: list[IssuedToken]
) -> TemplateResponse:
    """The one page that shows new tokens: the response to the POST that issued them.

    ``no-store``: no browser or proxy cache keeps the page, so neither going back nor a cache can
    show the token again; the page also replaces its own history entry with a plain GET of the
    terminal list (or the terminal), so that reloading it does not send the POST a second time.
    """
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "title": title,
        "issued": issued,
        "single": issued[0].terminal if len(issued) == 1 else None,
    }
    response = TemplateResponse(request, "admin/kiosk_api/terminal/token_issued.html", context)
    add_never_cache_headers(response)  # Cache-Control: ... no-store ..., private
    return response


@admin.register(Terminal)
class TerminalAdmin(WarekiDatesModelAdmin):
    list_display = ["name", "chain", "store_code", "status", "token_prefix", "last_seen_at", "created_at"]
    list_filter = ["status", "chain"]
    search_fields = ["name", "store_code", "token_prefix"]
    readonly_fields = ["status", "token_prefix", "created_at", "rotated_at", "last_seen_at"]
    # Each action needs kiosk_api.change_terminal (係長): a clerk who may only look at terminals is
    # not offered them, and a forged POST naming one is refused (the services check again).
    actions = ["suspend_selected", "reactivate_selected", "rotate_selected", "revoke_selected"]

    def has_delete_permission(self, request: HttpRequest, obj: Terminal | None = None) -> bool:
        return False  # terminals are revoked, never deleted: audit events refer to them

    def get_fields(self, request: HttpRequest, obj: Terminal | None = None) -> Any:
        if obj is None:
            return ["name", "chain", "store_code"]
        return ["name", "chain", "store_code", *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Terminal, form: Any, change: bool) -> None:
        staff = staff_request_context(request)
        if change:
            # A correction of name, chain or store code: audited, and re-checked by the service.
            services.terminal_update(
                terminal_id=obj.pk,
                name=obj.name,
                chain=obj.chain,
                store_code=obj.store_code,
                actor=staff.actor,
                source=staff.source,
                request_id=staff.request_id,
            )
            return
        terminal, token = services.terminal_register(
            name=obj.name,
            chain=obj.chain,
            store_code=obj.store_code,
            actor=staff.actor,
            source=staff.source,
            request_id=staff.request_id,
        )
        obj.pk = terminal.pk
        obj.token_hash = terminal.token_hash
        obj.token_prefix = terminal.token_prefix
        _issued_tokens(request).append(IssuedToken(terminal=terminal, token=token))

    def response_add(
        self, request: HttpRequest, obj: Terminal, post_url_continue: str | None = None
    ) -> HttpResponse:
        issued = _issued_tokens(request)
        if not issued:
            return super().response_add(request, obj, post_url_continue)
        return _show_token(request, self, title=gettext("端末を登録しました"), issued=issued)

    def _apply(self, request: HttpRequest, queryset: QuerySet[Terminal], action: Any, done: Promise) -> None:
        """``done``: the success message, an ``ngettext_lazy`` counted by ``count``."""
        count = 0
        for terminal in queryset:
            try:
                action(terminal_id=terminal.pk, actor=Actor.user(request.user))
                count += 1
            except ValidationError as exc:
                self.message_user(request, f"{terminal}: {' '.join(exc.messages)}", messages.ERROR)
        if count:
            self.message_user(request, done % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("選択した端末を一時停止する"), permissions=["change"])
    def suspend_selected(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> None:
        done = ngettext_lazy(
            "%(count)d台の端末を一時停止しました。", "%(count)d台の端末を一時停止しました。", "count"
        )
        self._apply(request, queryset, services.terminal_suspend, done)

    @admin.action(description=_("選択した端末の一時停止を解除する"), permissions=["change"])
    def reactivate_selected(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> None:
        done = ngettext_lazy(
            "%(count)d台の端末を再開しました。", "%(count)d台の端末を再開しました。", "count"
        )
        self._apply(request, queryset, services.terminal_reactivate, done)

    @admin.action(description=_("選択した端末を廃止する(元に戻せません)"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> None:
        done = ngettext_lazy(
            "%(count)d台の端末を廃止しました。", "%(count)d台の端末を廃止しました。", "count"
        )
        self._apply(request, queryset, services.terminal_revoke, done)

    @admin.action(description=_("選択した端末のトークンを再発行する"), permissions=["change"])
    def rotate_selected(self, request: HttpRequest, queryset: QuerySet[Terminal]) -> TemplateResponse | None:
        staff = staff_request_context(request)
        issued: list[IssuedToken] = []
        for terminal in queryset:
            try:
                rotated, token = services.terminal_rotate_token(
                    terminal_id=terminal.pk,
                    actor=staff.actor,
                    source=staff.source,
                    request_id=staff.request_id,
                )
            except ValidationError as exc:
                self.message_user(request, f"{terminal}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                issued.append(IssuedToken(terminal=rotated, token=token))
        if not issued:
            return None  # back to the list, which shows why nothing was rotated
        # The refusals, if any, are shown on the token page itself (its messages are read there).
        return _show_token(request, self, title=gettext("トークンを再発行しました"), issued=issued)


@admin.register(MaintenanceWindow)
class MaintenanceWindowAdmin(WarekiDatesModelAdmin):
    """The service calendar: clerk-set maintenance windows, shown with the fixed hours and closures."""

    list_display = ["starts_at", "ends_at", "reason", "created_at"]
    ordering = ["-starts_at"]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # The year-end closure and the daily hours are rules, not rows: show them beside the windows.
        hours = settings.KONBINI_SERVICE_HOURS
        if door.service_hours_parse(hours).always_open:
            service_hours = gettext("終日(常時運用)")
        else:
            opens, closes = hours.strip().split("-", 1)
            service_hours = gettext("%(opens)s〜%(closes)s") % {"opens": opens, "closes": closes}
        context = {
            "service_hours": service_hours,
            "year_end_closure": gettext("毎年 12月29日〜1月3日"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, context)

    # Through the services: each change is audited and re-checked against the actor's permission.
    # The clerk's true address and the request id go into each event (SPEC §9).
    def save_model(self, request: HttpRequest, obj: MaintenanceWindow, form: Any, change: bool) -> None:
        staff = staff_request_context(request)
        services.maintenance_window_save(
            window=obj, actor=staff.actor, source=staff.source, request_id=staff.request_id
        )

    def delete_model(self, request: HttpRequest, obj: MaintenanceWindow) -> None:
        staff = staff_request_context(request)
        services.maintenance_window_delete(
            window_id=obj.pk, actor=staff.actor, source=staff.source, request_id=staff.request_id
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MaintenanceWindow]) -> None:
        staff = staff_request_context(request)
        for window in queryset:
            services.maintenance_window_delete(
                window_id=window.pk, actor=staff.actor, source=staff.source, request_id=staff.request_id
            )


@admin.register(KioskAlert)
class KioskAlertAdmin(WarekiDatesModelAdmin):
    list_display = ["kind", "raised_at", "last_seen_at", "cleared_at", "message"]
    list_filter = ["kind"]
    readonly_fields = ["kind", "message", "raised_at", "last_seen_at", "cleared_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: KioskAlert | None = None) -> bool:
        return False  # raised and cleared by the system (the CRL refresh), never by hand

    def has_delete_permission(self, request: HttpRequest, obj: KioskAlert | None = None) -> bool:
        return False


@admin.register(CrlSnapshot)
class CrlSnapshotAdmin(WarekiDatesModelAdmin):
    list_display = ["issuer", "this_update", "next_update", "loaded_at", "revoked_count"]
    readonly_fields = ["issuer", "this_update", "next_update", "loaded_at", "revoked_count"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CrlSnapshot | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: CrlSnapshot | None = None) -> bool:
        return False

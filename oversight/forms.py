"""The auditors' search form (GET only)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from audit.models import AuditEvent

# A 12-digit number could be a My Number: it may not be typed into a search (nor reach the log).
_TWELVE_DIGITS = re.compile(r"(?<!\d)\d{12}(?!\d)")
_MAX_DAYS = 366


def _no_my_number(value: str) -> str:
    if _TWELVE_DIGITS.search(value):
        raise forms.ValidationError(
            gettext("個人番号(12桁の数字)では検索できません。住民コード・氏名・カナで検索してください。")
        )
    return value


class EventSearchForm(forms.Form):
    resident = forms.CharField(label=_("住民(住民コード・氏名・カナ)"), max_length=100, required=False)
    terminal = forms.CharField(label=_("端末(ID・名称)"), max_length=100, required=False)
    clerk = forms.CharField(label=_("職員(ユーザー名)"), max_length=150, required=False)
    action = forms.CharField(label=_("操作(例: kiosk.issuance)"), max_length=64, required=False)
    outcome = forms.ChoiceField(
        label=_("結果"), choices=[("", _("すべて")), *AuditEvent.Outcome.choices], required=False
    )
    date_from = forms.DateField(
        label=_("期間(開始)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("期間(終了)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    before = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean_resident(self) -> str:
        return _no_my_number(self.cleaned_data["resident"].strip())

    def clean_terminal(self) -> str:
        return _no_my_number(self.cleaned_data["terminal"].strip())

    def clean_clerk(self) -> str:
        return _no_my_number(self.cleaned_data["clerk"].strip())

    def clean_action(self) -> str:
        value = self.cleaned_data["action"].strip()
        if value and not re.fullmatch(r"[a-z_.]+", value):
            raise forms.ValidationError(
                gettext("操作は英小文字・ピリオド・下線で入力してください(例: kiosk.issuance)。")
            )
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            raise forms.ValidationError(gettext("期間の終了は開始より後の日付にしてください。"))
        return cleaned


class StatisticsForm(forms.Form):
    date_from = forms.DateField(
        label=_("期間(開始)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("期間(終了)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end:
            if end < start:
                raise forms.ValidationError(gettext("期間の終了は開始より後の日付にしてください。"))
            if (end - start).days >= _MAX_DAYS:
                raise forms.ValidationError(gettext("集計期間は1年以内にしてください。"))
        return cleaned

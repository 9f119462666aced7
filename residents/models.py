"""The mirror of the core municipal systems (SPEC §5): filled only by the sync feed.

Internal ids stay stable across batches (rows are upserted by their natural keys), so the audit
log's references by internal id keep their meaning. Local data that must survive a full reload
(clerks' stops, issuance records) refers to residents by ``resident_code`` instead of a foreign key.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _


class Household(models.Model):
    household_code = models.CharField(_("世帯番号"), max_length=20, unique=True)
    address = models.CharField(_("住所"), max_length=200)
    head_resident_code = models.CharField(_("世帯主の住民番号"), max_length=20)

    class Meta:
        verbose_name = _("世帯")
        verbose_name_plural = pgettext_lazy("plural", "世帯")

    def __str__(self) -> str:
        return gettext("世帯 %(code)s") % {"code": self.household_code}


class Resident(models.Model):
    class Sex(models.TextChoices):
        MALE = "male", _("男")
        FEMALE = "female", _("女")

    class Status(models.TextChoices):
        ACTIVE = "active", _("住民")
        MOVING_OUT = "moving_out", _("転出予定")
        MOVED_OUT = "moved_out", _("転出")
        DECEASED = "deceased", _("死亡")
        ERASED = "erased", _("職権消除")

    resident_code = models.CharField(_("住民票コード等(内部)"), max_length=20, unique=True)
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="members", verbose_name=_("世帯")
    )
    family_name = models.CharField(_("氏"), max_length=50)
    given_name = models.CharField(_("名"), max_length=50)
    family_name_kana = models.CharField(_("氏(カナ)"), max_length=100)
    given_name_kana = models.CharField(_("名(カナ)"), max_length=100)
    birth_date = models.DateField(_("生年月日"))
    sex = models.CharField(_("性別"), max_length=6, choices=Sex.choices)
    relationship = models.CharField(_("続柄"), max_length=20)
    address = models.CharField(_("住所"), max_length=200)
    became_resident_on = models.DateField(_("住民となった年月日"))
    address_since = models.DateField(_("住所を定めた年月日"))
    previous_address = models.CharField(_("転入前住所"), max_length=200, blank=True)
    honseki = models.CharField(_("本籍"), max_length=200, blank=True)
    hittosha = models.CharField(_("筆頭者"), max_length=100, blank=True)
    # AES-GCM ciphertext bound to resident_code; see residents/crypto.py. Never shown anywhere.
    my_number_encrypted = models.TextField(_("個人番号(暗号化)"), editable=False)
    status = models.CharField(_("状態"), max_length=12, choices=Status.choices, db_index=True)
    status_changed_on = models.DateField(_("異動日"), null=True, blank=True)
    adult_ward = models.BooleanField(_("成年被後見人"), default=False)
    support_measure = models.BooleanField(_("支援措置"), default=False)
    pending_change = models.BooleanField(_("異動中"), default=False)
    synced_at = models.DateTimeField(_("連携日時"))

    class Meta:
        verbose_name = _("住民")
        verbose_name_plural = pgettext_lazy("plural", "住民")
        indexes = [
            models.Index(fields=["family_name", "given_name"], name="resident_name_idx"),
            models.Index(fields=["family_name_kana", "given_name_kana"], name="resident_kana_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(sex__in=["male", "female"]), name="resident_sex_valid"),
            models.CheckConstraint(
                condition=Q(status__in=["active", "moving_out", "moved_out", "deceased", "erased"]),
                name="resident_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(became_resident_on__gte=models.F("birth_date")),
                name="resident_became_resident_after_birth",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.family_name}　{self.given_name}"

    @property
    def full_name(self) -> str:
        return f"{self.family_name}　{self.given_name}"

    @property
    def full_name_kana(self) -> str:
        return f"{self.family_name_kana}　{self.given_name_kana}"


class SealRegistration(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("登録中")
        ABOLISHED = "abolished", _("廃止")

    registration_number = models.CharField(_("登録番号"), max_length=20, unique=True)
    resident = models.ForeignKey(
        Resident, on_delete=models.CASCADE, related_name="seal_registrations", verbose_name=_("住民")
    )
    seal_image_png = models.BinaryField(_("印影(PNG)"))
    registered_on = models.DateField(_("登録日"))
    status = models.CharField(_("状態"), max_length=10, choices=Status.choices)
    abolished_on = models.DateField(_("廃止日"), null=True, blank=True)
    synced_at = models.DateTimeField(_("連携日時"))

    class Meta:
        verbose_name = _("印鑑登録")
        verbose_name_plural = pgettext_lazy("plural", "印鑑登録")
        constraints = [
            # A person has at most one active registration (印鑑登録は一人一印).
            models.UniqueConstraint(
                fields=["resident"], condition=Q(status="active"), name="seal_one_active_per_resident"
            ),
            models.CheckConstraint(
                condition=Q(status="active", abolished_on__isnull=True)
                | Q(status="abolished", abolished_on__isnull=False),
                name="seal_abolished_has_date",
            ),
        ]

    def __str__(self) -> str:
        return gettext("印鑑登録 %(number)s") % {"number": self.registration_number}


class TaxAssessment(models.Model):
    resident = models.ForeignKey(
        Resident, on_delete=models.CASCADE, related_name="tax_assessments", verbose_name=_("住民")
    )
    fiscal_year = models.PositiveSmallIntegerField(_("年度"))
    address_on_jan1 = models.CharField(_("1月1日現在の住所"), max_length=200)
    declared = models.BooleanField(_("申告あり"))
    income = models.JSONField(_("所得(種類別)"), default=dict)
    total_income = models.BigIntegerField(_("合計所得金額"))
    deductions = models.JSONField(_("所得控除(種類別)"), default=dict)
    total_deductions = models.BigIntegerField(_("所得控除合計"))
    taxable_income = models.BigIntegerField(_("課税標準額"))
    municipal_income_levy = models.BigIntegerField(_("市民税所得割"))
    municipal_per_capita = models.BigIntegerField(_("市民税均等割"))
    prefectural_income_levy = models.BigIntegerField(_("県民税所得割"))
    prefectural_per_capita = models.BigIntegerField(_("県民税均等割"))
    total_tax = models.BigIntegerField(_("税額合計"))
    released_on = models.DateField(_("証明開始日"), null=True, blank=True)
    synced_at = models.DateTimeField(_("連携日時"))

    class Meta:
        verbose_name = _("課税情報")
        verbose_name_plural = pgettext_lazy("plural", "課税情報")
        constraints = [
            models.UniqueConstraint(fields=["resident", "fiscal_year"], name="tax_assessment_unique_year"),
            models.CheckConstraint(condition=Q(total_tax__gte=0), name="tax_assessment_tax_non_negative"),
        ]

    def __str__(self) -> str:
        return gettext("%(year)s年度 課税") % {"year": self.fiscal_year}


class TaxPayment(models.Model):
    resident = models.ForeignKey(
        Resident, on_delete=models.CASCADE, related_name="tax_payments", verbose_name=_("住民")
    )
    fiscal_year = models.PositiveSmallIntegerField(_("年度"))
    tax_item = models.CharField(_("税目"), max_length=30)
    assessed = models.BigIntegerField(_("課税額"))
    paid = models.BigIntegerField(_("納付額"))
    unpaid = models.BigIntegerField(_("未納額"))
    synced_at = models.DateTimeField(_("連携日時"))

    class Meta:
        verbose_name = _("納税情報")
        verbose_name_plural = pgettext_lazy("plural", "納税情報")
        constraints = [
            models.UniqueConstraint(
                fields=["resident", "fiscal_year", "tax_item"], name="tax_payment_unique_item"
            ),
            models.CheckConstraint(
                condition=Q(assessed__gte=0, paid__gte=0, unpaid__gte=0), name="tax_payment_non_negative"
            ),
            models.CheckConstraint(
                condition=Q(unpaid=models.F("assessed") - models.F("paid")), name="tax_payment_balance"
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(year)s年度 %(tax_item)s") % {"year": self.fiscal_year, "tax_item": self.tax_item}


class CardLink(models.Model):
    """Maps a user-authentication certificate (issuer + serial) to a resident (SPEC §4, §5).

    The certificate is either the My Number card's or the smartphone's (スマホ用電子証明書): a separate
    certificate from its own CA, revoked on its own, so a resident may hold a link of each kind.
    """

    class Credential(models.TextChoices):
        CARD = "card", _("マイナンバーカード")
        SMARTPHONE = "smartphone", _("スマートフォン")

    issuer = models.CharField(_("発行者"), max_length=300)
    serial = models.CharField(_("シリアル番号"), max_length=64)
    resident = models.ForeignKey(
        Resident, on_delete=models.CASCADE, related_name="card_links", verbose_name=_("住民")
    )
    active_from = models.DateField(_("利用開始日"))
    credential = models.CharField(
        _("電子証明書の種類"), max_length=10, choices=Credential.choices, default=Credential.CARD
    )
    synced_at = models.DateTimeField(_("連携日時"))

    class Meta:
        verbose_name = _("カード紐付け")
        verbose_name_plural = pgettext_lazy("plural", "カード紐付け")
        constraints = [
            models.UniqueConstraint(fields=["issuer", "serial"], name="card_link_unique_certificate"),
            models.CheckConstraint(
                condition=Q(credential__in=["card", "smartphone"]), name="card_link_credential_valid"
            ),
        ]

    def __str__(self) -> str:
        return gettext("カード %(serial)s") % {"serial": self.serial}

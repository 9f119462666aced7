"""Individual resident tax (個人市県民税) of Saga City, computed the way the law says.

Rules applied (fiscal year N = income of calendar year N−1, assessed as of 1 January of N):

- 給与所得: 所得税法 別表第五 as amended for 令和2年分以降 (給与所得控除 minimum 55万円; between
  1,628,000 and 6,599,999 円 the revenue is first rounded down to a multiple of 4,000 円, which is what
  the table encodes), and for 令和7年分以降 (令和8年度) the raised minimum of 65万円 up to 190万円.
- 公的年金等所得: 公的年金等控除 of 令和2年分以降, for 公的年金等以外の合計所得 ≤ 1,000万円
  (65歳以上 110万円 minimum, 65歳未満 60万円), age as of 31 December of the income year.
- 所得金額調整控除 for those with both 給与所得 and 公的年金等所得 (10万円 rule, 令和2年分以降). The
  other 所得金額調整控除 (給与収入 850万円超 with a dependant under 23) is not simulated.
- 住民税 deductions (地方税法 314条の2, 令和3年度以降): 基礎控除 43万円 (合計所得 2,400万円以下, tapering
  to 0 above 2,500万円), 配偶者控除 33万円 / 老人 38万円 (taxpayer ≤ 900万円, tapering to 1,000万円),
  扶養控除 一般 33万円 / 特定 45万円 / 老人 38万円 / 同居老親等 45万円, 社会保険料控除 (amount paid),
  生命保険料控除 (新契約, 住民税の計算式, 上限 7万円). Dependants and spouses qualify with 合計所得
  48万円以下 (58万円以下 from 令和7年分). 配偶者特別控除 and 特定親族特別控除 are not simulated: the
  population gives spouses either no income or a full salary.
- 課税標準額 (課税総所得金額) rounded down to 1,000 円; 所得割 市民税 6%, 県民税 4%, minus 調整控除
  (地方税法 314条の6: 人的控除差 × 5% up to 200万円, otherwise (差 − (課税 − 200万)) × 5% with a 2,500 円
  floor; split 3% city / 2% prefecture), each rounded down to 100 円. This is the exact rule, not an
  approximation; 税額控除 (配当控除, 住宅ローン控除 ...) are not simulated.
- 非課税: 未成年者 (under 18 on 1 January from 令和5年度, under 20 before) with 合計所得 135万円以下;
  所得割 非課税 when 合計所得 ≤ 35万円 × (本人+同一生計配偶者+扶養親族) + 10万円 (+32万円 with
  dependants); 均等割 非課税 by Saga City's 級地 (2級地): 31.5万円 × 人数 + 10万円 (+18.9万円 with
  dependants), i.e. 41.5万円 for a single person.
- 均等割: 市民税 3,000 円; 県民税 1,500 円 = 1,000 円 plus 佐賀県森林環境税 500 円 (the prefecture's own
  surcharge on 県民税均等割). Until 令和5年度 the 復興特別税 added 500 円 to each (3,500 / 2,000 円).
  From 令和6年度 the national 森林環境税 1,000 円 is collected with 均等割; it is not part of the 市民税・
  県民税 fields (so ``total_tax`` is the sum of the four levies) but is included in what the person is
  billed under 個人市県民税 (the payment record), as the 納税通知書 does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INCOME_SALARY = "給与所得"
INCOME_PENSION = "雑所得(公的年金等)"
INCOME_BUSINESS = "営業等所得"
INCOME_AGRICULTURE = "農業所得"

DEDUCTION_SOCIAL_INSURANCE = "社会保険料控除"
DEDUCTION_LIFE_INSURANCE = "生命保険料控除"
DEDUCTION_SPOUSE = "配偶者控除"
DEDUCTION_DEPENDANTS = "扶養控除"
DEDUCTION_BASIC = "基礎控除"


def _floor_to(value: int, unit: int) -> int:
    return (value // unit) * unit


def salary_income(*, revenue: int, income_year: int) -> int:
    """給与所得 from 給与収入 (所得税法 別表第五, 令和2年分以降 / 令和7年分以降)."""
    if revenue <= 0:
        return 0
    minimum, limit = (650_000, 1_900_000) if income_year >= 2025 else (550_000, 1_625_000)
    # 別表第五 starts its 4,000-円 steps just above the minimum's range (1,628,000 / 1,900,000 円).
    if revenue < limit + 3_000:
        return max(0, min(revenue, limit) - minimum)
    if revenue < 6_600_000:
        rounded = _floor_to(revenue, 4_000)
        if rounded < 1_800_000:
            return rounded * 6 // 10 + 100_000
        if rounded < 3_600_000:
            return rounded * 7 // 10 - 80_000
        return rounded * 8 // 10 - 440_000
    if revenue < 8_500_000:
        return revenue * 9 // 10 - 1_100_000
    return revenue - 1_950_000


def pension_income(*, revenue: int, age_at_year_end: int) -> int:
    """公的年金等に係る雑所得 (令和2年分以降, 公的年金等以外の合計所得 1,000万円以下)."""
    if revenue <= 0:
        return 0
    if revenue < (3_300_000 if age_at_year_end >= 65 else 1_300_000):
        deduction = 1_100_000 if age_at_year_end >= 65 else 600_000
    elif revenue < 4_100_000:
        deduction = revenue * 25 // 100 + 275_000
    elif revenue < 7_700_000:
        deduction = revenue * 15 // 100 + 685_000
    elif revenue < 10_000_000:
        deduction = revenue * 5 // 100 + 1_455_000
    else:
        deduction = 1_955_000
    return max(0, revenue - deduction)


def life_insurance_deduction(*, premiums: tuple[int, ...]) -> int:
    """生命保険料控除, 住民税, 新契約: per category, total capped at 70,000 円."""
    total = 0
    for paid in premiums:
        if paid <= 12_000:
            total += paid
        elif paid <= 32_000:
            total += paid // 2 + 6_000
        elif paid <= 56_000:
            total += paid // 4 + 14_000
        else:
            total += 28_000
    return min(total, 70_000)


def dependant_income_limit(*, income_year: int) -> int:
    """合計所得 at or below which a spouse or relative is a dependant (48万円, 58万円 from 令和7年分)."""
    return 580_000 if income_year >= 2025 else 480_000


@dataclass(frozen=True)
class IncomeSources:
    salary_revenue: int = 0
    pension_revenue: int = 0
    business_income: int = 0
    agriculture_income: int = 0
    social_insurance: int = 0
    life_insurance_premiums: tuple[int, ...] = ()


@dataclass(frozen=True)
class Dependants:
    spouse: str = ""  # "", "general" or "elderly" (70+)
    general: int = 0  # 一般 (16–18, 23–69)
    specific: int = 0  # 特定 (19–22)
    elderly: int = 0  # 老人 (70+), not a lineal ascendant living together
    elderly_parents: int = 0  # 同居老親等
    young: int = 0  # 年少 (under 16): no deduction, but counted for 非課税限度額

    @property
    def count(self) -> int:
        return (
            (1 if self.spouse else 0)
            + self.general
            + self.specific
            + self.elderly
            + self.elderly_parents
            + self.young
        )

    @property
    def has_dependants(self) -> bool:
        return self.count > 0


@dataclass(frozen=True)
class Assessment:
    fiscal_year: int
    declared: bool
    income: dict[str, int] = field(default_factory=dict)
    total_income: int = 0
    deductions: dict[str, int] = field(default_factory=dict)
    total_deductions: int = 0
    taxable_income: int = 0
    municipal_income_levy: int = 0
    municipal_per_capita: int = 0
    prefectural_income_levy: int = 0
    prefectural_per_capita: int = 0
    forest_environment_tax: int = 0

    @property
    def total_tax(self) -> int:
        return (
            self.municipal_income_levy
            + self.municipal_per_capita
            + self.prefectural_income_levy
            + self.prefectural_per_capita
        )

    @property
    def billed(self) -> int:
        """What the 個人市県民税 bill asks for: the four levies plus the national 森林環境税."""
        return self.total_tax + self.forest_environment_tax


def per_capita_rates(*, fiscal_year: int) -> tuple[int, int, int]:
    """(市民税均等割, 県民税均等割, 森林環境税) for Saga City residents in this fiscal year."""
    if fiscal_year >= 2024:
        return 3_000, 1_500, 1_000
    return 3_500, 2_000, 0


def _spouse_deduction(*, kind: str, taxpayer_income: int) -> tuple[int, int]:
    """(配偶者控除, its 人的控除差 for 調整控除) by the taxpayer's 合計所得."""
    if not kind:
        return 0, 0
    elderly = kind == "elderly"
    if taxpayer_income <= 9_000_000:
        return (380_000, 100_000) if elderly else (330_000, 50_000)
    if taxpayer_income <= 9_500_000:
        return (260_000, 60_000) if elderly else (220_000, 40_000)
    if taxpayer_income <= 10_000_000:
        return (130_000, 30_000) if elderly else (110_000, 20_000)
    return 0, 0


def _basic_deduction(total_income: int) -> int:
    if total_income <= 24_000_000:
        return 430_000
    if total_income <= 24_500_000:
        return 290_000
    if total_income <= 25_000_000:
        return 150_000
    return 0


def adjustment_credit(*, taxable_income: int, personal_difference: int, total_income: int) -> tuple[int, int]:
    """調整控除 (地方税法 314条の6, 37条): (市民税分, 県民税分)."""
    if total_income > 25_000_000 or taxable_income <= 0:
        return 0, 0
    if taxable_income <= 2_000_000:
        base = min(personal_difference, taxable_income)
        return base * 3 // 100, base * 2 // 100
    base = personal_difference - (taxable_income - 2_000_000)
    if base * 5 // 100 < 2_500:
        return 1_500, 1_000
    return base * 3 // 100, base * 2 // 100


def assessment_compute(
    *,
    fiscal_year: int,
    sources: IncomeSources,
    age_at_year_end: int,
    age_on_jan1: int,
    dependants: Dependants,
    declared: bool = True,
) -> Assessment:
    """The 個人市県民税 of one person for ``fiscal_year`` (income of ``fiscal_year - 1``)."""
    if not declared:
        return Assessment(fiscal_year=fiscal_year, declared=False)
    income_year = fiscal_year - 1
    salary = salary_income(revenue=sources.salary_revenue, income_year=income_year)
    pension = pension_income(revenue=sources.pension_revenue, age_at_year_end=age_at_year_end)
    if salary > 0 and pension > 0:
        # 所得金額調整控除 (租税特別措置法41条の3の3 第2項): both kinds of income, over 10万円.
        salary -= max(0, min(salary, 100_000) + min(pension, 100_000) - 100_000)
    income = {
        INCOME_SALARY: salary,
        INCOME_PENSION: pension,
        INCOME_BUSINESS: sources.business_income,
        INCOME_AGRICULTURE: sources.agriculture_income,
    }
    income = {kind: amount for kind, amount in income.items() if amount > 0}
    total_income = sum(income.values())

    spouse, spouse_difference = _spouse_deduction(kind=dependants.spouse, taxpayer_income=total_income)
    relatives = (
        dependants.general * 330_000
        + dependants.specific * 450_000
        + dependants.elderly * 380_000
        + dependants.elderly_parents * 450_000
    )
    relatives_difference = (
        dependants.general * 50_000
        + dependants.specific * 180_000
        + dependants.elderly * 100_000
        + dependants.elderly_parents * 130_000
    )
    basic = _basic_deduction(total_income)
    deductions = {
        DEDUCTION_SOCIAL_INSURANCE: sources.social_insurance,
        DEDUCTION_LIFE_INSURANCE: life_insurance_deduction(premiums=sources.life_insurance_premiums),
        DEDUCTION_SPOUSE: spouse,
        DEDUCTION_DEPENDANTS: relatives,
        DEDUCTION_BASIC: basic,
    }
    deductions = {kind: amount for kind, amount in deductions.items() if amount > 0}
    total_deductions = sum(deductions.values())
    taxable = _floor_to(max(0, total_income - total_deductions), 1_000)

    people = 1 + dependants.count
    minor_age = 18 if fiscal_year >= 2023 else 20
    minor_exempt = age_on_jan1 < minor_age and total_income <= 1_350_000
    income_levy_exempt = minor_exempt or total_income <= 350_000 * people + 100_000 + (
        320_000 if dependants.has_dependants else 0
    )
    per_capita_exempt = minor_exempt or total_income <= 315_000 * people + 100_000 + (
        189_000 if dependants.has_dependants else 0
    )

    municipal = prefectural = 0
    if not income_levy_exempt and taxable > 0:
        personal_difference = 50_000 + spouse_difference + relatives_difference if basic else 0
        adj_city, adj_pref = adjustment_credit(
            taxable_income=taxable, personal_difference=personal_difference, total_income=total_income
        )
        municipal = _floor_to(max(0, taxable * 6 // 100 - adj_city), 100)
        prefectural = _floor_to(max(0, taxable * 4 // 100 - adj_pref), 100)
    city_pc, pref_pc, forest = (0, 0, 0) if per_capita_exempt else per_capita_rates(fiscal_year=fiscal_year)
    return Assessment(
        fiscal_year=fiscal_year,
        declared=True,
        income=income,
        total_income=total_income,
        deductions=deductions,
        total_deductions=total_deductions,
        taxable_income=taxable,
        municipal_income_levy=municipal,
        municipal_per_capita=city_pc,
        prefectural_income_levy=prefectural,
        prefectural_per_capita=pref_pc,
        forest_environment_tax=forest,
    )

"""A synthetic Saga City population, deterministic for a seed (SPEC §1, §4, §5).

``population_generate`` builds households, residents, seal registrations, three fiscal years of tax
assessments and payments, and the cards (certificates to issue, card links) of a world as the core
systems would hold it on ``today``. Everything comes from one ``random.Random(seed)``: the same seed
and day give the same world and the same feed bytes.

The SPEC §4 scenarios are guaranteed whatever the size: one household is planted per scenario (an
"ok" household with exactly one deviation), then the rest of the population is drawn at random. Every
card is then labelled from the data by ``card_scenario``, never from how it was made, so a random card
that happens to fit a scenario carries its label and a planted card whose data did not come out as
intended fails loudly (``PopulationError``).
"""

from __future__ import annotations

import base64
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from kiosk_api.jpki_names import JPKI_TEST_SMARTPHONE_CA_NAME
from residents.my_number import my_number_check_digit
from simulators.city import names as name_tables
from simulators.city import places, tax
from simulators.city.glyphs import characters_missing
from simulators.city.names import GAIJI_FAMILY_NAME, Name
from simulators.city.seals import seal_image_png
from simulators.jpki import certificate_expiry_date, serial_hex

ACTIVE = "active"
MOVING_OUT = "moving_out"
MOVED_OUT = "moved_out"
DECEASED = "deceased"
ERASED = "erased"
REMOVED = frozenset({MOVED_OUT, DECEASED, ERASED})

TAX_ITEM_RESIDENT = "個人市県民税"
TAX_ITEM_PROPERTY = "固定資産税"
TAX_ITEM_KEI_CAR = "軽自動車税"

SCENARIOS: tuple[str, ...] = (
    "ok",
    "ok_single",
    "no_seal",
    "seal_abolished",
    "moving_out",
    "moved_out",
    "deceased",
    "support_measure",
    "clerk_stop",
    "pending_change",
    "household_pending_change",
    "no_tax_record",
    "under_15",
    "adult_ward",
    "gaiji",
    "linked_today",
    "expired_cert",
    "revoked_cert",
    "unlinked_cert",
    "untrusted_cert",
    "smartphone_ok",
    "smartphone_revoked",
)
# The smartphone's certificate (スマホ用電子証明書) of a holder whose card is ``ok``: one that works,
# and one revoked at the smartphone CA while the same holder's card still works.
SMARTPHONE_SCENARIOS = ("smartphone_ok", "smartphone_revoked")
OTHER = "other"
# The issuer of the demo's smartphone certificates, as card links carry it (SPEC §5).
SMARTPHONE_ISSUER = JPKI_TEST_SMARTPHONE_CA_NAME.rfc4514_string()

# 旧町村 with farms: a share of their heads of household farm (農業所得).
_RURAL_PREFIXES = (
    "大和町",
    "富士町",
    "三瀬村",
    "川副町",
    "東与賀町",
    "久保田町",
    "諸富町",
    "金立町",
    "久保泉町",
)
# JPKI cards exist since 2016; this is the earliest issue date the simulator uses.
_CARD_EPOCH = date(2016, 1, 15)
# Smartphone certificates exist since May 2023 (Android first).
_SMARTPHONE_EPOCH = date(2023, 5, 11)
# The share of card holders who also carry the certificate in their phone.
_SMARTPHONE_SHARE = 0.15


class PopulationError(Exception):
    """The generator produced a world that breaks its own guarantees (a bug, never bad input)."""


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def age_on(birth_date: date, day: date) -> int:
    """Age in completed years on ``day`` (the birthday counts on the day itself)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def full_name(family: str, given: str) -> str:
    return f"{family}　{given}"


@dataclass
class Person:
    resident_code: str
    household_code: str
    family: Name
    given: Name
    birth_date: date
    sex: str
    relationship: str
    my_number: str
    address: str = ""
    became_resident_on: date = date.min
    address_since: date = date.min
    previous_address: str = ""
    honseki: str = ""
    hittosha: str = ""
    status: str = ACTIVE
    status_changed_on: date | None = None
    adult_ward: bool = False
    support_measure: bool = False
    pending_change: bool = False
    # The simulation's own knowledge, not part of the feed.
    spouse_code: str = ""
    parent_codes: tuple[str, ...] = ()
    work: str = "none"  # salary, part_time, business, farm, pension, none
    salary_base: int = 0
    pension_base: int = 0
    business_base: int = 0
    premiums: tuple[int, ...] = ()
    previous_city_address: str = ""
    files_return: bool = True  # a person without income who still files (申告) or not (未申告)

    @property
    def name(self) -> str:
        return full_name(self.family.text, self.given.text)

    @property
    def is_current(self) -> bool:
        return self.status not in REMOVED

    def record(self) -> dict[str, Any]:
        return {
            "resident_code": self.resident_code,
            "household_code": self.household_code,
            "family_name": self.family.text,
            "given_name": self.given.text,
            "family_name_kana": self.family.kana,
            "given_name_kana": self.given.kana,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "relationship": self.relationship,
            "address": self.address,
            "became_resident_on": self.became_resident_on.isoformat(),
            "address_since": self.address_since.isoformat(),
            "previous_address": self.previous_address,
            "honseki": self.honseki,
            "hittosha": self.hittosha,
            "my_number": self.my_number,
            "status": self.status,
            "status_changed_on": self.status_changed_on.isoformat() if self.status_changed_on else None,
            "adult_ward": self.adult_ward,
            "support_measure": self.support_measure,
            "pending_change": self.pending_change,
        }


@dataclass
class Household:
    household_code: str
    place: places.Place
    members: list[Person] = field(default_factory=list)
    owns_home: bool = False
    property_tax: int = 0
    kei_cars: list[tuple[str, int]] = field(default_factory=list)  # (owner resident code, yearly tax)
    previous_city_address: str = ""
    planted: str = ""

    @property
    def address(self) -> str:
        return self.place.address

    @property
    def head(self) -> Person:
        heads = [m for m in self.members if m.relationship == "世帯主"]
        if len(heads) != 1:
            raise PopulationError("a household needs exactly one head")
        return heads[0]

    def record(self) -> dict[str, Any]:
        return {
            "household_code": self.household_code,
            "address": self.address,
            "head_resident_code": self.head.resident_code,
        }


@dataclass
class Seal:
    registration_number: str
    resident_code: str
    seal_text: str
    registered_on: date
    abolished_on: date | None = None

    @property
    def status(self) -> str:
        return "abolished" if self.abolished_on else "active"

    def record(self) -> dict[str, Any]:
        return {
            "registration_number": self.registration_number,
            "resident_code": self.resident_code,
            "seal_image_png": base64.b64encode(seal_image_png(self.seal_text)).decode("ascii"),
            "registered_on": self.registered_on.isoformat(),
            "status": self.status,
            "abolished_on": self.abolished_on.isoformat() if self.abolished_on else None,
        }


@dataclass
class TaxRecord:
    resident_code: str
    address_on_jan1: str
    assessment: tax.Assessment

    def record(self) -> dict[str, Any]:
        a = self.assessment
        return {
            "resident_code": self.resident_code,
            "fiscal_year": a.fiscal_year,
            "address_on_jan1": self.address_on_jan1,
            "declared": a.declared,
            "income": dict(a.income),
            "total_income": a.total_income,
            "deductions": dict(a.deductions),
            "total_deductions": a.total_deductions,
            "taxable_income": a.taxable_income,
            "municipal_income_levy": a.municipal_income_levy,
            "municipal_per_capita": a.municipal_per_capita,
            "prefectural_income_levy": a.prefectural_income_levy,
            "prefectural_per_capita": a.prefectural_per_capita,
            "total_tax": a.total_tax,
            "released_on": tax_release_date(a.fiscal_year).isoformat(),
        }


@dataclass
class Payment:
    resident_code: str
    fiscal_year: int
    tax_item: str
    assessed: int
    paid: int

    @property
    def unpaid(self) -> int:
        return self.assessed - self.paid

    def record(self) -> dict[str, Any]:
        return {
            "resident_code": self.resident_code,
            "fiscal_year": self.fiscal_year,
            "tax_item": self.tax_item,
            "assessed": self.assessed,
            "paid": self.paid,
            "unpaid": self.unpaid,
        }


@dataclass
class CardPlan:
    """A card to write: its certificate's facts, its card link, and the scenario it stands for."""

    card_id: str
    resident_code: str
    holder_name: str
    birth_date: date
    pin: str
    serial: int
    common_name: str
    issued_on: date
    active_from: date
    ca: str = "test"  # "test" (a trusted JPKI test CA, by credential) or "other" (untrusted)
    # "card" (the My Number card's certificate) or "smartphone" (スマホ用電子証明書, its own CA)
    credential: str = "card"
    linked: bool = True
    revoked: bool = False
    planted: str = ""
    scenario: str = OTHER

    @property
    def expires_on(self) -> date:
        return certificate_expiry_date(birth_date=self.birth_date, issued_on=self.issued_on)

    def link_record(self, *, issuer: str) -> dict[str, Any]:
        return {
            "issuer": issuer,
            "serial": serial_hex(self.serial),
            "resident_code": self.resident_code,
            "active_from": self.active_from.isoformat(),
            "credential": self.credential,
        }


def tax_release_date(fiscal_year: int) -> date:
    """SPEC §2: a fiscal year's tax certificates are offered from 1 June of that year."""
    return date(fiscal_year, 6, 1)


def fiscal_years_released(today: date, *, count: int = 3) -> list[int]:
    """The latest ``count`` fiscal years whose certificates are released on ``today``, oldest first."""
    latest = today.year if today >= tax_release_date(today.year) else today.year - 1
    return list(range(latest - count + 1, latest + 1))


@dataclass
class World:
    seed: int
    today: date
    fiscal_years: list[int]
    households: list[Household]
    seals: list[Seal]
    tax_records: list[TaxRecord]
    payments: list[Payment]
    cards: list[CardPlan]
    clerk_stops: list[str]

    def residents(self) -> list[Person]:
        return [m for h in self.households for m in h.members]

    def scenario_counts(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for card in self.cards:
            counts[card.scenario] += 1
        return dict(counts)

    def feed_records(
        self, *, issuer: str, smartphone_issuer: str = SMARTPHONE_ISSUER
    ) -> list[dict[str, Any]]:
        """The full batch (SPEC §5), parents first, each entity sorted by key. Only cards issued by a
        trusted CA and linked have a card link: the core system learns links from J-LIS. ``issuer``
        is the card CA's name, ``smartphone_issuer`` the smartphone CA's."""
        out: list[dict[str, Any]] = []

        def add(entity: str, key: str, data: dict[str, Any]) -> None:
            out.append({"op": "upsert", "entity": entity, "key": key, "data": data})

        for h in sorted(self.households, key=lambda h: h.household_code):
            add("household", h.household_code, h.record())
        for p in sorted(self.residents(), key=lambda p: p.resident_code):
            add("resident", p.resident_code, p.record())
        for s in sorted(self.seals, key=lambda s: s.registration_number):
            add("seal_registration", s.registration_number, s.record())
        for t in sorted(self.tax_records, key=lambda t: (t.resident_code, t.assessment.fiscal_year)):
            add("tax_assessment", f"{t.resident_code}:{t.assessment.fiscal_year}", t.record())
        for pay in sorted(self.payments, key=lambda p: (p.resident_code, p.fiscal_year, p.tax_item)):
            add("tax_payment", f"{pay.resident_code}:{pay.fiscal_year}:{pay.tax_item}", pay.record())
        for card in sorted(self.cards, key=lambda c: c.serial):
            if card.linked and card.ca == "test":
                signer = smartphone_issuer if card.credential == "smartphone" else issuer
                add("card_link", f"{signer}:{serial_hex(card.serial)}", card.link_record(issuer=signer))
        return out


# --- scenario labels ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Index:
    person: dict[str, Person]
    household: dict[str, Household]
    seals: dict[str, list[Seal]]
    taxes: dict[tuple[str, int], TaxRecord]
    payments: dict[tuple[str, int], list[Payment]]
    stops: frozenset[str]
    working_cards: frozenset[str]  # holders with a card (not a phone) that authenticates today


def _index(world: World) -> _Index:
    seals: dict[str, list[Seal]] = defaultdict(list)
    for s in world.seals:
        seals[s.resident_code].append(s)
    payments: dict[tuple[str, int], list[Payment]] = defaultdict(list)
    for pay in world.payments:
        payments[(pay.resident_code, pay.fiscal_year)].append(pay)
    return _Index(
        person={p.resident_code: p for p in world.residents()},
        household={h.household_code: h for h in world.households},
        seals=seals,
        taxes={(t.resident_code, t.assessment.fiscal_year): t for t in world.tax_records},
        payments=payments,
        stops=frozenset(world.clerk_stops),
        working_cards=frozenset(
            card.resident_code
            for card in world.cards
            if card.credential == "card"
            and card.ca == "test"
            and card.linked
            and not card.revoked
            and card.issued_on <= world.today <= card.expires_on
            and card.active_from < world.today
        ),
    )


def _deviations(card: CardPlan, index: _Index, world: World) -> list[str]:
    today = world.today
    person = index.person[card.resident_code]
    household = index.household[person.household_code]
    others = [m for m in household.members if m is not person and m.is_current]
    found: list[str] = []
    # The certificate and its link.
    if card.ca != "test":
        found.append("untrusted_cert")
    if card.revoked:
        found.append("revoked_cert")
    if card.expires_on < today:
        found.append("expired_cert")
    if not card.linked and card.ca == "test":
        # A card from another CA cannot be linked at all: J-LIS reports only its own certificates.
        found.append("unlinked_cert")
    elif card.active_from == today:
        found.append("linked_today")
    elif card.active_from > today or card.issued_on > today:
        found.append("card_not_yet_active")
    # The holder.
    status_label = {MOVING_OUT: "moving_out", MOVED_OUT: "moved_out", DECEASED: "deceased", ERASED: "erased"}
    if person.status in status_label:
        found.append(status_label[person.status])
    age = age_on(person.birth_date, today)
    if age < 15:
        found.append("under_15")
    elif age < 18:
        found.append("minor_15_17")
    for flag in ("adult_ward", "support_measure", "pending_change"):
        if getattr(person, flag):
            found.append(flag)
    if person.resident_code in index.stops:
        found.append("clerk_stop")
    if characters_missing(person.family.text + person.given.text):
        found.append("gaiji")
    elif any(characters_missing(m.family.text + m.given.text) for m in others):
        found.append("household_gaiji")
    # The household (as 住民票 prints it: current members only).
    if not others:
        found.append("ok_single")
    if any(m.pending_change for m in others):
        found.append("household_pending_change")
    if any(m.status == MOVING_OUT for m in others):
        found.append("household_moving_out")
    if any(m.support_measure for m in others):
        found.append("household_support_measure")
    # Seal: a registration ends by law on death or moving out, and is impossible under 15 or for
    # an adult ward; those holders are labelled by that one fact, not also by the seal.
    seal_follows = person.status in (MOVED_OUT, DECEASED, ERASED) or age < 15 or person.adult_ward
    registrations = index.seals.get(person.resident_code, [])
    if not seal_follows:
        if not registrations:
            found.append("no_seal")
        elif not any(s.status == "active" for s in registrations):
            found.append("seal_abolished")
    # Tax: every offered fiscal year needs a declared assessment and a payment record.
    if age >= 15:
        has_any = any(
            (person.resident_code, fy) in index.taxes or index.payments.get((person.resident_code, fy))
            for fy in world.fiscal_years
        )
        complete = all(
            (t := index.taxes.get((person.resident_code, fy))) is not None
            and t.assessment.declared
            and index.payments.get((person.resident_code, fy))
            for fy in world.fiscal_years
        )
        if not has_any:
            found.append("no_tax_record")
        elif not complete:
            found.append("tax_incomplete")
    return found


def card_scenario(card: CardPlan, world: World) -> str:
    """The SPEC §4 label of a card: ``ok``, the one deviation from ``ok``, or ``other``."""
    return _scenario(card, _index(world), world)


def _scenario(card: CardPlan, index: _Index, world: World) -> str:
    found = _deviations(card, index, world)
    if card.credential == "smartphone":
        # A phone is labelled only as the smartphone scenarios say; any other phone is "other".
        if not found:
            return "smartphone_ok"
        if found == ["revoked_cert"] and card.resident_code in index.working_cards:
            return "smartphone_revoked"
        return OTHER
    return _label(found)


def _label(found: list[str]) -> str:
    if not found:
        return "ok"
    if len(found) == 1 and found[0] in SCENARIOS and found[0] not in SMARTPHONE_SCENARIOS:
        return found[0]
    return OTHER


def cards_label(world: World) -> None:
    index = _index(world)
    for card in world.cards:
        card.scenario = _scenario(card, index, world)


# --- the generator -------------------------------------------------------------------------------


class _Generator:
    def __init__(self, *, seed: int, today: date) -> None:
        # A seeded generator on purpose: the same seed must give the same world (not secrets).
        self.rng = random.Random(seed)  # noqa: S311
        self.seed = seed
        self.today = today
        self.fiscal_years = fiscal_years_released(today)
        self.first_jan1 = date(self.fiscal_years[0], 1, 1)
        self.latest_jan1 = date(self.fiscal_years[-1], 1, 1)
        self.households: list[Household] = []
        self.cards: list[CardPlan] = []
        self.seals: list[Seal] = []
        self.clerk_stops: list[str] = []
        self._used_codes: set[str] = set()
        self._used_numbers: set[str] = set()
        self._used_serials: set[int] = set()
        self._used_card_ids: set[str] = set()
        self._family_weights = [n.weight for n in name_tables.FAMILY_NAMES]

    # -- small helpers ------------------------------------------------------------------------

    def _code(self, digits: int) -> str:
        while True:
            code = str(self.rng.randrange(10 ** (digits - 1), 10**digits))
            if code not in self._used_codes:
                self._used_codes.add(code)
                return code

    def _my_number(self) -> str:
        while True:
            first = "".join(str(self.rng.randrange(10)) for _ in range(11))
            if first[0] == "0":
                continue
            number = first + str(my_number_check_digit(first))
            if number not in self._used_numbers:
                self._used_numbers.add(number)
                return number

    def _day_between(self, first: date, last: date) -> date:
        if last <= first:
            return first
        return first + timedelta(days=self.rng.randrange((last - first).days + 1))

    def _birth_for_age(self, age: int) -> date:
        latest = _years_after(self.today, -age)
        earliest = _years_after(self.today, -(age + 1)) + timedelta(days=1)
        return self._day_between(earliest, latest)

    def _family(self, exclude: str = "") -> Name:
        while True:
            family = self.rng.choices(name_tables.FAMILY_NAMES, weights=self._family_weights)[0]
            if family.text != exclude:
                return family

    def _given(self, birth: date, sex: str, avoid: set[str]) -> Name:
        pool = name_tables.given_names_for(birth_year=birth.year, sex=sex)
        choices = [n for n in pool if n.text not in avoid] or list(pool)
        return self.rng.choices(choices, weights=[n.weight for n in choices])[0]

    def _person(
        self, household: Household, *, family: Name, sex: str, birth: date, relationship: str
    ) -> Person:
        avoid = {m.given.text for m in household.members}
        person = Person(
            resident_code=self._code(11),
            household_code=household.household_code,
            family=family,
            given=self._given(birth, sex, avoid),
            birth_date=birth,
            sex=sex,
            relationship=relationship,
            my_number=self._my_number(),
        )
        household.members.append(person)
        return person

    def _child_birth(self, mother_birth: date, *, min_age: int = 20, max_age: int = 41) -> date | None:
        birth = self._day_between(_years_after(mother_birth, min_age), _years_after(mother_birth, max_age))
        return birth if birth < self.today else None

    def _relative_name(self, family: Name, birth: date) -> str:
        # A 筆頭者 outside the household: a widow's late husband, an unmarried adult's father.
        given = self._given(birth, "male", set())
        return full_name(family.text, given.text)

    # -- households ---------------------------------------------------------------------------

    def _household(self, *, planted: str = "") -> Household:
        return Household(household_code=self._code(10), place=places.city_place(self.rng), planted=planted)

    def _honseki(self, household: Household, *, moved_in: bool) -> str:
        roll = self.rng.random()
        if roll < (0.25 if moved_in else 0.55) and not household.place.is_apartment:
            return household.place.honseki
        if roll < (0.4 if moved_in else 0.8):
            return places.city_place(self.rng, allow_apartment=False).honseki
        return places.outside_place(self.rng).honseki

    def household_random(self) -> Household:
        kind = self.rng.choices(
            (
                "single_young",
                "single_middle",
                "single_elderly",
                "couple_young",
                "couple_elderly",
                "nuclear",
                "single_parent",
                "three_gen_parents",
                "three_gen_elder",
                "with_mother_in_law",
                "siblings",
            ),
            weights=(13, 8, 12, 6, 14, 26, 6, 6, 5, 2, 2),
        )[0]
        household = self._household()
        self._build(household, kind)
        self._settle(household)
        self._economy(household)
        self._statuses_random(household)
        return household

    def _build(
        self,
        household: Household,
        kind: str,
        *,
        family: Name | None = None,
        head_age: int | None = None,
        children: int | None = None,
    ) -> None:
        """Members, names, relationships, 本籍 and 筆頭者 of one household of ``kind``."""
        rng = self.rng
        family = family or self._family()
        moved_in = rng.random() < {"single_young": 0.45, "couple_young": 0.35}.get(kind, 0.2)
        household_honseki = self._honseki(household, moved_in=moved_in)

        if kind in ("single_young", "single_middle", "single_elderly"):
            age = (
                head_age
                or {
                    "single_young": rng.randint(19, 39),
                    "single_middle": rng.randint(40, 64),
                    "single_elderly": rng.randint(65, 97),
                }[kind]
            )
            sex = (
                "female"
                if kind == "single_elderly" and rng.random() < 0.7
                else rng.choice(("male", "female"))
            )
            head = self._person(
                household, family=family, sex=sex, birth=self._birth_for_age(age), relationship="世帯主"
            )
            if kind == "single_elderly" and sex == "female":
                head.hittosha = self._relative_name(family, _years_after(head.birth_date, -rng.randint(0, 5)))
            elif kind == "single_young":
                # An unmarried adult stays in the parents' 戸籍: the father is 筆頭者.
                head.hittosha = self._relative_name(family, _years_after(head.birth_date, -30))
            else:
                head.hittosha = head.name
            head.honseki = household_honseki
            return

        if kind == "siblings":
            head = self._person(
                household,
                family=family,
                sex=rng.choice(("male", "female")),
                birth=self._birth_for_age(head_age or rng.randint(35, 70)),
                relationship="世帯主",
            )
            sib_birth = self._day_between(
                _years_after(head.birth_date, -8), min(_years_after(head.birth_date, 10), self.today)
            )
            sib_sex = rng.choice(("male", "female"))
            older = sib_birth < head.birth_date
            relationship = {("male", True): "兄", ("male", False): "弟", ("female", True): "姉"}.get(
                (sib_sex, older), "妹"
            )
            sibling = self._person(
                household, family=family, sex=sib_sex, birth=sib_birth, relationship=relationship
            )
            parents_name = self._relative_name(family, _years_after(min(head.birth_date, sib_birth), -30))
            for member in (head, sibling):
                member.honseki, member.hittosha = household_honseki, parents_name
            return

        if kind == "single_parent":
            sex = "female" if rng.random() < 0.85 else "male"
            head = self._person(
                household,
                family=family,
                sex=sex,
                birth=self._birth_for_age(head_age or rng.randint(28, 55)),
                relationship="世帯主",
            )
            head.honseki, head.hittosha = household_honseki, head.name
            self._children(household, head, mother_birth=head.birth_date, count=children or rng.randint(1, 2))
            return

        # Couples and families. Usually the husband heads the household; sometimes the wife does.
        if kind == "couple_elderly":
            age = head_age or rng.randint(62, 92)
        elif kind == "three_gen_elder":
            age = head_age or rng.randint(62, 85)
        elif kind == "couple_young":
            age = head_age or rng.randint(24, 38)
        else:
            age = head_age or rng.randint(29, 60)
        husband_birth = self._birth_for_age(age)
        wife_birth = self._day_between(_years_after(husband_birth, -2), _years_after(husband_birth, 6))
        if age_on(wife_birth, self.today) < 20:
            wife_birth = _years_after(self.today, -20) - timedelta(days=rng.randint(1, 300))
        wife_head = rng.random() < 0.06
        if wife_head:
            head = self._person(
                household, family=family, sex="female", birth=wife_birth, relationship="世帯主"
            )
            partner = self._person(
                household, family=family, sex="male", birth=husband_birth, relationship="夫"
            )
            husband, wife = partner, head
        else:
            head = self._person(
                household, family=family, sex="male", birth=husband_birth, relationship="世帯主"
            )
            partner = self._person(
                household, family=family, sex="female", birth=wife_birth, relationship="妻"
            )
            husband, wife = head, partner
        head.spouse_code, partner.spouse_code = partner.resident_code, head.resident_code
        for member in (head, partner):
            member.honseki, member.hittosha = household_honseki, husband.name

        if kind in ("nuclear", "three_gen_parents", "with_mother_in_law"):
            default = rng.choices((1, 2, 3), weights=(4, 5, 2))[0]
            self._children(household, head, mother_birth=wife.birth_date, count=children or default)
        if kind == "three_gen_parents":
            # The head's parents live with the family: their own 戸籍, the father its 筆頭者.
            father_birth = self._day_between(
                _years_after(head.birth_date, -36), _years_after(head.birth_date, -24)
            )
            mother_birth = self._day_between(
                _years_after(head.birth_date, -40), _years_after(head.birth_date, -21)
            )
            parents_honseki = (
                household_honseki if rng.random() < 0.7 else self._honseki(household, moved_in=False)
            )
            father_name = full_name(family.text, self._given(father_birth, "male", set()).text)
            codes: list[str] = []
            if age_on(father_birth, self.today) <= 96 and rng.random() < 0.6:
                father = self._person(
                    household,
                    family=family,
                    sex="male",
                    birth=father_birth,
                    relationship="夫の父" if wife_head else "父",
                )
                father_name = father.name
                codes.append(father.resident_code)
            if age_on(mother_birth, self.today) <= 99:
                mother = self._person(
                    household,
                    family=family,
                    sex="female",
                    birth=mother_birth,
                    relationship="夫の母" if wife_head else "母",
                )
                codes.append(mother.resident_code)
            elders = [m for m in household.members if m.resident_code in codes]
            for elder in elders:
                elder.honseki, elder.hittosha = parents_honseki, father_name
            if len(elders) == 2:
                elders[0].spouse_code, elders[1].spouse_code = (
                    elders[1].resident_code,
                    elders[0].resident_code,
                )
            husband.parent_codes = tuple(codes)
        if kind == "with_mother_in_law":
            in_law_family = self._family(exclude=family.text)
            mother_birth = self._day_between(
                _years_after(wife.birth_date, -36), _years_after(wife.birth_date, -22)
            )
            mother = self._person(
                household,
                family=in_law_family,
                sex="female",
                birth=mother_birth,
                relationship="妻の母" if not wife_head else "母",
            )
            mother.honseki = (
                places.outside_place(rng).honseki
                if rng.random() < 0.5
                else self._honseki(household, moved_in=False)
            )
            mother.hittosha = self._relative_name(in_law_family, _years_after(mother_birth, -3))
            wife.parent_codes = (mother.resident_code,)
        if kind == "three_gen_elder":
            # The elderly couple, their son, his wife and their children.
            son_birth = self._child_birth(wife.birth_date, min_age=22, max_age=34)
            if son_birth is None or age_on(son_birth, self.today) < 24:
                return
            son = self._person(household, family=family, sex="male", birth=son_birth, relationship="子")
            son.parent_codes = (husband.resident_code, wife.resident_code)
            in_law_birth = self._day_between(_years_after(son_birth, -3), _years_after(son_birth, 5))
            if age_on(in_law_birth, self.today) < 20:
                in_law_birth = _years_after(son_birth, -1)
            son_wife = self._person(
                household, family=family, sex="female", birth=in_law_birth, relationship="子の妻"
            )
            son.spouse_code, son_wife.spouse_code = son_wife.resident_code, son.resident_code
            son_honseki = (
                household_honseki if rng.random() < 0.6 else self._honseki(household, moved_in=False)
            )
            for member in (son, son_wife):
                member.honseki, member.hittosha = son_honseki, son.name
            for _ in range(rng.choices((0, 1, 2), weights=(2, 4, 3))[0]):
                birth = self._child_birth(son_wife.birth_date, min_age=22, max_age=40)
                if birth is None:
                    continue
                grandchild = self._person(
                    household,
                    family=family,
                    sex=rng.choice(("male", "female")),
                    birth=birth,
                    relationship="孫",
                )
                grandchild.parent_codes = (son.resident_code, son_wife.resident_code)
                grandchild.honseki, grandchild.hittosha = son_honseki, son.name

    def _children(self, household: Household, head: Person, *, mother_birth: date, count: int) -> None:
        parents = [m for m in household.members if m.relationship in ("世帯主", "妻", "夫")]
        births: list[date] = []
        for birth in sorted(
            b for b in (self._child_birth(mother_birth) for _ in range(count)) if b is not None
        ):
            # Siblings are born at least 18 months apart (no twins in this population).
            if births and birth < births[-1] + timedelta(days=548):
                birth = births[-1] + timedelta(days=548 + self.rng.randrange(400))
                if birth >= self.today or birth > _years_after(mother_birth, 44):
                    continue
            births.append(birth)
        for birth in births:
            child = self._person(
                household,
                family=head.family,
                sex=self.rng.choice(("male", "female")),
                birth=birth,
                relationship="子",
            )
            child.parent_codes = tuple(p.resident_code for p in parents)
            child.honseki, child.hittosha = head.honseki, head.hittosha

    def _settle(
        self, household: Household, *, settled_before: date | None = None, move_in_after: date | None = None
    ) -> None:
        """Addresses and dates: who was born here, who moved in from where and when, and since when
        the household lives at its address (address_since ≥ became_resident_on, SPEC §5)."""
        rng = self.rng
        head = household.head
        founders = [m for m in household.members if m.relationship in ("世帯主", "妻", "夫")]
        # The household came together when its founders were adults (head 20, spouse 18).
        formed = max(
            [_years_after(head.birth_date, 20)]
            + [_years_after(m.birth_date, 18) for m in founders if m is not head]
        )
        latest = (settled_before or self.today) - timedelta(days=20)
        if move_in_after is not None:
            move_date: date | None = self._day_between(move_in_after, latest)
        elif rng.random() < (
            0.45 if len(household.members) == 1 and age_on(head.birth_date, self.today) < 40 else 0.18
        ):
            move_date = self._day_between(min(formed, latest), latest)
        else:
            move_date = None
        moved_from = places.outside_place(rng).address if move_date else ""
        for member in household.members:
            if move_date and member.birth_date < move_date:
                member.became_resident_on = move_date
                member.previous_address = moved_from
            elif member.relationship in ("妻", "子の妻", "妻の母") and rng.random() < 0.35:
                # Married in from outside the city, or came to live with the family later; a mother
                # came before her children were born here.
                earliest = max(_years_after(member.birth_date, 20), head.birth_date)
                children = [m.birth_date for m in household.members if member.resident_code in m.parent_codes]
                until = min([latest, *(birth - timedelta(days=1) for birth in children)])
                if until <= earliest:
                    member.became_resident_on = member.birth_date
                    continue
                member.became_resident_on = self._day_between(earliest, until)
                member.previous_address = places.outside_place(rng).address
            else:
                member.became_resident_on = member.birth_date
        settled_from = max(formed, head.became_resident_on) if move_date is None else move_date
        if move_date is not None and rng.random() < 0.7:
            settled = move_date
        else:
            settled = self._day_between(min(settled_from, latest), latest)
        # Where the household lived in the city before (the 1 January address of a tax year).
        household.previous_city_address = places.city_place(rng).address
        for member in household.members:
            member.address = household.address
            member.address_since = max(settled, member.became_resident_on)
            if member.address_since > member.became_resident_on:
                member.previous_city_address = household.previous_city_address

    def _economy(self, household: Household) -> None:
        """Work and income of each member, from age, sex and role; the household's property."""
        rng = self.rng
        rural = household.place.town.startswith(_RURAL_PREFIXES)
        for member in household.members:
            age = age_on(member.birth_date, self.today)
            married_woman = member.sex == "female" and bool(member.spouse_code)
            if age < 16:
                member.work = "none"
            elif age < 23:
                member.work = "part_time" if rng.random() < 0.35 else "none"
            elif age < 65:
                roll = rng.random()
                if rural and member.relationship == "世帯主" and age >= 45 and roll < 0.25:
                    member.work = "farm"
                elif married_woman:
                    member.work = "salary" if roll < 0.38 else ("part_time" if roll < 0.75 else "none")
                else:
                    member.work = "salary" if roll < 0.84 else ("business" if roll < 0.94 else "none")
            else:
                member.work = "pension"
            if member.work == "salary":
                base = 2_300_000 + (age - 22) * (95_000 if member.sex == "male" else 55_000)
                base = min(base, 7_800_000)
                member.salary_base = int(base * rng.uniform(0.75, 1.3)) // 1_000 * 1_000
                if rng.random() < 0.04:
                    member.salary_base = rng.randint(9_000, 13_000) * 1_000
                member.premiums = tuple(rng.randint(18, 110) * 1_000 for _ in range(rng.choice((0, 1, 1, 2))))
            elif member.work == "part_time":
                member.salary_base = rng.randint(30, 125) * 10_000
            elif member.work == "business":
                member.business_base = rng.randint(150, 600) * 10_000
            elif member.work == "farm":
                member.business_base = rng.randint(40, 300) * 10_000
            elif member.work == "pension":
                member.pension_base = (
                    rng.randint(150, 270) * 10_000 if member.sex == "male" else rng.randint(70, 160) * 10_000
                )
                if age < 75 and rng.random() < 0.2:
                    member.salary_base = rng.randint(60, 200) * 10_000
            member.files_return = rng.random() < 0.5
        head = household.head
        head_age = age_on(head.birth_date, self.today)
        own_chance = (
            0.15 if head_age < 35 and len(household.members) == 1 else (0.8 if head_age >= 60 else 0.6)
        )
        if household.place.is_apartment:
            own_chance /= 4
        if rng.random() < own_chance:
            household.owns_home = True
            household.property_tax = rng.randint(350, 1900) * 100
        car_chance = 0.6 if rural else 0.3
        drivers = [m for m in household.members if 18 <= age_on(m.birth_date, self.today) < 85]
        for driver in drivers[:2]:
            if rng.random() < car_chance:
                amount = rng.choices((10_800, 7_200, 12_900, 2_000, 3_600), weights=(10, 5, 2, 2, 1))[0]
                household.kei_cars.append((driver.resident_code, amount))

    def _statuses_random(self, household: Household) -> None:
        """Removals, pending moves and the rare protective flags, at realistic rates."""
        rng = self.rng
        roll = rng.random()
        settled = max(m.address_since for m in household.members)
        if roll < 0.02 and settled < self.today - timedelta(days=3):
            # The whole household moved away; its records stay as 除票.
            moved = self._day_between(
                max(settled + timedelta(days=1), self.today - timedelta(days=700)),
                self.today - timedelta(days=2),
            )
            for member in household.members:
                member.status, member.status_changed_on = MOVED_OUT, moved
        elif roll < 0.03:
            planned = self.today + timedelta(days=rng.randint(1, 14))
            for member in household.members:
                member.status, member.status_changed_on = MOVING_OUT, planned
        elif roll < 0.05 and len(household.members) == 1:
            # 職権消除: a single person found not to live at the address any more.
            head = household.head
            head.status = ERASED
            head.status_changed_on = self._day_between(head.address_since, self.today - timedelta(days=1))
        for member in household.members:
            if member.status != ACTIVE:
                continue
            age = age_on(member.birth_date, self.today)
            if member.relationship != "世帯主" and age >= 70 and rng.random() < 0.06:
                member.status = DECEASED
                member.status_changed_on = self._day_between(
                    max(member.address_since, self.today - timedelta(days=900)),
                    self.today - timedelta(days=1),
                )
                continue
            if age >= 80 and rng.random() < 0.03:
                member.adult_ward = True
            if age >= 18 and rng.random() < 0.003:
                member.support_measure = True
            if rng.random() < 0.004:
                member.pending_change = True

    # -- seals, taxes, cards ------------------------------------------------------------------

    def _seal(self, person: Person, *, registered_on: date, abolished_on: date | None = None) -> Seal:
        text = person.family.text
        if characters_missing(text):
            text = person.given.text  # many register a given-name seal; the image is only a picture
        seal = Seal(
            registration_number="",
            resident_code=person.resident_code,
            seal_text=text,
            registered_on=registered_on,
            abolished_on=abolished_on,
        )
        self.seals.append(seal)
        return seal

    def _seal_start(self, person: Person) -> date:
        return max(person.became_resident_on, _years_after(person.birth_date, 15), date(1985, 4, 1))

    def _seals_random(self, household: Household) -> None:
        rng = self.rng
        for person in household.members:
            if age_on(person.birth_date, self.today) < 18 or person.adult_ward or rng.random() >= 0.4:
                continue
            end = (
                person.status_changed_on
                if person.status in REMOVED and person.status_changed_on
                else self.today
            )
            start = self._seal_start(person)
            if start >= end - timedelta(days=2):
                continue
            registered = self._day_between(start, end - timedelta(days=2))
            if person.status in REMOVED:
                # Moving out or death ends the registration (印鑑登録の抹消).
                self._seal(person, registered_on=registered, abolished_on=end)
            elif rng.random() < 0.12 and registered < self.today - timedelta(days=40):
                abolished = self._day_between(registered + timedelta(days=30), self.today - timedelta(days=1))
                self._seal(person, registered_on=registered, abolished_on=abolished)
                if rng.random() < 0.5 and abolished < self.today - timedelta(days=2):
                    self._seal(
                        person, registered_on=self._day_between(abolished, self.today - timedelta(days=1))
                    )
            else:
                self._seal(person, registered_on=registered)

    def _sources(self, person: Person, fiscal_year: int) -> tax.IncomeSources:
        """The person's income in the calendar year before ``fiscal_year`` (wages grow ~2%/year)."""
        years_back = self.fiscal_years[-1] - fiscal_year
        factor = (100 - 2 * years_back) / 100
        income_year_end = date(fiscal_year - 1, 12, 31)
        age = age_on(person.birth_date, income_year_end)
        salary = int(person.salary_base * factor) // 1_000 * 1_000 if age >= 15 else 0
        business = int(person.business_base * factor) // 1_000 * 1_000
        pension = person.pension_base if age >= 60 or years_back == 0 else 0
        if person.work in ("salary",) and salary >= 1_060_000:
            social = salary * 148 // 1_000  # 健康保険・厚生年金・雇用保険 (about 14.8% of wages)
        elif person.work in ("business", "farm"):
            social = 203_760 + business * 9 // 100  # 国民年金 16,980円×12 and 国民健康保険
        elif person.work == "pension":
            social = pension * 8 // 100 + 12_000  # 介護保険・後期高齢者医療 (or 国保)
        else:
            social = 0
        return tax.IncomeSources(
            salary_revenue=salary,
            pension_revenue=pension,
            business_income=business if person.work == "business" else 0,
            agriculture_income=business if person.work == "farm" else 0,
            social_insurance=social,
            life_insurance_premiums=person.premiums,
        )

    def _resident_on(self, person: Person, day: date) -> bool:
        if person.became_resident_on > day or person.birth_date >= day:
            return False
        return not (person.status in REMOVED and person.status_changed_on and person.status_changed_on <= day)

    def _taxes(self, household: Household) -> tuple[list[TaxRecord], list[Payment]]:
        records: list[TaxRecord] = []
        payments: list[Payment] = []
        by_code = {m.resident_code: m for m in household.members}
        head = household.head
        for fy in self.fiscal_years:
            jan1 = date(fy, 1, 1)
            year_end = date(fy - 1, 12, 31)
            limit = tax.dependant_income_limit(income_year=fy - 1)
            present = [m for m in household.members if self._resident_on(m, jan1)]
            sources = {m.resident_code: self._sources(m, fy) for m in present}
            gross = {
                m.resident_code: tax.assessment_compute(
                    fiscal_year=fy,
                    sources=sources[m.resident_code],
                    age_at_year_end=age_on(m.birth_date, year_end),
                    age_on_jan1=age_on(m.birth_date, jan1),
                    dependants=tax.Dependants(),
                ).total_income
                for m in present
            }
            earners = [m for m in present if gross[m.resident_code] > limit]
            top = max(earners, key=lambda m: gross[m.resident_code], default=None)
            claims: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
            claimed: set[str] = set()
            for member in present:
                if gross[member.resident_code] > limit:
                    continue
                provider = self._provider(member, by_code, gross, limit, head) or top
                if provider is None or provider is member:
                    continue
                age = age_on(member.birth_date, year_end)
                bucket = claims[provider.resident_code]
                if provider.spouse_code == member.resident_code:
                    bucket["spouse"] = "elderly" if age >= 70 else "general"
                elif age < 16:
                    bucket["young"] += 1
                elif 19 <= age <= 22:
                    bucket["specific"] += 1
                elif age >= 70 and self._is_ascendant(member, provider, by_code):
                    bucket["elderly_parents"] += 1
                elif age >= 70:
                    bucket["elderly"] += 1
                else:
                    bucket["general"] += 1
                claimed.add(member.resident_code)
            for member in present:
                code = member.resident_code
                if age_on(member.birth_date, year_end) < 16:
                    continue
                bucket = claims.get(code, {})
                declared = gross[code] > 0 or code in claimed or member.files_return
                assessment = tax.assessment_compute(
                    fiscal_year=fy,
                    sources=sources[code],
                    age_at_year_end=age_on(member.birth_date, year_end),
                    age_on_jan1=age_on(member.birth_date, jan1),
                    dependants=tax.Dependants(
                        spouse=str(bucket.get("spouse", "")),
                        general=int(bucket.get("general", 0)),
                        specific=int(bucket.get("specific", 0)),
                        elderly=int(bucket.get("elderly", 0)),
                        elderly_parents=int(bucket.get("elderly_parents", 0)),
                        young=int(bucket.get("young", 0)),
                    ),
                    declared=declared,
                )
                address = household.address
                if member.address_since > jan1:
                    address = (
                        member.previous_city_address or household.previous_city_address or household.address
                    )
                records.append(TaxRecord(resident_code=code, address_on_jan1=address, assessment=assessment))
                if assessment.billed > 0:
                    payments.append(self._payment(code, fy, TAX_ITEM_RESIDENT, assessment.billed))
            if household.owns_home and self._resident_on(head, jan1):
                amount = household.property_tax * (100 - (self.fiscal_years[-1] - fy)) // 100 // 100 * 100
                payments.append(self._payment(head.resident_code, fy, TAX_ITEM_PROPERTY, amount))
            cars: dict[str, int] = defaultdict(int)
            for owner, amount in household.kei_cars:
                if self._resident_on(by_code[owner], jan1) and age_on(by_code[owner].birth_date, jan1) >= 18:
                    cars[owner] += amount
            for owner, amount in sorted(cars.items()):
                payments.append(self._payment(owner, fy, TAX_ITEM_KEI_CAR, amount))
        return records, payments

    def _payment(self, code: str, fiscal_year: int, item: str, assessed: int) -> Payment:
        # A few percent are in arrears: some instalments (期別) unpaid.
        paid = assessed
        if self.rng.random() < 0.04:
            paid = assessed * self.rng.choice((0, 1, 2, 3)) // 4 // 100 * 100
        return Payment(
            resident_code=code, fiscal_year=fiscal_year, tax_item=item, assessed=assessed, paid=paid
        )

    def _provider(
        self, member: Person, by_code: dict[str, Person], gross: dict[str, int], limit: int, head: Person
    ) -> Person | None:
        """Who claims ``member`` as a dependant: the spouse, else a parent, else the head — if they
        earn above the dependant limit and are present."""
        candidates: list[str] = []
        if member.spouse_code:
            candidates.append(member.spouse_code)
        candidates.extend(member.parent_codes)
        candidates.append(head.resident_code)
        for code in candidates:
            if code in gross and gross[code] > limit and code != member.resident_code:
                return by_code[code]
        return None

    @staticmethod
    def _is_ascendant(member: Person, provider: Person, by_code: dict[str, Person]) -> bool:
        # 同居老親等: a lineal ascendant of the taxpayer or of the taxpayer's spouse.
        if member.resident_code in provider.parent_codes:
            return True
        spouse = by_code.get(provider.spouse_code)
        return spouse is not None and member.resident_code in spouse.parent_codes

    def _card(
        self,
        person: Person,
        *,
        issued_on: date | None = None,
        active_from: date | None = None,
        planted: str = "",
    ) -> CardPlan:
        rng = self.rng
        if issued_on is None:
            earliest = max(
                _CARD_EPOCH, self.today - timedelta(days=4 * 365), _years_after(person.birth_date, 15)
            )
            issued_on = self._day_between(earliest, self.today - timedelta(days=2))
        if active_from is None:
            active_from = max(issued_on, person.became_resident_on) + timedelta(days=1)
        while True:
            serial = rng.getrandbits(120) | (1 << 119)
            if serial not in self._used_serials:
                self._used_serials.add(serial)
                break
        while True:
            card_id = f"SAGA-{rng.getrandbits(40):010X}"
            if card_id not in self._used_card_ids:
                self._used_card_ids.add(card_id)
                break
        card = CardPlan(
            card_id=card_id,
            resident_code=person.resident_code,
            holder_name=person.name,
            birth_date=person.birth_date,
            pin=f"{rng.randrange(10_000):04d}",
            serial=serial,
            common_name=f"{rng.getrandbits(96):024X}",
            issued_on=issued_on,
            active_from=active_from,
            planted=planted,
        )
        self.cards.append(card)
        return card

    def _cards_random(self, household: Household) -> None:
        for person in household.members:
            if person.status in REMOVED or age_on(person.birth_date, self.today) < 18:
                continue
            if self.rng.random() < 0.78:  # My Number card holders among adults
                self._card(person)
                self._smartphone_random(household, person)

    def _smartphone_random(self, household: Household, person: Person) -> None:
        """Some card holders also carry the certificate in their phone. Drawn from a generator of its
        own, so that the rest of the world is the same as without phones for the same seed."""
        main_rng = self.rng
        self.rng = random.Random(f"{self.seed}:smartphone:{household.household_code}:{person.resident_code}")  # noqa: S311
        try:
            if self.rng.random() < _SMARTPHONE_SHARE:
                self._smartphone(person)
        finally:
            self.rng = main_rng

    def _smartphone(self, person: Person, *, planted: str = "") -> CardPlan:
        earliest = max(_SMARTPHONE_EPOCH, person.became_resident_on, _years_after(person.birth_date, 15))
        issued = self._day_between(earliest, self.today - timedelta(days=5))
        phone = self._card(person, issued_on=issued, planted=planted)
        phone.credential = "smartphone"
        return phone

    # -- the planted scenarios ----------------------------------------------------------------

    def _planted_household(self, scenario: str) -> tuple[Household, Person]:
        """An "ok" household whose card holder is then changed in the one way ``scenario`` says."""
        rng = self.rng
        household = self._household(planted=scenario)
        family = GAIJI_FAMILY_NAME if scenario == "gaiji" else None
        if scenario == "ok_single":
            self._build(household, "single_middle", family=family, head_age=rng.randint(40, 60))
        elif scenario == "adult_ward":
            self._build(household, "couple_elderly", family=family, head_age=rng.randint(80, 88))
        elif scenario == "under_15":
            self._build(household, "nuclear", family=family, head_age=rng.randint(38, 44), children=2)
        else:
            self._build(
                household,
                rng.choice(("couple_young", "nuclear", "couple_elderly")),
                family=family,
                head_age=rng.randint(35, 62),
            )
        if scenario == "no_tax_record":
            # Moved in after 1 January of the latest released fiscal year: no assessment, no bill.
            self._settle(household, move_in_after=self.latest_jan1 + timedelta(days=1))
        else:
            self._settle(household, settled_before=self.first_jan1)
        self._economy(household)
        head = household.head
        if scenario == "under_15":
            children = [m for m in household.members if m.relationship == "子"]
            young = [m for m in children if age_on(m.birth_date, self.today) < 15]
            if young:
                holder = young[0]
            else:
                # Born here to the couple (both at least 24 then: head 38–44, spouse ≥ 32).
                birth = self._birth_for_age(rng.randint(10, 14))
                holder = self._person(
                    household,
                    family=head.family,
                    sex=rng.choice(("male", "female")),
                    birth=birth,
                    relationship="子",
                )
                holder.parent_codes = tuple(
                    m.resident_code for m in household.members if m.relationship != "子"
                )
                holder.honseki, holder.hittosha = head.honseki, head.hittosha
                holder.address = head.address
                holder.became_resident_on = max(birth, head.became_resident_on)
                holder.previous_address = head.previous_address if holder.became_resident_on > birth else ""
                holder.address_since = max(holder.became_resident_on, head.address_since)
        elif scenario in ("moved_out", "deceased", "household_pending_change", "moving_out"):
            holder = next(m for m in household.members if m.spouse_code == head.resident_code)
        else:
            holder = head
        # The holder and the household as "ok": everyone active, flags off, taxable income.
        for member in household.members:
            member.status, member.status_changed_on = ACTIVE, None
            member.adult_ward = member.support_measure = member.pending_change = False
        if scenario != "under_15":
            if age_on(holder.birth_date, self.today) >= 65:
                holder.work, holder.pension_base = "pension", max(holder.pension_base, 2_600_000)
            else:
                holder.work, holder.salary_base = "salary", max(holder.salary_base, 3_600_000)
        today = self.today
        if scenario == "moving_out":
            holder.status, holder.status_changed_on = MOVING_OUT, today + timedelta(days=rng.randint(3, 14))
        elif scenario in ("moved_out", "deceased"):
            holder.status = MOVED_OUT if scenario == "moved_out" else DECEASED
            holder.status_changed_on = today - timedelta(days=rng.randint(20, 90))
        elif scenario in ("support_measure", "pending_change", "adult_ward"):
            setattr(holder, scenario, True)
        elif scenario == "household_pending_change":
            head.pending_change = True
        elif scenario == "clerk_stop":
            self.clerk_stops.append(holder.resident_code)
        # Seal registrations.
        start = self._seal_start(holder)
        if scenario in ("moved_out", "deceased"):
            assert holder.status_changed_on is not None
            self._seal(
                holder,
                registered_on=self._day_between(start, holder.status_changed_on - timedelta(days=30)),
                abolished_on=holder.status_changed_on,
            )
        elif scenario == "seal_abolished":
            registered = self._day_between(start, today - timedelta(days=200))
            self._seal(
                holder,
                registered_on=registered,
                abolished_on=self._day_between(registered, today - timedelta(days=10)),
            )
        elif scenario not in ("no_seal", "under_15", "adult_ward"):
            self._seal(holder, registered_on=self._day_between(start, today - timedelta(days=10)))
        for member in household.members:
            if member is not holder and age_on(member.birth_date, today) >= 18 and rng.random() < 0.4:
                self._seal(
                    member,
                    registered_on=self._day_between(self._seal_start(member), today - timedelta(days=5)),
                )
        return household, holder

    def _planted_card(self, scenario: str, holder: Person) -> None:
        today = self.today
        if scenario in SMARTPHONE_SCENARIOS:
            # The holder's card works (labelled ok); the phone's certificate is the scenario.
            self._planted_card("ok", holder)
            phone = self._smartphone(holder, planted=scenario)
            phone.revoked = scenario == "smartphone_revoked"
            return
        if scenario == "expired_cert":
            # Issued six years ago and never renewed: past the 5th birthday after issue.
            issued = max(_years_after(today, -6), _years_after(holder.birth_date, 15))
            card = self._card(holder, issued_on=issued, planted=scenario)
        elif scenario == "linked_today":
            card = self._card(
                holder, issued_on=today - timedelta(days=1), active_from=today, planted=scenario
            )
        else:
            earliest = max(holder.became_resident_on, today - timedelta(days=3 * 365), _CARD_EPOCH)
            issued = self._day_between(earliest, today - timedelta(days=5))
            card = self._card(holder, issued_on=issued, planted=scenario)
        card.revoked = scenario == "revoked_cert"
        card.linked = scenario not in ("unlinked_cert", "untrusted_cert")
        card.ca = "other" if scenario == "untrusted_cert" else "test"

    # -- the whole world ----------------------------------------------------------------------

    def _finish(self, household: Household) -> None:
        if not household.planted:
            self._seals_random(household)
            self._cards_random(household)
        self.households.append(household)

    def generate(self, *, residents: int, min_ok: int) -> World:
        for scenario in SCENARIOS:
            for _ in range(2 if scenario == "ok" else 1):
                household, holder = self._planted_household(scenario)
                self._planted_card(scenario, holder)
                self._finish(household)
        while sum(len(h.members) for h in self.households) < residents:
            self._finish(self.household_random())
        world = self._world()
        # SPEC §7: enough ok cards for load tests; plant more ok households when chance fell short.
        while sum(1 for c in world.cards if c.scenario == "ok") < min_ok:
            household, holder = self._planted_household("ok")
            self._planted_card("ok", holder)
            self._finish(household)
            world = self._world()
        return world

    def _world(self) -> World:
        tax_records: list[TaxRecord] = []
        payments: list[Payment] = []
        # Taxes are drawn from a generator of their own, per household code, so that adding
        # households (the ok top-up) never changes the taxes of those already made.
        main_rng = self.rng
        for household in self.households:
            self.rng = random.Random(f"{self.seed}:tax:{household.household_code}")  # noqa: S311
            records, pays = self._taxes(household)
            tax_records.extend(records)
            payments.extend(pays)
        self.rng = main_rng
        # 登録番号 in the order of registration, as a registry numbers them.
        ordered = sorted(
            self.seals, key=lambda s: (s.registered_on, s.resident_code, s.abolished_on or date.max)
        )
        for number, seal in enumerate(ordered, start=20_001):
            seal.registration_number = str(number)
        world = World(
            seed=self.seed,
            today=self.today,
            fiscal_years=list(self.fiscal_years),
            households=list(self.households),
            seals=list(self.seals),
            tax_records=tax_records,
            payments=payments,
            cards=list(self.cards),
            clerk_stops=list(self.clerk_stops),
        )
        cards_label(world)
        index = _index(world)
        for card in world.cards:
            if card.planted and card.scenario != card.planted:
                found = ", ".join(_deviations(card, index, world))
                raise PopulationError(
                    f"planted scenario {card.planted} came out as {card.scenario} ({found})"
                )
        return world


def population_generate(*, residents: int, seed: int, today: date, min_ok: int | None = None) -> World:
    """A Saga City population of about ``residents`` people (at least the planted scenarios).

    ``min_ok`` defaults to SPEC §7's figure: 100 ok cards when ``residents`` ≥ 1,000.
    """
    if residents < 0:
        raise ValueError("residents must not be negative")
    if min_ok is None:
        min_ok = 100 if residents >= 1_000 else 1
    return _Generator(seed=seed, today=today).generate(residents=residents, min_ok=min_ok)

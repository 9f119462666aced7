"""The core-system simulator's daily changes (異動, SPEC §7 ``core_sim changes``).

``changes_generate`` reads the current mirror and makes ``count`` realistic events — births, deaths,
moves in, out and within the city, marriages, seal registrations and abolitions, late tax returns,
tax payments, new cards — as a delta batch in which every upsert carries the complete record (SPEC
§5: the row as the mirror holds it, with the My Number decrypted, modified, every field written).

Each event touches households no other event of the same batch touched, so the events never
contradict each other. Households of card holders that a demo relies on (every card file in the
cards folder labelled with a scenario other than ``other``) are left alone, so a demo's ``ok`` card
stays ``ok`` however often the simulator runs.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from residents.crypto import my_number_decrypt
from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment
from simulators.city import places, tax
from simulators.city.cards import CARD_FORMAT, card_file_write, card_jobs, cards_build
from simulators.city.feed_writer import WrittenBatch, batch_write
from simulators.city.glyphs import characters_missing
from simulators.city.names import Name
from simulators.city.population import (
    ACTIVE,
    DECEASED,
    MOVED_OUT,
    MOVING_OUT,
    OTHER,
    REMOVED,
    TAX_ITEM_RESIDENT,
    CardPlan,
    Person,
    _Generator,
    age_on,
    full_name,
)
from simulators.city.seals import seal_image_png
from simulators.jpki import serial_hex, test_ca_load_or_create
from sync.validation import ENTITY_ORDER

EVENT_WEIGHTS: dict[str, int] = {
    "birth": 12,
    "death": 8,
    "move_in": 10,
    "move_out": 12,
    "move_within": 12,
    "marriage": 6,
    "seal_register": 10,
    "seal_abolish": 5,
    "tax_late_return": 5,
    "tax_payment": 10,
    "new_card": 12,
}


@dataclass
class MirrorState:
    """The mirror as feed records (``data`` dicts), keyed as the feed keys them."""

    households: dict[str, dict[str, Any]] = field(default_factory=dict)
    residents: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[str]] = field(default_factory=dict)
    seals: dict[str, dict[str, Any]] = field(default_factory=dict)
    assessments: dict[str, dict[str, Any]] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)
    card_links: dict[str, dict[str, Any]] = field(default_factory=dict)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def mirror_state_load() -> MirrorState:
    """Read the whole mirror into feed-shaped records (My Numbers decrypted, in memory only)."""
    state = MirrorState()
    for household in Household.objects.order_by("household_code"):
        state.households[household.household_code] = {
            "household_code": household.household_code,
            "address": household.address,
            "head_resident_code": household.head_resident_code,
        }
        state.members[household.household_code] = []
    for r in Resident.objects.select_related("household").order_by("resident_code"):
        state.residents[r.resident_code] = {
            "resident_code": r.resident_code,
            "household_code": r.household.household_code,
            "family_name": r.family_name,
            "given_name": r.given_name,
            "family_name_kana": r.family_name_kana,
            "given_name_kana": r.given_name_kana,
            "birth_date": r.birth_date.isoformat(),
            "sex": r.sex,
            "relationship": r.relationship,
            "address": r.address,
            "became_resident_on": r.became_resident_on.isoformat(),
            "address_since": r.address_since.isoformat(),
            "previous_address": r.previous_address,
            "honseki": r.honseki,
            "hittosha": r.hittosha,
            "my_number": my_number_decrypt(r.my_number_encrypted, resident_code=r.resident_code),
            "status": r.status,
            "status_changed_on": _iso(r.status_changed_on),
            "adult_ward": r.adult_ward,
            "support_measure": r.support_measure,
            "pending_change": r.pending_change,
        }
        state.members[r.household.household_code].append(r.resident_code)
    for s in SealRegistration.objects.select_related("resident").order_by("registration_number"):
        state.seals[s.registration_number] = {
            "registration_number": s.registration_number,
            "resident_code": s.resident.resident_code,
            "seal_image_png": base64.b64encode(bytes(s.seal_image_png)).decode("ascii"),
            "registered_on": s.registered_on.isoformat(),
            "status": s.status,
            "abolished_on": _iso(s.abolished_on),
        }
    for a in TaxAssessment.objects.select_related("resident").order_by(
        "resident__resident_code", "fiscal_year"
    ):
        state.assessments[f"{a.resident.resident_code}:{a.fiscal_year}"] = {
            "resident_code": a.resident.resident_code,
            "fiscal_year": a.fiscal_year,
            "address_on_jan1": a.address_on_jan1,
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
            "released_on": _iso(a.released_on),
        }
    for p in TaxPayment.objects.select_related("resident").order_by(
        "resident__resident_code", "fiscal_year", "tax_item"
    ):
        state.payments[f"{p.resident.resident_code}:{p.fiscal_year}:{p.tax_item}"] = {
            "resident_code": p.resident.resident_code,
            "fiscal_year": p.fiscal_year,
            "tax_item": p.tax_item,
            "assessed": p.assessed,
            "paid": p.paid,
            "unpaid": p.unpaid,
        }
    for link in CardLink.objects.select_related("resident").order_by("issuer", "serial"):
        state.card_links[f"{link.issuer}:{link.serial}"] = {
            "issuer": link.issuer,
            "serial": link.serial,
            "resident_code": link.resident.resident_code,
            "active_from": link.active_from.isoformat(),
            "credential": link.credential,
        }
    return state


def mirror_state_from_records(records: list[dict[str, Any]]) -> MirrorState:
    """A state from full-batch records (the simulator's own world, without a database)."""
    state = MirrorState()
    stores = {
        "household": state.households,
        "resident": state.residents,
        "seal_registration": state.seals,
        "tax_assessment": state.assessments,
        "tax_payment": state.payments,
        "card_link": state.card_links,
    }
    for record in records:
        stores[record["entity"]][record["key"]] = dict(record["data"])
    for code in state.households:
        state.members[code] = []
    for code, resident in sorted(state.residents.items()):
        state.members[resident["household_code"]].append(code)
    return state


def protected_residents(*, cards_dir: Path | None) -> set[str]:
    """Resident codes of the holders of scenario-labelled card files in ``cards_dir``."""
    if cards_dir is None or not cards_dir.is_dir():
        return set()
    codes: set[str] = set()
    for path in cards_dir.glob("*.json"):
        try:
            card = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(card, dict) and card.get("format") == CARD_FORMAT and card.get("scenario") != OTHER:
            codes.add(str(card.get("resident_code")))
    return codes


@dataclass
class ChangeSet:
    records: list[dict[str, Any]]
    events: Counter[str]
    new_cards: list[CardPlan]


class _Changes:
    def __init__(
        self, *, state: MirrorState, seed: int, today: date, issuer: str, protected: set[str]
    ) -> None:
        self.state = state
        self.today = today
        self.issuer = issuer
        # Seeded on purpose: a run is reproducible from its seed and day (simulation, not secrets).
        self.rng = random.Random(f"core_sim:{seed}:{today.isoformat()}")  # noqa: S311
        # The population generator lends its names, places and code allocation; it must not hand
        # out a code or My Number the mirror already uses.
        self.gen = _Generator(seed=self.rng.randrange(2**32), today=today)
        self.gen._used_codes.update(state.households)
        self.gen._used_codes.update(state.residents)
        self.gen._used_numbers.update(r["my_number"] for r in state.residents.values())
        self.gen._used_serials.update(int(link["serial"], 16) for link in state.card_links.values())
        self.dirty: dict[tuple[str, str], dict[str, Any]] = {}
        self.touched: set[str] = {
            state.residents[code]["household_code"] for code in protected if code in state.residents
        }
        self.events: Counter[str] = Counter()
        self.new_cards: list[CardPlan] = []
        self.active_seals: dict[str, str] = {
            seal["resident_code"]: number
            for number, seal in state.seals.items()
            if seal["status"] == "active"
        }

    # -- helpers ----------------------------------------------------------------------------

    def _put(self, entity: str, key: str, data: dict[str, Any]) -> None:
        self.dirty[(entity, key)] = data
        store = {
            "household": self.state.households,
            "resident": self.state.residents,
            "seal_registration": self.state.seals,
            "tax_assessment": self.state.assessments,
            "tax_payment": self.state.payments,
            "card_link": self.state.card_links,
        }[entity]
        store[key] = data
        if entity == "seal_registration":
            if data["status"] == "active":
                self.active_seals[data["resident_code"]] = key
            elif self.active_seals.get(data["resident_code"]) == key:
                del self.active_seals[data["resident_code"]]

    def _resident(self, code: str) -> dict[str, Any]:
        return dict(self.state.residents[code])

    def _age(self, resident: dict[str, Any]) -> int:
        return age_on(date.fromisoformat(resident["birth_date"]), self.today)

    def _current(self, household_code: str) -> list[dict[str, Any]]:
        return [
            self.state.residents[c]
            for c in self.state.members.get(household_code, [])
            if self.state.residents[c]["status"] not in REMOVED
        ]

    def _free_households(self) -> list[str]:
        """Households nobody in this batch touched, whose current members are all plainly active."""
        out = []
        for code in sorted(self.state.households):
            if code in self.touched:
                continue
            current = self._current(code)
            if current and all(r["status"] == ACTIVE and not r["pending_change"] for r in current):
                out.append(code)
        return out

    def _day_back(self, most: int, least: int = 0) -> date:
        return self.today - timedelta(days=self.rng.randint(least, most))

    def _active_seal(self, resident_code: str) -> dict[str, Any] | None:
        number = self.active_seals.get(resident_code)
        return self.state.seals[number] if number else None

    def _seal_abolish(self, seal: dict[str, Any], on: date) -> None:
        updated = dict(seal)
        updated["status"] = "abolished"
        updated["abolished_on"] = max(on, date.fromisoformat(seal["registered_on"])).isoformat()
        self._put("seal_registration", seal["registration_number"], updated)

    def _next_registration_number(self) -> str:
        numbers = [int(n) for n in self.state.seals if n.isdigit()]
        return str(max(numbers, default=20_000) + 1)

    # -- events ------------------------------------------------------------------------------

    def birth(self) -> bool:
        rng = self.rng
        candidates = []
        for code in self._free_households():
            for mother in self._current(code):
                if mother["relationship"] in ("妻", "子の妻") and 20 <= self._age(mother) <= 42:
                    candidates.append((code, mother))
        if not candidates:
            return False
        household_code, mother = rng.choice(candidates)
        birth = self._day_back(13, 1)  # 出生届 within 14 days
        sex = rng.choice(("male", "female"))
        avoid = {self.state.residents[c]["given_name"] for c in self.state.members[household_code]}
        given = self.gen._given(birth, sex, avoid)
        code = self.gen._code(11)
        child = {
            "resident_code": code,
            "household_code": household_code,
            "family_name": mother["family_name"],
            "given_name": given.text,
            "family_name_kana": mother["family_name_kana"],
            "given_name_kana": given.kana,
            "birth_date": birth.isoformat(),
            "sex": sex,
            "relationship": "子" if mother["relationship"] == "妻" else "孫",
            "address": self.state.households[household_code]["address"],
            "became_resident_on": birth.isoformat(),
            "address_since": birth.isoformat(),
            "previous_address": "",
            "honseki": mother["honseki"],
            "hittosha": mother["hittosha"],
            "my_number": self.gen._my_number(),
            "status": ACTIVE,
            "status_changed_on": None,
            "adult_ward": False,
            "support_measure": False,
            "pending_change": False,
        }
        self._put("resident", code, child)
        self.state.members[household_code].append(code)
        self.touched.add(household_code)
        return True

    def death(self) -> bool:
        candidates = []
        for code in self._free_households():
            current = self._current(code)
            for person in current:
                if self._age(person) >= 75 and (person["relationship"] != "世帯主" or len(current) == 1):
                    candidates.append(person)
        if not candidates:
            return False
        person = self._resident(self.rng.choice(candidates)["resident_code"])
        died = self._day_back(7, 1)
        person["status"], person["status_changed_on"] = DECEASED, died.isoformat()
        self._put("resident", person["resident_code"], person)
        seal = self._active_seal(person["resident_code"])
        if seal is not None:
            self._seal_abolish(seal, died)  # 死亡による印鑑登録の抹消
        self.touched.add(person["household_code"])
        return True

    def move_in(self) -> bool:
        rng = self.rng
        gen = self.gen
        household = gen._household()
        kind = rng.choice(("single_young", "single_young", "couple_young", "nuclear", "single_middle"))
        gen._build(household, kind)
        arrived = self._day_back(10, 1)
        came_from = places.outside_place(rng).address
        self._put(
            "household",
            household.household_code,
            {
                "household_code": household.household_code,
                "address": household.address,
                "head_resident_code": household.head.resident_code,
            },
        )
        self.state.members[household.household_code] = []
        for member in household.members:
            member.address = household.address
            member.became_resident_on = max(arrived, member.birth_date)
            member.address_since = member.became_resident_on
            member.previous_address = came_from if member.birth_date < arrived else ""
            self._put("resident", member.resident_code, member.record())
            self.state.members[household.household_code].append(member.resident_code)
            # Their cards from the old address become usable here from the day after moving in.
            if age_on(member.birth_date, self.today) >= 18 and rng.random() < 0.7:
                earliest = max(self.today - timedelta(days=3 * 365), date(2016, 1, 15))
                card = gen._card(
                    member,
                    issued_on=gen._day_between(earliest, arrived - timedelta(days=1)),
                    active_from=arrived + timedelta(days=1),
                )
                self._card_link(card)
        self.touched.add(household.household_code)
        return True

    def move_out(self) -> bool:
        rng = self.rng
        # Finish the moves whose planned date has come: 転出予定 → 転出.
        due = []
        for code in sorted(self.state.households):
            if code in self.touched:
                continue
            for person in self._current(code):
                planned = person["status_changed_on"]
                if person["status"] == MOVING_OUT and planned and date.fromisoformat(planned) <= self.today:
                    due.append(code)
                    break
        if due and rng.random() < 0.6:
            code = rng.choice(due)
            for person in self._current(code):
                if person["status"] != MOVING_OUT:
                    continue
                moved = self._resident(person["resident_code"])
                moved["status"] = MOVED_OUT
                self._put("resident", moved["resident_code"], moved)
                seal = self._active_seal(moved["resident_code"])
                if seal is not None:
                    self._seal_abolish(seal, date.fromisoformat(moved["status_changed_on"]))
            self.touched.add(code)
            return True
        free = self._free_households()
        if not free:
            return False
        code = rng.choice(free)
        current = self._current(code)
        planned = self.today + timedelta(days=rng.randint(1, 14))
        leavers = current
        adult_children = [r for r in current if r["relationship"] == "子" and self._age(r) >= 20]
        if adult_children and rng.random() < 0.5:
            leavers = [rng.choice(adult_children)]  # a grown child leaves home for work or study
        for person in leavers:
            updated = self._resident(person["resident_code"])
            updated["status"], updated["status_changed_on"] = MOVING_OUT, planned.isoformat()
            self._put("resident", updated["resident_code"], updated)
        self.touched.add(code)
        return True

    def move_within(self) -> bool:
        free = self._free_households()
        if not free:
            return False
        code = self.rng.choice(free)
        place = places.city_place(self.rng)
        household = dict(self.state.households[code])
        household["address"] = place.address
        self._put("household", code, household)
        moved_on = self._day_back(10, 1)
        for person in self._current(code):
            updated = self._resident(person["resident_code"])
            updated["address"] = place.address
            updated["address_since"] = max(
                moved_on, date.fromisoformat(updated["became_resident_on"])
            ).isoformat()
            self._put("resident", updated["resident_code"], updated)
        self.touched.add(code)
        return True

    def marriage(self) -> bool:
        free = set(self._free_households())
        brides = [
            r
            for code in sorted(free)
            for r in self._current(code)
            if r["relationship"] == "子"
            and r["sex"] == "female"
            and 22 <= self._age(r) <= 45
            and len(self._current(code)) >= 2
        ]
        grooms = [
            current[0]
            for code in sorted(free)
            if len(current := self._current(code)) == 1
            and current[0]["sex"] == "male"
            and 24 <= self._age(current[0]) <= 50
        ]
        pairs = [(b, g) for b in brides for g in grooms if b["household_code"] != g["household_code"]]
        if not pairs:
            return False
        bride, groom = pairs[self.rng.randrange(len(pairs))]
        married_on = self._day_back(5, 0)
        # A new 戸籍 with the husband as 筆頭者, its 本籍 at their address (without 号 and 方書).
        lot = groom["address"].split("　")[0]
        honseki = lot.rsplit("番", 1)[0] + "番" if lot.endswith("号") else lot
        husband = self._resident(groom["resident_code"])
        husband["honseki"], husband["hittosha"] = (
            honseki,
            full_name(husband["family_name"], husband["given_name"]),
        )
        self._put("resident", husband["resident_code"], husband)
        wife = self._resident(bride["resident_code"])
        old_household = wife["household_code"]
        wife.update(
            household_code=husband["household_code"],
            family_name=husband["family_name"],
            family_name_kana=husband["family_name_kana"],
            relationship="妻",
            address=husband["address"],
            address_since=max(married_on, date.fromisoformat(wife["became_resident_on"])).isoformat(),
            honseki=honseki,
            hittosha=husband["hittosha"],
        )
        self._put("resident", wife["resident_code"], wife)
        self.state.members[old_household].remove(wife["resident_code"])
        self.state.members[husband["household_code"]].append(wife["resident_code"])
        seal = self._active_seal(wife["resident_code"])
        if seal is not None:
            # The registered seal bears the old family name: the registration ends with the name.
            self._seal_abolish(seal, married_on)
        self.touched.update({old_household, husband["household_code"]})
        return True

    def seal_register(self) -> bool:
        candidates = [
            r
            for code in self._free_households()
            for r in self._current(code)
            if self._age(r) >= 18 and not r["adult_ward"] and self._active_seal(r["resident_code"]) is None
        ]
        if not candidates:
            return False
        person = self.rng.choice(candidates)
        text = person["family_name"]
        if characters_missing(text):
            text = person["given_name"]
        number = self._next_registration_number()
        self._put(
            "seal_registration",
            number,
            {
                "registration_number": number,
                "resident_code": person["resident_code"],
                "seal_image_png": base64.b64encode(seal_image_png(text)).decode("ascii"),
                "registered_on": self._day_back(3).isoformat(),
                "status": "active",
                "abolished_on": None,
            },
        )
        self.touched.add(person["household_code"])
        return True

    def seal_abolish(self) -> bool:
        free = set(self._free_households())
        candidates = [
            s
            for _number, s in sorted(self.state.seals.items())
            if s["status"] == "active" and self.state.residents[s["resident_code"]]["household_code"] in free
        ]
        if not candidates:
            return False
        seal = self.rng.choice(candidates)
        self._seal_abolish(seal, self._day_back(3))
        self.touched.add(self.state.residents[seal["resident_code"]]["household_code"])
        return True

    def tax_late_return(self) -> bool:
        """A 期限後申告: an undeclared year is declared with the small wage income it had."""
        free = set(self._free_households())
        candidates = [
            a
            for _key, a in sorted(self.state.assessments.items())
            if not a["declared"] and self.state.residents[a["resident_code"]]["household_code"] in free
        ]
        if not candidates:
            return False
        old = self.rng.choice(candidates)
        person = self.state.residents[old["resident_code"]]
        birth = date.fromisoformat(person["birth_date"])
        fiscal_year = old["fiscal_year"]
        revenue = self.rng.randint(60, 180) * 10_000
        assessment = tax.assessment_compute(
            fiscal_year=fiscal_year,
            sources=tax.IncomeSources(salary_revenue=revenue),
            age_at_year_end=age_on(birth, date(fiscal_year - 1, 12, 31)),
            age_on_jan1=age_on(birth, date(fiscal_year, 1, 1)),
            dependants=tax.Dependants(),
        )
        key = f"{old['resident_code']}:{fiscal_year}"
        self._put(
            "tax_assessment",
            key,
            {
                **old,
                "declared": True,
                "income": dict(assessment.income),
                "total_income": assessment.total_income,
                "deductions": dict(assessment.deductions),
                "total_deductions": assessment.total_deductions,
                "taxable_income": assessment.taxable_income,
                "municipal_income_levy": assessment.municipal_income_levy,
                "municipal_per_capita": assessment.municipal_per_capita,
                "prefectural_income_levy": assessment.prefectural_income_levy,
                "prefectural_per_capita": assessment.prefectural_per_capita,
                "total_tax": assessment.total_tax,
            },
        )
        if assessment.billed > 0:
            pay_key = f"{key}:{TAX_ITEM_RESIDENT}"
            self._put(
                "tax_payment",
                pay_key,
                {
                    "resident_code": old["resident_code"],
                    "fiscal_year": fiscal_year,
                    "tax_item": TAX_ITEM_RESIDENT,
                    "assessed": assessment.billed,
                    "paid": 0,
                    "unpaid": assessment.billed,
                },
            )
        self.touched.add(person["household_code"])
        return True

    def tax_payment(self) -> bool:
        """Arrears paid: in full, or one more instalment (期別) of four."""
        free = set(self._free_households())
        candidates = [
            p
            for _key, p in sorted(self.state.payments.items())
            if p["unpaid"] > 0 and self.state.residents[p["resident_code"]]["household_code"] in free
        ]
        if not candidates:
            return False
        payment = dict(self.rng.choice(candidates))
        instalment = -(-payment["assessed"] // 4 // 100) * 100
        payment["paid"] = (
            payment["assessed"]
            if self.rng.random() < 0.6
            else min(payment["assessed"], payment["paid"] + instalment)
        )
        payment["unpaid"] = payment["assessed"] - payment["paid"]
        self._put(
            "tax_payment",
            f"{payment['resident_code']}:{payment['fiscal_year']}:{payment['tax_item']}",
            payment,
        )
        self.touched.add(self.state.residents[payment["resident_code"]]["household_code"])
        return True

    def new_card(self) -> bool:
        # A smartphone certificate is no card: its holder may still get their first card.
        linked = {
            link["resident_code"]
            for link in self.state.card_links.values()
            if link.get("credential", "card") == "card"
        }
        candidates = [
            r
            for code in self._free_households()
            for r in self._current(code)
            if self._age(r) >= 15 and r["resident_code"] not in linked
        ]
        if not candidates:
            return False
        record = self.rng.choice(candidates)
        holder = self._holder(record)
        # A new card is usable at kiosks from the next day (DOMAIN: 新規・再発行は翌日から).
        card = self.gen._card(holder, issued_on=self.today, active_from=self.today + timedelta(days=1))
        self._card_link(card)
        self.touched.add(record["household_code"])
        return True

    def _holder(self, record: dict[str, Any]) -> Person:
        return Person(
            resident_code=record["resident_code"],
            household_code=record["household_code"],
            family=Name(text=record["family_name"], kana=record["family_name_kana"]),
            given=Name(text=record["given_name"], kana=record["given_name_kana"]),
            birth_date=date.fromisoformat(record["birth_date"]),
            sex=record["sex"],
            relationship=record["relationship"],
            my_number=record["my_number"],
            became_resident_on=date.fromisoformat(record["became_resident_on"]),
        )

    def _card_link(self, card: CardPlan) -> None:
        card.scenario = OTHER
        self.new_cards.append(card)
        key = f"{self.issuer}:{serial_hex(card.serial)}"
        self._put("card_link", key, card.link_record(issuer=self.issuer))

    # -- the batch ---------------------------------------------------------------------------

    def run(self, count: int) -> ChangeSet:
        kinds = list(EVENT_WEIGHTS)
        weights = [EVENT_WEIGHTS[k] for k in kinds]
        attempts = 0
        while sum(self.events.values()) < count and attempts < count * 20:
            attempts += 1
            kind = self.rng.choices(kinds, weights=weights)[0]
            handler: Callable[[], bool] = getattr(self, kind)
            if handler():
                self.events[kind] += 1
        order = {entity: index for index, entity in enumerate(ENTITY_ORDER)}
        records = [
            {"op": "upsert", "entity": entity, "key": key, "data": data}
            for (entity, key), data in sorted(
                self.dirty.items(), key=lambda item: (order[item[0][0]], item[0][1])
            )
        ]
        return ChangeSet(records=records, events=self.events, new_cards=self.new_cards)


def changes_generate(
    *, state: MirrorState, count: int, seed: int, today: date, issuer: str, protected: set[str] | None = None
) -> ChangeSet:
    """``count`` events against ``state`` (fewer if the mirror offers no candidates)."""
    if count < 0:
        raise ValueError("count must not be negative")
    changes = _Changes(state=state, seed=seed, today=today, issuer=issuer, protected=protected or set())
    return changes.run(count)


@dataclass
class ChangesResult:
    changes: ChangeSet
    batch: WrittenBatch
    card_files: list[Path]


def changes_write(
    *,
    count: int,
    seed: int,
    today: date,
    inbox: Path,
    pki_dir: Path,
    cards_dir: Path | None = None,
) -> ChangesResult:
    """Read the mirror, make ``count`` events, write them as a delta batch into ``inbox``; write the
    card files of new cards into ``cards_dir`` when given."""
    ca = test_ca_load_or_create(pki_dir=pki_dir)
    state = mirror_state_load()
    changes = changes_generate(
        state=state,
        count=count,
        seed=seed,
        today=today,
        issuer=ca.issuer_rfc4514,
        protected=protected_residents(cards_dir=cards_dir),
    )
    paths: list[Path] = []
    if cards_dir is not None and changes.new_cards:
        cards_dir.mkdir(parents=True, exist_ok=True)
        jobs = card_jobs(cards=changes.new_cards, ca=ca, other_ca=ca)
        paths = [card_file_write(directory=cards_dir, card=content) for content in cards_build(jobs=jobs)]
    batch = batch_write(inbox=inbox, kind="delta", records=changes.records)
    return ChangesResult(changes=changes, batch=batch, card_files=paths)

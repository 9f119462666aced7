"""The core-system simulator's delta batches, checked against an in-memory mirror."""

from __future__ import annotations

import copy
from collections import Counter
from datetime import date, timedelta

import pytest

from simulators.city.population import REMOVED, World, population_generate
from simulators.core_system import MirrorState, changes_generate, mirror_state_from_records
from sync.validation import VALIDATORS

TODAY = date(2026, 11, 27)
ISSUER = "OU=JPKI for user authentication,O=JPKI (TEST),C=JP"


@pytest.fixture(scope="module")
def world() -> World:
    return population_generate(residents=400, seed=13, today=TODAY)


@pytest.fixture
def state(world: World) -> MirrorState:
    return mirror_state_from_records(world.feed_records(issuer=ISSUER))


def _apply(state: MirrorState, records: list[dict]) -> MirrorState:
    """Apply upserts the way the mirror does (complete records replace complete records)."""
    return mirror_state_from_records(
        [
            {"entity": entity, "key": key, "data": data}
            for entity, store in (
                ("household", state.households),
                ("resident", state.residents),
                ("seal_registration", state.seals),
                ("tax_assessment", state.assessments),
                ("tax_payment", state.payments),
                ("card_link", state.card_links),
            )
            for key, data in store.items()
        ]
        + records
    )


def test_every_upsert_is_a_complete_valid_record(state: MirrorState) -> None:
    changes = changes_generate(state=state, count=120, seed=1, today=TODAY, issuer=ISSUER)
    assert sum(changes.events.values()) == 120
    assert len(changes.events) >= 8  # births, deaths, moves, marriages, seals, taxes, cards ...
    keys = [(r["entity"], r["key"]) for r in changes.records]
    assert len(keys) == len(set(keys))
    for record in changes.records:
        assert record["op"] == "upsert"
        VALIDATORS[record["entity"]](record["key"], record["data"])


def test_changes_are_consistent_with_the_mirror(world: World) -> None:
    before = mirror_state_from_records(world.feed_records(issuer=ISSUER))
    snapshot = copy.deepcopy(before)
    changes = changes_generate(state=before, count=150, seed=2, today=TODAY, issuer=ISSUER)
    after = _apply(snapshot, changes.records)
    # Every resident's household exists; each household keeps exactly one head among its members.
    for code, resident in after.residents.items():
        assert resident["household_code"] in after.households, code
    for code, household in after.households.items():
        heads = [
            r for r in (after.residents[c] for c in after.members[code]) if r["relationship"] == "世帯主"
        ]
        assert len(heads) == 1
        assert household["head_resident_code"] == heads[0]["resident_code"]
    # At most one active seal per person, and every seal, assessment, payment and link names a resident.
    active = Counter(s["resident_code"] for s in after.seals.values() if s["status"] == "active")
    assert not active or max(active.values()) == 1
    for store in (after.seals, after.assessments, after.payments, after.card_links):
        assert all(item["resident_code"] in after.residents for item in store.values())
    # My Numbers stay unique.
    numbers = [r["my_number"] for r in after.residents.values()]
    assert len(numbers) == len(set(numbers))


def test_births_deaths_marriages_and_moves_look_like_the_register(world: World) -> None:
    before = mirror_state_from_records(world.feed_records(issuer=ISSUER))
    snapshot = copy.deepcopy(before)
    changes = changes_generate(state=before, count=200, seed=3, today=TODAY, issuer=ISSUER)
    residents = [r["data"] for r in changes.records if r["entity"] == "resident"]
    new = [r for r in residents if r["resident_code"] not in snapshot.residents]
    births = [r for r in new if r["previous_address"] == ""]
    assert births and all(r["relationship"] in ("子", "孫") for r in births)
    for child in births:
        born = date.fromisoformat(child["birth_date"])
        assert TODAY - timedelta(days=14) <= born < TODAY
        assert child["became_resident_on"] == child["birth_date"] == child["address_since"]
    movers_in = [r for r in new if r["previous_address"]]
    assert movers_in and all(not r["previous_address"].startswith("佐賀県佐賀市") for r in movers_in)
    deaths = [r for r in residents if r["status"] == "deceased"]
    assert deaths and all(r["status_changed_on"] < TODAY.isoformat() for r in deaths)
    married = [
        r
        for r in residents
        if r["resident_code"] in snapshot.residents
        and r["household_code"] != snapshot.residents[r["resident_code"]]["household_code"]
    ]
    assert married
    for wife in married:
        old = snapshot.residents[wife["resident_code"]]
        assert wife["relationship"] == "妻" and old["relationship"] == "子"
        husband_code = snapshot.households[wife["household_code"]]["head_resident_code"]
        husband = next(r for r in residents if r["resident_code"] == husband_code)
        assert wife["family_name"] == husband["family_name"]
        assert wife["hittosha"] == husband["hittosha"] == f"{husband['family_name']}　{husband['given_name']}"
        assert wife["my_number"] == old["my_number"]
    moving = [r for r in residents if r["status"] == "moving_out"]
    assert moving and all(r["status_changed_on"] > TODAY.isoformat() for r in moving)
    links = [r for r in changes.records if r["entity"] == "card_link"]
    assert links
    for link in links:
        if link["data"]["resident_code"] in snapshot.residents:
            assert link["data"]["active_from"] == (TODAY + timedelta(days=1)).isoformat()


def test_moving_out_becomes_moved_out_on_a_later_day(world: World) -> None:
    state = mirror_state_from_records(world.feed_records(issuer=ISSUER))
    day = TODAY
    finished = False
    for step in range(6):
        snapshot = copy.deepcopy(state)
        changes = changes_generate(state=state, count=60, seed=10 + step, today=day, issuer=ISSUER)
        for record in changes.records:
            data = record["data"]
            if record["entity"] == "resident" and data["status"] == "moved_out":
                previous = snapshot.residents.get(data["resident_code"])
                if previous and previous["status"] == "moving_out":
                    assert data["status_changed_on"] == previous["status_changed_on"] <= day.isoformat()
                    finished = True
        state = _apply(snapshot, changes.records)
        day += timedelta(days=10)
    assert finished


def test_same_seed_same_changes_and_protected_households_untouched(world: World) -> None:
    records = world.feed_records(issuer=ISSUER)
    protected = {c.resident_code for c in world.cards if c.scenario != "other"}
    first = changes_generate(
        state=mirror_state_from_records(records),
        count=80,
        seed=4,
        today=TODAY,
        issuer=ISSUER,
        protected=protected,
    )
    again = changes_generate(
        state=mirror_state_from_records(records),
        count=80,
        seed=4,
        today=TODAY,
        issuer=ISSUER,
        protected=protected,
    )
    assert first.records == again.records
    state = mirror_state_from_records(records)
    guarded = {state.residents[c]["household_code"] for c in protected}
    for record in first.records:
        data = record["data"]
        if record["entity"] == "household":
            assert record["key"] not in guarded
        elif record["entity"] == "resident":
            assert data["household_code"] not in guarded
        elif "resident_code" in data and data["resident_code"] in state.residents:
            assert state.residents[data["resident_code"]]["household_code"] not in guarded


def test_removed_residents_are_never_changed_again(world: World) -> None:
    state = mirror_state_from_records(world.feed_records(issuer=ISSUER))
    removed = {code for code, r in state.residents.items() if r["status"] in REMOVED}
    changes = changes_generate(state=state, count=150, seed=5, today=TODAY, issuer=ISSUER)
    touched = {r["data"]["resident_code"] for r in changes.records if r["entity"] == "resident"}
    assert not removed & touched

"""The synthetic Saga City population (simulators/city): invariants a Saga clerk would check."""

from __future__ import annotations

import io
import itertools
import re
from collections import Counter
from datetime import date

import pytest
from PIL import Image

from residents.my_number import my_number_is_valid
from simulators.city import places
from simulators.city.glyphs import characters_missing, font_codepoints
from simulators.city.names import FAMILY_NAMES, GAIJI_FAMILY_NAME, all_names
from simulators.city.population import (
    MOVING_OUT,
    REMOVED,
    SCENARIOS,
    TAX_ITEM_RESIDENT,
    World,
    age_on,
    fiscal_years_released,
    population_generate,
)
from simulators.city.seals import SEAL_SIZE, seal_image_png

TODAY = date(2026, 11, 27)
KATAKANA = re.compile(r"^[ァ-ヶー]+$")
FW = "[０-９]+"
APARTMENT = f"(　[^　]+{FW})?"
CHOME_ADDRESS = re.compile(
    rf"^佐賀県佐賀市(?P<town>[^　]+?)[一二三四五六七八九十]+丁目{FW}番{FW}号{APARTMENT}$"
)
JUKYO_ADDRESS = re.compile(rf"^佐賀県佐賀市(?P<town>[^　０-９]+?){FW}番{FW}号{APARTMENT}$")
CHIBAN_ADDRESS = re.compile(rf"^佐賀県佐賀市(?P<town>[^　０-９]+大字[^　０-９]+?){FW}番地[０-９]*$")


@pytest.fixture(scope="module")
def world() -> World:
    return population_generate(residents=300, seed=7, today=TODAY)


def test_my_numbers_have_valid_check_digits_and_are_unique(world: World) -> None:
    numbers = [p.my_number for p in world.residents()]
    assert all(my_number_is_valid(n) for n in numbers)
    assert len(set(numbers)) == len(numbers)


def test_codes_are_unique(world: World) -> None:
    codes = [p.resident_code for p in world.residents()] + [h.household_code for h in world.households]
    assert len(set(codes)) == len(codes)


def test_every_household_has_exactly_one_head_and_names_it(world: World) -> None:
    for household in world.households:
        heads = [m for m in household.members if m.relationship == "世帯主"]
        assert len(heads) == 1
        assert household.record()["head_resident_code"] == heads[0].resident_code
        assert all(m.household_code == household.household_code for m in household.members)


def test_household_kinds_are_mixed(world: World) -> None:
    sizes = Counter(len(h.members) for h in world.households)
    assert sizes[1] > 0 and sizes[2] > 0 and sum(n for size, n in sizes.items() if size >= 3) > 0
    relationships = Counter(p.relationship for p in world.residents())
    for printed in ("世帯主", "妻", "子"):
        assert relationships[printed] > 0
    assert relationships["父"] + relationships["母"] + relationships["孫"] + relationships["妻の母"] > 0


def test_kana_readings_are_full_width_katakana(world: World) -> None:
    for person in world.residents():
        assert KATAKANA.match(person.family.kana), person.family
        assert KATAKANA.match(person.given.kana), person.given
    for name in all_names():
        assert KATAKANA.match(name.kana), name


def test_ages_fit_relationships(world: World) -> None:
    by_code = {p.resident_code: p for p in world.residents()}
    for person in world.residents():
        assert person.birth_date < TODAY
        for parent_code in person.parent_codes:
            parent = by_code[parent_code]
            # Parents are at least 16 years older than their children.
            assert (person.birth_date - parent.birth_date).days >= 16 * 365
        if person.spouse_code:
            assert age_on(person.birth_date, TODAY) >= 18
            assert by_code[person.spouse_code].spouse_code == person.resident_code
    for household in world.households:
        head = next(m for m in household.members if m.relationship == "世帯主")
        for member in household.members:
            if member.relationship == "子":
                assert (member.birth_date - head.birth_date).days >= 16 * 365
            if member.relationship == "孫":
                assert (member.birth_date - head.birth_date).days >= 32 * 365
            if member.relationship in ("父", "母"):
                assert (head.birth_date - member.birth_date).days >= 16 * 365
            if member.relationship in ("妻", "夫"):
                assert age_on(member.birth_date, TODAY) >= 18


def test_addresses_have_the_form_of_their_kind_of_town(world: World) -> None:
    known = {town.name: town.kind for town in places.TOWNS}
    for household in world.households:
        address = household.address
        for pattern, kind in (
            (CHOME_ADDRESS, places.CHOME),
            (CHIBAN_ADDRESS, places.CHIBAN),
            (JUKYO_ADDRESS, places.JUKYO),
        ):
            match = pattern.match(address)
            if match and known.get(match.group("town")) == kind:
                break
        else:
            pytest.fail(f"address of an unknown form: {address}")
        assert all(m.address == address for m in household.members)


def test_resident_dates_and_previous_address_agree(world: World) -> None:
    for person in world.residents():
        assert person.became_resident_on >= person.birth_date
        assert person.address_since >= person.became_resident_on
        if person.became_resident_on == person.birth_date:
            assert person.previous_address == ""
        else:
            assert person.previous_address and not person.previous_address.startswith("佐賀県佐賀市")
        assert person.honseki.startswith(
            ("佐賀県", "福岡県", "長崎県", "熊本県", "東京都", "大阪府", "愛知県")
        )
        assert not person.honseki.endswith("号")
        assert "　" in person.hittosha  # 氏　名, as printed
        if person.status in REMOVED or person.status == MOVING_OUT:
            assert person.status_changed_on is not None
        else:
            assert person.status_changed_on is None


def test_family_members_share_the_family_register(world: World) -> None:
    for household in world.households:
        by_code = {m.resident_code: m for m in household.members}
        for member in household.members:
            spouse = by_code.get(member.spouse_code)
            if spouse is not None and member.relationship in ("世帯主", "妻", "夫"):
                assert (member.honseki, member.hittosha) == (spouse.honseki, spouse.hittosha)
            if member.relationship == "子" and not member.spouse_code:
                # An unmarried child stays in the parents' 戸籍.
                head = next(m for m in household.members if m.relationship == "世帯主")
                assert (member.honseki, member.hittosha) == (head.honseki, head.hittosha)
            if member.relationship == "子" and member.spouse_code:
                # Marriage makes a new 戸籍: the son is its 筆頭者, his wife and children are in it.
                assert member.hittosha == member.name == by_code[member.spouse_code].hittosha
            if member.relationship == "孫":
                assert member.hittosha == by_code[member.parent_codes[0]].name


def test_statuses_are_mostly_active_with_some_of_each_kind() -> None:
    larger = population_generate(residents=1500, seed=3, today=TODAY, min_ok=1)
    statuses = Counter(p.status for p in larger.residents())
    assert statuses["active"] > 0.9 * sum(statuses.values())
    for status in ("moving_out", "moved_out", "deceased", "erased"):
        assert statuses[status] > 0
    people = larger.residents()
    assert 0 < sum(p.adult_ward for p in people) < 0.02 * len(people)
    assert 0 < sum(p.pending_change for p in people) < 0.02 * len(people)


def test_seal_registrations_one_active_at_most_and_dates_in_order(world: World) -> None:
    active = Counter(s.resident_code for s in world.seals if s.status == "active")
    assert max(active.values()) == 1
    numbers = [s.registration_number for s in world.seals]
    assert len(set(numbers)) == len(numbers)
    for seal in world.seals:
        assert seal.abolished_on is None or seal.abolished_on >= seal.registered_on
    adults = [p for p in world.residents() if age_on(p.birth_date, TODAY) >= 18]
    share = len({s.resident_code for s in world.seals}) / len(adults)
    assert 0.25 < share < 0.6
    assert any(s.status == "abolished" for s in world.seals)


def test_seal_image_is_a_small_png_drawn_in_the_font() -> None:
    png = seal_image_png("陣内")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (SEAL_SIZE, SEAL_SIZE)
    # Red ink is on it; the corner outside the ring is transparent.
    rgba = image.convert("RGBA")
    corner = rgba.getpixel((0, 0))
    assert isinstance(corner, tuple) and corner[3] == 0
    red = [rgba.getpixel((x, y)) for x in range(SEAL_SIZE) for y in range(SEAL_SIZE)]
    assert any(isinstance(p, tuple) and p[0] > 150 and p[1] < 80 and p[3] > 0 for p in red)
    assert seal_image_png("陣内") == png


def test_every_table_name_and_town_is_in_the_font_except_the_gaiji_name() -> None:
    for name in all_names():
        assert not characters_missing(name.text), name
    for town in places.TOWNS:
        assert not characters_missing(town.name), town
    assert GAIJI_FAMILY_NAME not in FAMILY_NAMES


def test_the_gaiji_character_is_really_absent_from_the_font() -> None:
    assert ord("𠮷") not in font_codepoints()
    assert characters_missing(GAIJI_FAMILY_NAME.text) == {"𠮷"}
    # The cmap is really read: ordinary and variant characters of names are present.
    assert {ord("吉"), ord("﨑"), ord("髙")} <= font_codepoints()


def test_fiscal_years_are_the_latest_three_released() -> None:
    assert fiscal_years_released(date(2026, 5, 31)) == [2023, 2024, 2025]
    assert fiscal_years_released(date(2026, 6, 1)) == [2024, 2025, 2026]


def test_tax_assessments_add_up(world: World) -> None:
    assert {t.assessment.fiscal_year for t in world.tax_records} == set(world.fiscal_years)
    for tax_record in world.tax_records:
        data = tax_record.record()
        assert data["total_income"] == sum(data["income"].values())
        assert data["total_deductions"] == sum(data["deductions"].values())
        expected_taxable = max(0, data["total_income"] - data["total_deductions"]) // 1000 * 1000
        assert data["taxable_income"] == expected_taxable
        assert data["total_tax"] == (
            data["municipal_income_levy"]
            + data["municipal_per_capita"]
            + data["prefectural_income_levy"]
            + data["prefectural_per_capita"]
        )
        # 所得割: 6% / 4% of 課税標準額 less 調整控除 (at most 5% of 人的控除差), in 100-yen steps.
        for levy, rate in (("municipal_income_levy", 6), ("prefectural_income_levy", 4)):
            assert data[levy] % 100 == 0
            assert data[levy] <= data["taxable_income"] * rate // 100
        if data["municipal_income_levy"]:
            assert data["taxable_income"] * 6 // 100 - data["municipal_income_levy"] < 40_000
        if not data["declared"]:
            assert data["total_income"] == 0 and data["total_tax"] == 0
        assert data["released_on"] == f"{data['fiscal_year']}-06-01"
    assert any(not t.assessment.declared for t in world.tax_records)
    assert any(t.assessment.total_tax == 0 and t.assessment.declared for t in world.tax_records)
    assert any(t.assessment.municipal_income_levy > 0 for t in world.tax_records)


def test_tax_records_only_for_residents_on_the_first_of_january(world: World) -> None:
    by_code = {p.resident_code: p for p in world.residents()}
    for tax_record in world.tax_records:
        person = by_code[tax_record.resident_code]
        jan1 = date(tax_record.assessment.fiscal_year, 1, 1)
        assert person.became_resident_on <= jan1
        if person.status in REMOVED:
            assert person.status_changed_on is not None and person.status_changed_on > jan1


def test_payments_balance_and_some_are_in_arrears(world: World) -> None:
    assessments = {(t.resident_code, t.assessment.fiscal_year): t.assessment for t in world.tax_records}
    for payment in world.payments:
        data = payment.record()
        assert data["assessed"] == data["paid"] + data["unpaid"]
        assert data["paid"] >= 0 and data["unpaid"] >= 0
        if payment.tax_item == TAX_ITEM_RESIDENT:
            assessment = assessments[(payment.resident_code, payment.fiscal_year)]
            forest = 1000 if payment.fiscal_year >= 2024 and assessment.municipal_per_capita else 0
            assert payment.assessed == assessment.total_tax + forest
    items = Counter(p.tax_item for p in world.payments)
    assert items["個人市県民税"] > 0 and items["固定資産税"] > 0 and items["軽自動車税"] > 0
    in_arrears = sum(1 for p in world.payments if p.unpaid > 0)
    assert 0 < in_arrears < 0.15 * len(world.payments)


def test_every_scenario_label_is_present_even_for_a_small_population(world: World) -> None:
    counts = world.scenario_counts()
    assert set(SCENARIOS) <= set(counts)
    tiny = population_generate(residents=5, seed=1, today=TODAY)
    assert set(SCENARIOS) <= set(tiny.scenario_counts())


def test_ok_cards_are_topped_up_to_the_minimum() -> None:
    small = population_generate(residents=60, seed=11, today=TODAY, min_ok=25)
    assert small.scenario_counts()["ok"] >= 25


def test_ok_card_holders_can_get_all_four_certificates(world: World) -> None:
    """Checked here from the raw data, independently of the generator's own labelling."""
    people = {p.resident_code: p for p in world.residents()}
    households = {h.household_code: h for h in world.households}
    taxes = {(t.resident_code, t.assessment.fiscal_year): t.assessment for t in world.tax_records}
    paid_years = {(p.resident_code, p.fiscal_year) for p in world.payments}
    oks = [c for c in world.cards if c.scenario == "ok"]
    assert oks
    for card in oks:
        person = people[card.resident_code]
        household = households[person.household_code]
        current = [m for m in household.members if m.status not in REMOVED]
        assert person.status == "active" and age_on(person.birth_date, TODAY) >= 18
        assert not (person.adult_ward or person.support_measure or person.pending_change)
        assert person.resident_code not in world.clerk_stops
        assert len(current) >= 2
        assert not any(m.pending_change or m.status == MOVING_OUT for m in current)
        assert not characters_missing(person.family.text + person.given.text)
        assert any(s.resident_code == person.resident_code and s.status == "active" for s in world.seals)
        for fiscal_year in world.fiscal_years:
            assert taxes[(person.resident_code, fiscal_year)].declared
            assert (person.resident_code, fiscal_year) in paid_years
        assert card.linked and card.ca == "test" and not card.revoked
        assert card.active_from < TODAY < card.expires_on


def test_scenario_cards_differ_from_ok_in_their_one_way(world: World) -> None:
    people = {p.resident_code: p for p in world.residents()}
    taxed = {t.resident_code for t in world.tax_records} | {p.resident_code for p in world.payments}
    by_label = {c.scenario: c for c in reversed(world.cards)}
    assert age_on(people[by_label["under_15"].resident_code].birth_date, TODAY) < 15
    assert characters_missing(by_label["gaiji"].holder_name)
    assert by_label["linked_today"].active_from == TODAY
    assert by_label["expired_cert"].expires_on < TODAY
    assert by_label["revoked_cert"].revoked
    assert not by_label["unlinked_cert"].linked
    assert by_label["untrusted_cert"].ca == "other"
    assert by_label["no_tax_record"].resident_code not in taxed
    assert people[by_label["moving_out"].resident_code].status == "moving_out"
    assert people[by_label["deceased"].resident_code].status == "deceased"
    assert people[by_label["adult_ward"].resident_code].adult_ward
    assert by_label["clerk_stop"].resident_code in world.clerk_stops
    holder = people[by_label["household_pending_change"].resident_code]
    assert not holder.pending_change
    assert any(
        m.pending_change
        for h in world.households
        if h.household_code == holder.household_code
        for m in h.members
    )


def test_card_links_name_the_issuer_and_a_lowercase_hex_serial(world: World) -> None:
    records = world.feed_records(issuer="OU=JPKI for user authentication,O=JPKI (TEST),C=JP")
    links = [r for r in records if r["entity"] == "card_link"]
    linked_cards = [c for c in world.cards if c.linked and c.ca == "test"]
    assert len(links) == len(linked_cards)
    for link in links:
        serial = link["data"]["serial"]
        assert re.match(r"^[1-9a-f][0-9a-f]*$", serial)
        assert link["key"] == f"{link['data']['issuer']}:{serial}"
        assert date.fromisoformat(link["data"]["active_from"]) <= TODAY
    adults = [p for p in world.residents() if age_on(p.birth_date, TODAY) >= 18 and p.status not in REMOVED]
    assert len({c.resident_code for c in world.cards}) > 0.6 * len(adults)


def test_feed_records_carry_every_field_of_the_spec(world: World) -> None:
    from sync.validation import VALIDATORS

    for record in world.feed_records(issuer="OU=JPKI for user authentication,O=JPKI (TEST),C=JP"):
        assert record["op"] == "upsert"
        VALIDATORS[record["entity"]](record["key"], record["data"])  # raises on any defect


def test_same_seed_same_world_other_seed_other_world() -> None:
    issuer = "OU=JPKI for user authentication,O=JPKI (TEST),C=JP"
    first = population_generate(residents=120, seed=5, today=TODAY).feed_records(issuer=issuer)
    again = population_generate(residents=120, seed=5, today=TODAY).feed_records(issuer=issuer)
    other = population_generate(residents=120, seed=6, today=TODAY).feed_records(issuer=issuer)
    assert first == again
    assert first != other


def test_children_born_here_have_parents_who_lived_here_and_siblings_are_spaced(world: World) -> None:
    by_code = {p.resident_code: p for p in world.residents()}
    births_by_parents: dict[tuple[str, ...], list[date]] = {}
    for person in world.residents():
        if not person.parent_codes:
            continue
        births_by_parents.setdefault(person.parent_codes, []).append(person.birth_date)
        if person.became_resident_on == person.birth_date:
            for code in person.parent_codes:
                assert by_code[code].became_resident_on <= person.birth_date
    for births in births_by_parents.values():
        ordered = sorted(births)
        assert all((later - earlier).days >= 548 for earlier, later in itertools.pairwise(ordered))


def test_some_card_holders_also_carry_a_smartphone_certificate(world: World) -> None:
    phones = [c for c in world.cards if c.credential == "smartphone"]
    by_label = {c.scenario: c for c in phones}
    assert {"smartphone_ok", "smartphone_revoked"} <= set(by_label)
    assert not by_label["smartphone_ok"].revoked and by_label["smartphone_revoked"].revoked
    # Random phones besides the planted two, each beside a card of the same holder.
    assert len(phones) > 2
    card_holders = {c.resident_code for c in world.cards if c.credential == "card"}
    assert all(p.resident_code in card_holders for p in phones)
    # A revoked phone's holder keeps a working card, labelled ok.
    holder = by_label["smartphone_revoked"].resident_code
    assert [c.scenario for c in world.cards if c.resident_code == holder and c.credential == "card"] == ["ok"]
    # Phone certificates exist since May 2023; phones are labelled only by the smartphone scenarios.
    assert all(p.issued_on >= date(2023, 5, 11) for p in phones)
    assert {p.scenario for p in phones} <= {"smartphone_ok", "smartphone_revoked", "other"}


def test_a_smartphone_link_names_its_own_ca_and_credential(world: World) -> None:
    card_issuer = "OU=JPKI for user authentication,O=JPKI (TEST),C=JP"
    phone_issuer = "OU=JPKI for smartphone user authentication,O=JPKI (TEST),C=JP"
    links = [r["data"] for r in world.feed_records(issuer=card_issuer) if r["entity"] == "card_link"]
    phones = {f"{c.serial:x}" for c in world.cards if c.credential == "smartphone" and c.linked}
    assert {link["serial"] for link in links if link["credential"] == "smartphone"} == phones
    for link in links:
        assert link["issuer"] == (phone_issuer if link["credential"] == "smartphone" else card_issuer)

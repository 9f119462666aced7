"""Saga-scale full load through the real feed service, against a raw COPY baseline in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/saga_bench KONBINI_VAR_DIR=$(mktemp -d) \\
        .venv/bin/python bench/sync_load.py [--residents 240000] [--seed 1]

The bench generates a synthetic city (deterministic, simple but realistic-looking values): households
of about 2.3 persons, seal registrations, three fiscal years of tax assessments and payments, card
links for 70% of adults. It writes them as one ``full`` batch into a private inbox and applies it with
``sync.services.sync_run`` (parse, validate, encrypt My Numbers, upsert, audit). Then it COPYs the same
rows with psycopg into plain tables shaped like the mirror's (same columns, types, indexes and
constraints, no foreign keys) and prints the ratio (target ≤ 3×) and the peak memory (target < 1.5 GB).
Last, a 10,000-record delta is applied and timed.

It needs PostgreSQL. The database is migrated if needed; on an empty mirror the full load measures
the initial load, on a filled one a full re-load. The COPY tables are dropped afterwards.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import resource
import shutil
import struct
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saga_konbini.settings")
# Measured as deployed: with DEBUG on, Django records every SQL statement it runs.
os.environ.setdefault("DJANGO_DEBUG", "0")

ISSUER = "CN=JPKI for user authentication,OU=JPKI for user authentication,O=JPKI (TEST),C=JP"
FAMILY = [
    ("佐賀", "サガ"), ("田中", "タナカ"), ("山口", "ヤマグチ"), ("古賀", "コガ"), ("松尾", "マツオ"),
    ("中島", "ナカシマ"), ("井上", "イノウエ"), ("木下", "キノシタ"), ("池田", "イケダ"), ("江口", "エグチ"),
]  # fmt: skip
GIVEN = [
    ("太郎", "タロウ", "male"), ("花子", "ハナコ", "female"), ("健一", "ケンイチ", "male"),
    ("由美", "ユミ", "female"), ("翔太", "ショウタ", "male"), ("陽菜", "ヒナ", "female"),
    ("大輔", "ダイスケ", "male"), ("美咲", "ミサキ", "female"),
]  # fmt: skip
TOWNS = ["栄町", "松原", "白山", "唐人", "水ケ江", "赤松町", "神野東", "鍋島町", "兵庫北", "若宮"]
TAX_ITEMS = ("個人市県民税", "固定資産税", "軽自動車税")
FISCAL_YEARS = (2024, 2025, 2026)
TODAY = date(2026, 11, 26)


def _stderr(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


class Heartbeat:
    """Prints elapsed time and peak memory to stderr while a long step runs."""

    def __init__(self, label: str, status: Callable[[], str] | None = None) -> None:
        self.label = label
        self.status = status
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.started = 0.0

    def _run(self) -> None:
        while not self.stop.wait(2.0):
            extra = f" {self.status()}" if self.status else ""
            elapsed = time.perf_counter() - self.started
            sys.stderr.write(f"\r  {self.label}: {elapsed:6.1f} s, peak {_peak_mb():7.0f} MB{extra}   ")
            sys.stderr.flush()

    def __enter__(self) -> Heartbeat:
        self.started = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        sys.stderr.write(f"\r  {self.label}: {time.perf_counter() - self.started:6.1f} s, done{' ' * 40}\n")


def _seal_png() -> bytes:
    """A 48x48 red ring: a plausible 印影, small."""
    size, rows = 48, []
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            r = ((x - 23.5) ** 2 + (y - 23.5) ** 2) ** 0.5
            row += bytes((200, 30, 30)) if 18 <= r <= 22 else bytes((255, 255, 255))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )


def _my_number(seed: int) -> str:
    from residents.my_number import my_number_check_digit

    first = f"{(seed * 7919 + 10_000_000_000) % 10**11:011d}"
    return first + str(my_number_check_digit(first))


class City:
    """The synthetic population: every record derives from (seed, index), so it can be re-generated
    table by table for the COPY baseline without keeping the city in memory."""

    def __init__(self, residents: int, seed: int) -> None:
        self.residents = residents
        self.households = max(1, residents * 105 // 240)
        self.seed = seed
        self.png_b64 = base64.b64encode(_seal_png()).decode()
        rng = random.Random(seed)
        self.birth_offsets = [rng.randrange(0, 95 * 365) for _ in range(residents)]
        adults = [i for i in range(residents) if self.age(i) >= 18]
        self.adults = adults
        self.sealed = sorted(rng.sample(adults, min(len(adults), residents // 3)))
        self.carded = sorted(rng.sample(adults, int(len(adults) * 0.7)))

    def birth(self, i: int) -> date:
        return TODAY - timedelta(days=self.birth_offsets[i] + 1)

    def age(self, i: int) -> int:
        return (self.birth_offsets[i] + 1) // 365

    @staticmethod
    def rcode(i: int) -> str:
        return f"R{i + 1:08d}"

    @staticmethod
    def hcode(h: int) -> str:
        return f"H{h + 1:07d}"

    def household_of(self, i: int) -> int:
        return i * self.households // self.residents

    def address(self, h: int) -> str:
        return f"佐賀県佐賀市{TOWNS[h % len(TOWNS)]}{h % 5 + 1}丁目{h % 40 + 1}番{h % 17 + 1}号"

    def household(self, h: int) -> dict[str, Any]:
        head = -(-h * self.residents // self.households)  # the household's first member
        return {
            "household_code": self.hcode(h),
            "address": self.address(h),
            "head_resident_code": self.rcode(head),
        }

    def resident(self, i: int) -> dict[str, Any]:
        h = self.household_of(i)
        family, family_kana = FAMILY[h % len(FAMILY)]
        given, given_kana, sex = GIVEN[(i * 31 + self.seed) % len(GIVEN)]
        birth = self.birth(i)
        head = self.household_of(i - 1) != h if i else True
        return {
            "resident_code": self.rcode(i),
            "household_code": self.hcode(h),
            "family_name": family,
            "given_name": given,
            "family_name_kana": family_kana,
            "given_name_kana": given_kana,
            "birth_date": birth.isoformat(),
            "sex": sex,
            "relationship": "世帯主"
            if head
            else ("子" if self.age(i) < 25 else "妻" if sex == "female" else "夫"),
            "address": self.address(h),
            "became_resident_on": birth.isoformat(),
            "address_since": max(birth, date(2000, 4, 1)).isoformat(),
            "previous_address": "" if i % 4 else "福岡県福岡市中央区天神1丁目1番1号",
            "honseki": f"佐賀県佐賀市{TOWNS[h % len(TOWNS)]}{h % 40 + 1}番地",
            "hittosha": f"{family}　一郎",
            "my_number": _my_number(i + self.seed * 1_000_003),
            "status": "active",
            "status_changed_on": None,
            "adult_ward": i % 997 == 0,
            "support_measure": i % 1999 == 0,
            "pending_change": False,
        }

    def seal(self, i: int) -> dict[str, Any]:
        return {
            "registration_number": f"S{i + 1:08d}",
            "resident_code": self.rcode(i),
            "seal_image_png": self.png_b64,
            "registered_on": min(
                max(self.birth(i) + timedelta(days=18 * 366), date(1990, 1, 4)), TODAY - timedelta(days=60)
            ).isoformat(),
            "status": "active",
            "abolished_on": None,
        }

    def income(self, i: int, year: int) -> int:
        return ((i * 7_919 + year * 104_729) % 60) * 100_000

    def assessment(self, i: int, year: int) -> dict[str, Any]:
        income = self.income(i, year)
        deductions = 430_000 + (i % 5) * 100_000
        taxable = max(0, income - deductions) // 1000 * 1000
        municipal, prefectural = taxable * 6 // 100, taxable * 4 // 100
        per_capita = (3_500, 1_500) if income > 450_000 else (0, 0)
        return {
            "resident_code": self.rcode(i),
            "fiscal_year": year,
            "address_on_jan1": self.address(self.household_of(i)),
            "declared": i % 23 != 0,
            "income": {"給与所得": income} if income else {},
            "total_income": income,
            "deductions": {"基礎控除": 430_000, "社会保険料控除": deductions - 430_000},
            "total_deductions": deductions,
            "taxable_income": taxable,
            "municipal_income_levy": municipal,
            "municipal_per_capita": per_capita[0],
            "prefectural_income_levy": prefectural,
            "prefectural_per_capita": per_capita[1],
            "total_tax": municipal + prefectural + sum(per_capita),
            "released_on": f"{year}-06-01",
        }

    def payments(self, i: int, year: int) -> Iterator[dict[str, Any]]:
        items = TAX_ITEMS[: 1 + (i % 4 == 0) + (i % 8 == 0)]
        for item in items:
            assessed = self.assessment_total(i, year) if item == TAX_ITEMS[0] else 10_800 + (i % 50) * 1_000
            paid = assessed if (i + year) % 11 else assessed // 2
            yield {
                "resident_code": self.rcode(i),
                "fiscal_year": year,
                "tax_item": item,
                "assessed": assessed,
                "paid": paid,
                "unpaid": assessed - paid,
            }

    def assessment_total(self, i: int, year: int) -> int:
        return int(self.assessment(i, year)["total_tax"])

    def card(self, i: int) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "serial": format(0x1000000 + i * 2_654_435_761 % 2**40, "x"),
            "resident_code": self.rcode(i),
            "active_from": (TODAY - timedelta(days=30 + i % 900)).isoformat(),
        }

    def entity_rows(self, entity: str) -> Iterator[dict[str, Any]]:
        if entity == "household":
            yield from (self.household(h) for h in range(self.households))
        elif entity == "resident":
            yield from (self.resident(i) for i in range(self.residents))
        elif entity == "seal_registration":
            yield from (self.seal(i) for i in self.sealed)
        elif entity == "tax_assessment":
            yield from (self.assessment(i, y) for y in FISCAL_YEARS for i in self.adults)
        elif entity == "tax_payment":
            for year in FISCAL_YEARS:
                for i in self.adults:
                    yield from self.payments(i, year)
        else:
            yield from (self.card(i) for i in self.carded)


ENTITIES = ("household", "resident", "seal_registration", "tax_assessment", "tax_payment", "card_link")


def _key(entity: str, data: dict[str, Any]) -> str:
    if entity == "household":
        return str(data["household_code"])
    if entity == "resident":
        return str(data["resident_code"])
    if entity == "seal_registration":
        return str(data["registration_number"])
    if entity == "tax_assessment":
        return f"{data['resident_code']}:{data['fiscal_year']}"
    if entity == "tax_payment":
        return f"{data['resident_code']}:{data['fiscal_year']}:{data['tax_item']}"
    return f"{data['issuer']}:{data['serial']}"


def batch_write(inbox: Path, number: int, kind: str, lines: Iterator[dict[str, Any]]) -> int:
    digest, count = hashlib.sha256(), 0
    with open(inbox / f"{number:010d}.jsonl", "wb") as handle:
        for line in lines:
            raw = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            digest.update(raw)
            handle.write(raw)
            count += 1
            if count % 200_000 == 0:
                sys.stderr.write(f"\r  writing batch {number}: {count:,} records")
                sys.stderr.flush()
    manifest = {
        "batch": number,
        "kind": kind,
        "records": count,
        "sha256": digest.hexdigest(),
        "created_at": "2026-11-26T02:00:00+09:00",
    }
    (inbox / f"{number:010d}.manifest.json").write_text(json.dumps(manifest))
    sys.stderr.write(f"\r  writing batch {number}: {count:,} records, done\n")
    return count


def full_lines(city: City) -> Iterator[dict[str, Any]]:
    for entity in ENTITIES:
        for data in city.entity_rows(entity):
            yield {"op": "upsert", "entity": entity, "key": _key(entity, data), "data": data}


def delta_lines(city: City, count: int) -> Iterator[dict[str, Any]]:
    """A realistic change batch: moves within the city, new tax payments, new and abolished seals,
    card renewals, a few removals of card links."""
    rng = random.Random(city.seed + 1)
    produced = 0
    while produced < count:
        i = rng.choice(city.adults)
        kind = produced % 5
        if kind == 0:
            data = city.resident(i)
            data["address_since"] = "2026-11-20"
            yield {"op": "upsert", "entity": "resident", "key": data["resident_code"], "data": data}
        elif kind == 1:
            for payment in city.payments(i, 2026):
                payment["paid"] = payment["assessed"]
                payment["unpaid"] = 0
                yield {
                    "op": "upsert",
                    "entity": "tax_payment",
                    "key": _key("tax_payment", payment),
                    "data": payment,
                }
                break
        elif kind == 2:
            card = city.card(i)
            card["serial"] = format(int(card["serial"], 16) + 0x10000000000, "x")
            card["active_from"] = "2026-11-25"
            yield {"op": "upsert", "entity": "card_link", "key": _key("card_link", card), "data": card}
        elif kind == 3:
            data = city.assessment(i, 2026)
            data["declared"] = True
            yield {
                "op": "upsert",
                "entity": "tax_assessment",
                "key": _key("tax_assessment", data),
                "data": data,
            }
        else:
            seal = city.seal(i)
            seal["registration_number"] = f"N{produced:08d}"
            seal["status"] = "abolished"
            seal["abolished_on"] = "2026-11-25"
            yield {
                "op": "upsert",
                "entity": "seal_registration",
                "key": seal["registration_number"],
                "data": seal,
            }
        produced += 1


# --- the COPY baseline ----------------------------------------------------------------------------


def copy_baseline(city: City, dsn: str) -> tuple[float, float, int]:
    """COPY the same rows into plain tables shaped like the mirror's. Only the COPY is timed: building
    the Python tuples (which the service does while parsing) is left out, favouring the baseline."""
    import psycopg

    from residents.models import CardLink, Household, Resident, SealRegistration, TaxAssessment, TaxPayment

    models = dict(
        zip(
            ENTITIES,
            (Household, Resident, SealRegistration, TaxAssessment, TaxPayment, CardLink),
            strict=True,
        )
    )
    png = base64.b64decode(city.png_b64)
    synced = "2026-11-26T02:00:00+09:00"
    resident_id = {city.rcode(i): i + 1 for i in range(city.residents)}
    total, cpu, rows_copied = 0.0, 0.0, 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for entity in ENTITIES:
            model = models[entity]
            table = model._meta.db_table
            columns = [str(f.column) for f in model._meta.concrete_fields if f.column != "id"]
            rows: list[tuple[Any, ...]] = []
            for data in city.entity_rows(entity):
                values = dict(data)
                if entity == "resident":
                    values["household_id"] = int(values.pop("household_code")[1:])
                    values["my_number_encrypted"] = "k1:" + "A" * 56  # same length as a real ciphertext
                    values.pop("my_number")
                elif entity != "household":
                    values["resident_id"] = resident_id[values.pop("resident_code")]
                if entity == "seal_registration":
                    values["seal_image_png"] = png
                if entity == "tax_assessment":
                    values["income"] = json.dumps(values["income"], ensure_ascii=False)
                    values["deductions"] = json.dumps(values["deductions"], ensure_ascii=False)
                if entity != "household":
                    values["synced_at"] = synced
                rows.append(tuple(values[c] for c in columns))
            plain = f"bench_copy_{table}"
            conn.execute(f"DROP TABLE IF EXISTS {plain}")
            conn.execute(f"CREATE TABLE {plain} (LIKE {table} INCLUDING ALL)")
            started, cpu_started = time.perf_counter(), time.process_time()
            with (
                conn.cursor() as cursor,
                cursor.copy(f"COPY {plain} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
            elapsed = time.perf_counter() - started
            cpu += time.process_time() - cpu_started
            total += elapsed
            rows_copied += len(rows)
            _stderr(f"  COPY {entity:<18} {len(rows):>9,} rows {elapsed:6.1f} s")
            del rows
            conn.execute(f"DROP TABLE {plain}")
    return total, cpu, rows_copied


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--residents", type=int, default=240_000)
    parser.add_argument("--delta", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.residents < 10:
        parser.error("--residents must be at least 10")

    workdir = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    try:
        return _run(args, workdir)
    finally:
        # The batches (hundreds of MB at Saga scale) are the bench's own; nothing else lives here.
        shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace, workdir: Path) -> int:
    inbox = workdir / "inbox"
    inbox.mkdir()
    os.environ["SYNC_INBOX_DIR"] = str(inbox)
    os.environ.setdefault("KONBINI_VAR_DIR", str(workdir / "var"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from residents.models import Resident
    from sync.models import Batch, SyncCursor
    from sync.services import sync_run

    if connection.vendor != "postgresql":
        _stderr("bench/sync_load.py needs PostgreSQL: set DATABASE_URL=postgres://...")
        return 2
    settings_dict = connection.settings_dict
    dsn = (
        f"host={settings_dict['HOST'] or '127.0.0.1'} port={settings_dict['PORT'] or 5432} "
        f"dbname={settings_dict['NAME']} user={settings_dict['USER']}"
        + (f" password={settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else "")
    )
    call_command("migrate", verbosity=0)

    _stderr(f"generating a city of {args.residents:,} residents (seed {args.seed})")
    city = City(args.residents, args.seed)
    cursor = SyncCursor.objects.filter(pk=1).first()
    number = cursor.next_batch_number if cursor and cursor.next_batch_number else 1
    records = batch_write(inbox, number, "full", full_lines(city))
    size_mb = (inbox / f"{number:010d}.jsonl").stat().st_size / 1e6
    was_empty = not Resident.objects.exists()

    _stderr("applying the full batch with sync_run (the real service)")
    with Heartbeat("full load"):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = sync_run()
        service_seconds = time.perf_counter() - started
        service_cpu = time.process_time() - cpu_started
    service_peak = _peak_mb()
    if [o.number for o in result.applied] != [number]:
        _stderr(f"the full batch was not applied: {result}")
        return 1
    batch = Batch.objects.get(number=number, status="applied")

    _stderr("COPY baseline: the same rows into plain tables")
    copy_seconds, copy_cpu, copy_rows = copy_baseline(city, dsn)

    _stderr(f"applying a {args.delta:,}-record delta")
    delta_records = batch_write(inbox, number + 1, "delta", delta_lines(city, args.delta))
    with Heartbeat("delta"):
        started = time.perf_counter()
        delta = sync_run()
        delta_seconds = time.perf_counter() - started
    if [o.number for o in delta.applied] != [number + 1]:
        _stderr(f"the delta was not applied: {delta}")
        return 1

    ratio = service_seconds / copy_seconds
    print(
        f"full batch {number:010d}: {records:,} records ({size_mb:.0f} MB), "
        f"{'initial load into an empty mirror' if was_empty else 're-load over a filled mirror'}"
    )
    print(
        f"  households {city.households:,}, residents {city.residents:,}, seals {len(city.sealed):,}, "
        f"card links {len(city.carded):,}, adults {len(city.adults):,}, fiscal years {len(FISCAL_YEARS)}"
    )
    print(
        f"  sync_run (parse, validate, encrypt, upsert, audit): {service_seconds:8.1f} s "
        f"({records / service_seconds:,.0f} records/s, {service_cpu:.1f} s CPU in this process), "
        f"quarantined {batch.records_quarantined}"
    )
    print(
        f"  raw psycopg COPY of the same {copy_rows:,} rows:      {copy_seconds:8.1f} s "
        f"({copy_cpu:.1f} s CPU in this process)"
    )
    print(f"  ratio {ratio:.2f}x (target <= 3x): {'OK' if ratio <= 3 else 'OVER TARGET'}")
    print(
        f"  peak memory (ru_maxrss) after the full load: {service_peak:,.0f} MB (target < 1,536 MB): "
        f"{'OK' if service_peak < 1536 else 'OVER TARGET'}"
    )
    print(
        f"delta batch {number + 1:010d}: {delta_records:,} records in {delta_seconds:.2f} s, "
        f"quarantined {delta.applied[0].records_quarantined}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

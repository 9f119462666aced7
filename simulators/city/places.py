"""Addresses of Saga City (佐賀市, 41201) and of the places people move in from.

Three kinds of town, each written the way a 住民票 prints it:

- 住居表示 towns with 丁目 (旧佐賀市 centre): ``佐賀県佐賀市城内一丁目１番５９号``;
- 住居表示 towns without 丁目: ``佐賀県佐賀市呉服元町７番２８号``;
- 地番 areas (大字, including the towns merged in 2005/2007): ``佐賀県佐賀市大和町大字尼寺１８７０番地３``.

丁目 in kanji numerals, 番/号/番地 in full-width digits, an apartment (方書) after a full-width space.
本籍 is a 地番 or 街区 (``…一丁目１番``, ``…１８７０番地``), never with 号.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

PREFIX = "佐賀県佐賀市"

CHOME = "chome"  # 住居表示, with 丁目
JUKYO = "jukyo"  # 住居表示, no 丁目
CHIBAN = "chiban"  # 地番 (大字 …番地)

_KANJI_DIGITS = "〇一二三四五六七八九"
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def kanji_number(n: int) -> str:
    """1..99 in kanji numerals as 丁目 are written (十一, 二十)."""
    if not 1 <= n <= 99:
        raise ValueError("丁目 numbers run from 1 to 99")
    tens, ones = divmod(n, 10)
    text = "" if tens == 0 else ("十" if tens == 1 else _KANJI_DIGITS[tens] + "十")
    return text + (_KANJI_DIGITS[ones] if ones else "")


def fullwidth(n: int) -> str:
    return str(n).translate(_FULLWIDTH)


@dataclass(frozen=True)
class Town:
    name: str
    kind: str
    weight: int
    chome: int = 0  # how many 丁目 (CHOME towns)
    blocks: int = 30  # highest 番 (住居表示) or a typical highest 番地 (地番)


def _towns(kind: str, rows: str) -> tuple[Town, ...]:
    out = []
    for row in rows.split():
        parts = row.split(":")
        if kind == CHOME:
            out.append(Town(name=parts[0], kind=kind, chome=int(parts[1]), weight=int(parts[2])))
        else:
            out.append(Town(name=parts[0], kind=kind, weight=int(parts[1]), blocks=int(parts[2])))
    return tuple(out)


# 旧佐賀市 centre: 住居表示 with 丁目 (name:丁目数:weight).
_CHOME_TOWNS = _towns(
    CHOME,
    """
    城内:2:3 松原:4:3 白山:2:2 神野東:4:5 神野西:4:4 若宮:3:4 開成:6:6 鍋島:6:7 南佐賀:3:4
    日の出:2:3 駅前中央:3:4 天祐:2:2 大財:6:4 多布施:4:4 水ケ江:6:4 兵庫北:7:7 兵庫南:4:5
    高木瀬東:6:5 高木瀬西:6:5 新栄東:3:3 新栄西:3:3 木原:3:3 光:3:3 神園:6:5 田代:2:2 唐人:2:1
    """,
)
# 住居表示 without 丁目 (name:weight:highest 番).
_JUKYO_TOWNS = _towns(
    JUKYO,
    """
    呉服元町:2:12 栄町:2:10 中央本町:2:8 愛敬町:1:6 八幡小路:1:6 与賀町:2:10 紺屋町:1:5
    赤松町:2:8 中の小路:1:6 東佐賀町:2:12 伊勢町:2:14 川原町:1:8 高木町:1:6 長瀬町:2:10
    """,
)
# 地番 areas of 旧佐賀市 and of the merged towns (name:weight:typical highest 番地).
_CHIBAN_TOWNS = _towns(
    CHIBAN,
    """
    鍋島町大字八戸:5:3000 鍋島町大字八戸溝:4:2000 鍋島町大字森田:3:1200 鍋島町大字蠣久:2:1500
    本庄町大字本庄:6:1500 本庄町大字袋:3:800 本庄町大字鹿子:3:600 本庄町大字正里:2:500
    兵庫町大字藤木:4:1500 兵庫町大字渕:3:2500 兵庫町大字瓦町:2:1200 兵庫町大字西渕:2:800
    高木瀬町大字長瀬:4:2500 高木瀬町大字東高木:3:400 北川副町大字光法:3:1800 北川副町大字新郷:2:900
    北川副町大字江上:2:1200 嘉瀬町大字中原:3:2500 嘉瀬町大字荻野:2:1200 嘉瀬町大字扇町:2:2600
    金立町大字千布:3:4000 金立町大字金立:2:2500 金立町大字薬師丸:2:1800 久保泉町大字川久保:3:3500
    久保泉町大字上和泉:2:2000 久保泉町大字下和泉:2:1500 西与賀町大字厘外:2:900 西与賀町大字高太郎:2:400
    西与賀町大字相応津:1:300 巨勢町大字牛島:3:600 巨勢町大字修理田:2:1200 蓮池町大字蓮池:2:900
    蓮池町大字見島:2:800 諸富町大字為重:3:900 諸富町大字諸富津:3:600 諸富町大字山領:2:700
    諸富町大字寺井津:2:1100 諸富町大字徳富:2:900 大和町大字尼寺:5:3500 大和町大字久池井:3:3000
    大和町大字川上:2:5500 大和町大字東山田:2:3200 大和町大字梅野:1:1200 大和町大字名尾:1:5000
    大和町大字松瀬:1:1300 富士町大字古湯:2:900 富士町大字熊の川:1:500 富士町大字小副川:1:3500
    富士町大字上熊川:1:800 富士町大字下無津呂:1:700 富士町大字市川:1:1800 三瀬村大字三瀬:2:3000
    三瀬村大字藤原:1:2200 三瀬村大字杠:1:1800 川副町大字犬井道:2:1600 川副町大字鹿江:2:800
    川副町大字南里:2:1000 川副町大字福富:2:900 川副町大字小々森:1:1200 川副町大字大詫間:1:600
    川副町大字早津江津:1:300 東与賀町大字下古賀:3:2700 東与賀町大字田中:2:1200 東与賀町大字飯盛:1:900
    東与賀町大字大野:1:1500 久保田町大字徳万:2:2000 久保田町大字久富:2:3500 久保田町大字新田:2:3800
    """,
)

TOWNS: tuple[Town, ...] = _CHOME_TOWNS + _JUKYO_TOWNS + _CHIBAN_TOWNS
_TOWN_WEIGHTS = [town.weight for town in TOWNS]

_BUILDINGS = (
    "コーポ",
    "ハイツ",
    "メゾン",
    "レジデンス",
    "グランドール",
    "パークサイド",
    "サンハイツ",
    "アーバン",
)


@dataclass(frozen=True)
class Place:
    """One dwelling: the address as printed and the 本籍-style 地番 of the same lot."""

    address: str
    honseki: str
    town: str
    is_apartment: bool


def city_place(rng: random.Random, *, allow_apartment: bool = True) -> Place:
    """A dwelling somewhere in Saga City."""
    town = rng.choices(TOWNS, weights=_TOWN_WEIGHTS)[0]
    apartment = ""
    if town.kind == CHOME:
        chome = rng.randint(1, town.chome)
        ban, go = rng.randint(1, 30), rng.randint(1, 40)
        lot = f"{town.name}{kanji_number(chome)}丁目{fullwidth(ban)}番"
        address = f"{PREFIX}{lot}{fullwidth(go)}号"
        honseki = f"{PREFIX}{lot}"
    elif town.kind == JUKYO:
        ban, go = rng.randint(1, town.blocks), rng.randint(1, 35)
        lot = f"{town.name}{fullwidth(ban)}番"
        address = f"{PREFIX}{lot}{fullwidth(go)}号"
        honseki = f"{PREFIX}{lot}"
    else:
        banchi = rng.randint(1, town.blocks)
        lot = f"{town.name}{fullwidth(banchi)}番地"
        branch = fullwidth(rng.randint(1, 12)) if rng.random() < 0.45 else ""
        address = f"{PREFIX}{lot}{branch}"
        honseki = f"{PREFIX}{lot}"
    if allow_apartment and town.kind != CHIBAN and rng.random() < 0.3:
        building = rng.choice(_BUILDINGS) + town.name.removesuffix("町")
        room = rng.randint(1, 6) * 100 + rng.randint(1, 8)
        apartment = f"　{building}{fullwidth(room)}"
    return Place(address=address + apartment, honseki=honseki, town=town.name, is_apartment=bool(apartment))


# Places people move to Saga City from (転入前住所) and 本籍 outside the city:
# prefix, kind, 丁目 count (CHOME) or highest 番地 (CHIBAN).
_OUTSIDE: tuple[tuple[str, str, int, int], ...] = (
    ("福岡県福岡市中央区薬院", CHOME, 4, 6),
    ("福岡県福岡市中央区六本松", CHOME, 4, 3),
    ("福岡県福岡市東区香椎駅前", CHOME, 3, 3),
    ("福岡県福岡市博多区博多駅南", CHOME, 6, 3),
    ("福岡県福岡市早良区西新", CHOME, 7, 3),
    ("福岡県久留米市東合川", CHOME, 9, 3),
    ("福岡県大川市大字酒見", CHIBAN, 900, 2),
    ("福岡県柳川市三橋町今古賀", CHIBAN, 600, 1),
    ("佐賀県鳥栖市本町", CHOME, 3, 3),
    ("佐賀県唐津市和多田大土井", CHIBAN, 800, 2),
    ("佐賀県小城市小城町", CHIBAN, 2500, 3),
    ("佐賀県小城市三日月町長神田", CHIBAN, 2200, 2),
    ("佐賀県神埼市神埼町神埼", CHIBAN, 600, 2),
    ("佐賀県武雄市武雄町大字武雄", CHIBAN, 7000, 2),
    ("佐賀県伊万里市立花町", CHIBAN, 4000, 1),
    ("佐賀県多久市北多久町大字小侍", CHIBAN, 1500, 1),
    ("佐賀県鹿島市大字高津原", CHIBAN, 4000, 1),
    ("佐賀県杵島郡白石町大字福田", CHIBAN, 2500, 1),
    ("長崎県長崎市浜口町", JUKYO, 20, 1),
    ("長崎県佐世保市島瀬町", JUKYO, 12, 1),
    ("熊本県熊本市中央区水前寺", CHOME, 6, 2),
    ("東京都世田谷区三軒茶屋", CHOME, 2, 2),
    ("東京都江東区豊洲", CHOME, 6, 1),
    ("大阪府大阪市北区天神橋", CHOME, 8, 1),
    ("愛知県名古屋市中区栄", CHOME, 5, 1),
)
_OUTSIDE_WEIGHTS = [row[3] for row in _OUTSIDE]


def outside_place(rng: random.Random) -> Place:
    """A dwelling outside Saga City (somebody's 転入前住所 or an outside 本籍)."""
    prefix, kind, size, _weight = rng.choices(_OUTSIDE, weights=_OUTSIDE_WEIGHTS)[0]
    if kind == CHOME:
        lot = f"{prefix}{kanji_number(rng.randint(1, size))}丁目{fullwidth(rng.randint(1, 25))}番"
        address = f"{lot}{fullwidth(rng.randint(1, 30))}号"
    elif kind == JUKYO:
        lot = f"{prefix}{fullwidth(rng.randint(1, size))}番"
        address = f"{lot}{fullwidth(rng.randint(1, 30))}号"
    else:
        lot = f"{prefix}{fullwidth(rng.randint(1, size))}番地"
        address = lot
    return Place(address=address, honseki=lot, town=prefix, is_apartment=False)

"""Names of a synthetic Saga City population: family names common in 佐賀県, given names by birth era.

Every entry is (表記, 読み in full-width katakana, weight). The family names lean on the surnames
that are frequent in Saga (山口, 古賀, 田中, 中島, 松尾 ... and the local 陣内, 執行, 副島, 江頭, 納富,
光武). 川﨑 is written with 﨑 (U+FA11, the たつさき form); IPAex has that glyph, so it is not 外字.
𠮷田 (つちよし, U+20BB7) is the one name the embedded font lacks: it is used only for the ``gaiji``
scenario (SPEC §2: a certificate with a character missing from the font is refused).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Name:
    text: str
    kana: str
    weight: int = 1


def _names(rows: str) -> tuple[Name, ...]:
    out = []
    for row in rows.split():
        text, kana, weight = row.split(":")
        out.append(Name(text=text, kana=kana, weight=int(weight)))
    return tuple(out)


FAMILY_NAMES = _names(
    """
    山口:ヤマグチ:30 古賀:コガ:28 田中:タナカ:26 中島:ナカシマ:22 松尾:マツオ:22 井上:イノウエ:16
    池田:イケダ:14 江口:エグチ:12 山下:ヤマシタ:12 吉田:ヨシダ:11 石橋:イシバシ:10 鶴田:ツルタ:9
    副島:ソエジマ:10 江頭:エガシラ:9 野中:ノナカ:8 大串:オオグシ:7 川﨑:カワサキ:5 山崎:ヤマサキ:7
    北島:キタジマ:7 中尾:ナカオ:9 原:ハラ:7 吉村:ヨシムラ:6 坂本:サカモト:7 森:モリ:6 福田:フクダ:7
    西村:ニシムラ:6 宮崎:ミヤザキ:6 小池:コイケ:6 光武:ミツタケ:4 真崎:マサキ:3 馬場:ババ:5 牟田:ムタ:4
    陣内:ジンノウチ:5 秀島:ヒデシマ:4 納富:ノウドミ:4 執行:シギョウ:3 徳永:トクナガ:6 中村:ナカムラ:10
    田代:タシロ:5 松本:マツモト:7 堤:ツツミ:4 原口:ハラグチ:6 久保:クボ:4 前田:マエダ:5 本村:モトムラ:3
    力武:リキタケ:3 武富:タケドミ:3 草場:クサバ:3 荒木:アラキ:4 坂井:サカイ:3 大坪:オオツボ:4 諸岡:モロオカ:3
    平山:ヒラヤマ:4 緒方:オガタ:4 山田:ヤマダ:5 岩永:イワナガ:4 宮原:ミヤハラ:3 江島:エジマ:3 樋口:ヒグチ:4
    香月:カツキ:2 百武:ヒャクタケ:2 峰:ミネ:3 大石:オオイシ:3 土井:ドイ:2 貞松:サダマツ:2 西岡:ニシオカ:3
    """
)

# The gaiji scenario's family name: 𠮷 (U+20BB7) is absent from IPAex (checked by a test).
GAIJI_FAMILY_NAME = Name(text="𠮷田", kana="ヨシダ", weight=1)

# Given names by the birth years in which they were common (Meiji Yasuda's yearly rankings).
_ERA_GIVEN_NAMES: tuple[tuple[int, int, tuple[Name, ...], tuple[Name, ...]], ...] = (
    (
        1900,
        1925,
        _names("正一:ショウイチ:3 一郎:イチロウ:3 清:キヨシ:3 正雄:マサオ:2 武雄:タケオ:2 義雄:ヨシオ:2"),
        _names("ハル:ハル:3 トミ:トミ:2 キミ:キミ:2 シズ:シズ:2 ハツ:ハツ:2 千代:チヨ:2 ヨシ:ヨシ:2"),
    ),
    (
        1926,
        1945,
        _names(
            "清:キヨシ:5 茂:シゲル:5 勇:イサム:4 博:ヒロシ:4 実:ミノル:4 進:ススム:4 正:タダシ:3 "
            "武:タケシ:3 昭:アキラ:3 勝:マサル:3 三郎:サブロウ:2 幸男:ユキオ:2 正雄:マサオ:2 功:イサオ:2"
        ),
        _names(
            "和子:カズコ:5 幸子:サチコ:5 節子:セツコ:4 洋子:ヨウコ:3 美代子:ミヨコ:3 久子:ヒサコ:3 "
            "文子:フミコ:3 信子:ノブコ:3 静子:シズコ:3 千代子:チヨコ:2 敏子:トシコ:3 京子:キョウコ:2"
        ),
    ),
    (
        1946,
        1964,
        _names(
            "誠:マコト:3 浩:ヒロシ:4 修:オサム:4 隆:タカシ:4 博:ヒロシ:3 和夫:カズオ:3 健一:ケンイチ:3 "
            "秀樹:ヒデキ:2 明:アキラ:3 豊:ユタカ:3 正人:マサト:2 清隆:キヨタカ:1 孝:タカシ:3 勉:ツトム:2"
        ),
        _names(
            "恵子:ケイコ:5 京子:キョウコ:4 洋子:ヨウコ:4 幸子:サチコ:3 和子:カズコ:3 由美子:ユミコ:3 "
            "久美子:クミコ:3 真由美:マユミ:2 智子:トモコ:3 順子:ジュンコ:3 悦子:エツコ:2 弘子:ヒロコ:2"
        ),
    ),
    (
        1965,
        1988,
        _names(
            "誠:マコト:5 浩:ヒロシ:3 大輔:ダイスケ:4 健太:ケンタ:2 拓也:タクヤ:4 直樹:ナオキ:4 和也:カズヤ:4 "
            "剛:ツヨシ:3 達也:タツヤ:3 哲也:テツヤ:3 亮:リョウ:2 学:マナブ:2 健一:ケンイチ:2 秀樹:ヒデキ:2"
        ),
        _names(
            "恵子:ケイコ:2 裕子:ユウコ:5 真由美:マユミ:3 由美:ユミ:3 智子:トモコ:4 陽子:ヨウコ:3 "
            "直美:ナオミ:3 明美:アケミ:2 愛:アイ:3 恵:メグミ:4 香織:カオリ:3 美穂:ミホ:3 久美子:クミコ:2 "
            "さおり:サオリ:1"
        ),
    ),
    (
        1989,
        2018,
        _names(
            "翔太:ショウタ:5 大輝:ダイキ:4 拓海:タクミ:4 翔:ショウ:3 健太:ケンタ:3 大翔:ヒロト:4 蓮:レン:3 "
            "颯太:ソウタ:3 悠斗:ユウト:3 陸:リク:2 海斗:カイト:3 優斗:ユウト:2 大樹:ダイキ:3 悠真:ユウマ:2"
        ),
        _names(
            "美咲:ミサキ:5 陽菜:ヒナ:4 結衣:ユイ:4 葵:アオイ:3 さくら:サクラ:3 彩:アヤ:3 七海:ナナミ:3 "
            "萌:モエ:2 愛:アイ:2 美羽:ミウ:3 結愛:ユア:2 遥:ハルカ:3 彩花:アヤカ:2 優花:ユウカ:2"
        ),
    ),
    (
        2019,
        2100,
        _names(
            "蓮:レン:5 陽翔:ハルト:5 蒼:アオイ:4 湊:ミナト:4 樹:イツキ:3 碧:アオイ:3 悠真:ユウマ:3 律:リツ:2 "
            "朝陽:アサヒ:3 大和:ヤマト:2 陽太:ヒナタ:2 暖:ダン:1"
        ),
        _names(
            "紬:ツムギ:5 凛:リン:4 陽葵:ヒマリ:5 芽依:メイ:3 葵:アオイ:3 澪:ミオ:3 結菜:ユイナ:3 杏:アン:2 "
            "翠:スイ:2 詩:ウタ:2 陽菜:ヒナ:3 結月:ユヅキ:2"
        ),
    ),
)


def given_names_for(*, birth_year: int, sex: str) -> tuple[Name, ...]:
    """The pool of given names common for a child of this sex born in this year."""
    for first, last, male, female in _ERA_GIVEN_NAMES:
        if first <= birth_year <= last:
            return male if sex == "male" else female
    # Older than the table: the oldest era's names.
    return _ERA_GIVEN_NAMES[0][2] if sex == "male" else _ERA_GIVEN_NAMES[0][3]


def all_names() -> tuple[Name, ...]:
    """Every name of the tables (for checks against the font)."""
    out = list(FAMILY_NAMES)
    for _first, _last, male, female in _ERA_GIVEN_NAMES:
        out.extend(male)
        out.extend(female)
    return tuple(out)

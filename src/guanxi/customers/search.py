"""Finding a customer among a million: name substrings, pinyin, numbers.

Chinese names are mostly 2–3 characters, too short for trigram indexes (pg_trgm, FTS5
trigram). So every customer's name is cut into its single characters and character pairs
(`NameToken`, one B-tree on both databases): a query looks up the pair (or the single
character) it starts with and checks the full substring on those candidates only. Pinyin
(full and initials, e.g. `zhangsan` / `zs`) and the phone's last four digits are columns
derived on write and searched by index range.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable

from django.db import connection

# Readings of characters whose common reading differs as a surname (单 Shàn, 曾 Zēng …).
SURNAME_READINGS = {
    "曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "朴": "piao", "区": "ou", "查": "zha", "乐": "yue",
    "盖": "ge", "覃": "qin", "缪": "miao", "秘": "bi", "召": "shao", "种": "chong", "尉": "yu", "长": "chang",
    "柏": "bai", "重": "chong", "翟": "zhai", "沈": "shen", "任": "ren", "华": "hua", "纪": "ji", "宁": "ning",
    "燕": "yan", "那": "na", "万": "wan", "员": "yun", "阚": "kan", "句": "gou", "繁": "po", "隗": "wei",
}


@functools.lru_cache(maxsize=65536)
def char_pinyin(char: str) -> str:
    """The first (most common) reading of a character, without tones; ü is written v as typed."""
    from pypinyin.constants import PINYIN_DICT

    readings = PINYIN_DICT.get(ord(char))
    if not readings:
        return char.lower() if char.isascii() and char.isalnum() else ""
    decomposed = unicodedata.normalize("NFD", readings.split(",")[0]).replace("u\u0308", "v")  # ǚ → v
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_pinyin(name: str, *, is_person: bool = True) -> tuple[str, str]:
    """(full pinyin, initials) of a name: 张三 → ("zhangsan", "zs")."""
    syllables = []
    for index, char in enumerate(name):
        if index == 0 and is_person and char in SURNAME_READINGS:
            syllables.append(SURNAME_READINGS[char])
        else:
            syllable = char_pinyin(char)
            if syllable:
                syllables.append(syllable)
    return "".join(syllables)[:100], "".join(s[0] for s in syllables)[:30]


def derived_fields(*, name: str | None = None, phone: str | None = None, customer_type: str | None = None) -> dict:
    """Search columns derived from the name and phone, set wherever those are written."""
    out = {}
    if name is not None:
        out["name_pinyin"], out["name_initials"] = name_pinyin(name, is_person=customer_type != "company")
    if phone is not None:
        out["phone_last4"] = phone[-4:] if phone else ""
    return out


def name_tokens(name: str) -> set[str]:
    """Single characters and character pairs of a name (lower-cased, spaces dropped)."""
    text = "".join(name.lower().split())
    return {text[i : i + size] for size in (1, 2) for i in range(len(text) - size + 1)}


def write_tokens(pairs: Iterable[tuple[int, str]], *, replace: bool) -> None:
    """(Re)write the name tokens of these customers in bulk (executemany), inside the caller's transaction."""
    from guanxi.customers.models import NameToken

    pairs = list(pairs)
    if not pairs:
        return
    table = NameToken._meta.db_table
    with connection.cursor() as cursor:
        if replace:
            ids = [pk for pk, _name in pairs]
            for start in range(0, len(ids), 900):
                chunk = ids[start : start + 900]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"DELETE FROM {table} WHERE customer_id IN ({marks})", chunk)  # noqa: S608
        cursor.executemany(
            f"INSERT INTO {table} (token, customer_id) VALUES (%s, %s)",  # noqa: S608
            [(token, pk) for pk, name in pairs for token in name_tokens(name)],
        )


def is_cjk(text: str) -> bool:
    return any("\u3400" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" for char in text)

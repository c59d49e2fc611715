"""Finding a customer among a million: name substrings, pinyin, numbers.

Chinese names are mostly 2–3 characters, too short for trigram indexes (pg_trgm, FTS5
trigram). So every customer's name is cut into its single characters and character pairs;
a query looks up the pair (or the single character) it starts with and checks the full
substring on those candidates only. Where the tokens live depends on the database:

- PostgreSQL: `NameToken` rows, one B-tree on (token, customer), filled by COPY on import.
- SQLite: one row per customer in an FTS5 table (`customers_namesearch`, rowid = customer id),
  whose text is the customer's tokens. Writing a customer's tokens there is one row instead of
  six or seven random B-tree inserts (5.5x cheaper on a 300,000-row import), and FTS5 returns the
  matches in rowid order. Each token is written as the hex of its UTF-32 code units (张三 →
  "00005f2000004e09"), so that FTS5's tokenizer keeps every token whole whatever characters a name
  holds (·, -, brackets, Latin letters). A trigger removes the row when the customer is deleted.

Pinyin (full and initials, e.g. `zhangsan` / `zs`) and the phone's last four digits are columns
derived on write and searched by index range.
"""

from __future__ import annotations

import functools
import os
import unicodedata
from collections.abc import Collection, Iterable

from django.db import connection

# Readings of characters whose common reading differs as a surname (单 Shàn, 曾 Zēng …).
SURNAME_READINGS = {
    "曾": "zeng", "单": "shan", "解": "xie", "仇": "qiu", "朴": "piao", "区": "ou", "查": "zha", "乐": "yue",
    "盖": "ge", "覃": "qin", "缪": "miao", "秘": "bi", "召": "shao", "种": "chong", "尉": "yu", "长": "chang",
    "柏": "bai", "重": "chong", "翟": "zhai", "沈": "shen", "任": "ren", "华": "hua", "纪": "ji", "宁": "ning",
    "燕": "yan", "那": "na", "万": "wan", "员": "yun", "阚": "kan", "句": "gou", "繁": "po", "隗": "wei",
}


@functools.cache
def _readings() -> dict[int, str]:
    """pypinyin's table of single characters' readings (code point → "reading,reading,…").

    Only this table is used: pypinyin is told (its documented environment switches) not to
    load its phrase table nor copy the tables, which took 0.5 s in every process that reads a
    name, each of an import's worker processes among them; 0.05 s this way.
    """
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
    os.environ.setdefault("PYPINYIN_NO_DICT_COPY", "1")
    from pypinyin.constants import PINYIN_DICT

    return PINYIN_DICT


@functools.lru_cache(maxsize=65536)
def char_pinyin(char: str) -> str:
    """The first (most common) reading of a character, without tones; ü is written v as typed."""
    readings = _readings().get(ord(char))
    if not readings:
        return char.lower() if char.isascii() and char.isalnum() else ""
    decomposed = unicodedata.normalize("NFD", readings.split(",")[0]).replace("u\u0308", "v")  # ǚ → v
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def name_pinyin(name: str, *, is_person: bool = True) -> tuple[str, str]:
    """(full pinyin, initials) of a name: 张三 → ("zhangsan", "zs")."""
    syllables = list(map(char_pinyin, name))
    if is_person and name and name[0] in SURNAME_READINGS:
        syllables[0] = SURNAME_READINGS[name[0]]
    syllables = [syllable for syllable in syllables if syllable]  # characters without a reading add nothing
    return "".join(syllables)[:100], "".join([syllable[0] for syllable in syllables])[:30]


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
    return {*text, *[text[i : i + 2] for i in range(len(text) - 1)]}  # each character, each pair


FTS_TABLE = "customers_namesearch"


def uses_fts() -> bool:
    """Whether the name tokens live in the FTS5 table (SQLite) rather than in `NameToken` (PostgreSQL)."""
    return _vendor() == "sqlite"


@functools.cache
def _vendor() -> str:
    return connection.vendor  # fixed by the settings; cached, as the import asks for every row


def ensure_fts(using: str = "default") -> None:
    """Create the FTS5 table and its delete trigger where missing (SQLite; run after every migrate).

    Rebuilding the customer table (which some schema changes do on SQLite) drops its triggers:
    this puts the trigger back, so that deleting a customer, or flushing the table, always
    removes its search row.
    """
    from django.db import connections

    conn = connections[using]
    if conn.vendor != "sqlite":
        return
    with conn.cursor() as cursor:
        tables = set(conn.introspection.table_names(cursor))
        if "customers_customer" not in tables:
            return
        cursor.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(tokens, detail=none, columnsize=0)")  # noqa: S608
        delete = f"DELETE FROM {FTS_TABLE} WHERE rowid = old.id"  # noqa: S608
        cursor.execute("CREATE TRIGGER IF NOT EXISTS customers_namesearch_delete AFTER DELETE ON customers_customer "
                       f"BEGIN {delete}; END")


def fts_term(token: str) -> str:
    """A token as FTS5 stores it: 8 hex digits per character (its UTF-32 code), one word whatever the characters."""
    return token.encode("utf-32-be").hex()


_TERMS: dict[str, str] = {}  # token → FTS5 term: names share most of their tokens (a bulk import's hot path)


def fts_text(tokens: Collection[str]) -> str:
    """The FTS5 text of a customer: its tokens' terms, space-separated."""
    terms = _TERMS
    try:
        return " ".join(map(terms.__getitem__, tokens))  # every token seen before: the common case, looped in C
    except KeyError:
        if len(terms) > 200_000:
            terms.clear()
        for token in tokens:
            if token not in terms:
                terms[token] = token.encode("utf-32-be").hex()
        return " ".join(map(terms.__getitem__, tokens))


def fts_token(term: str) -> str:
    """The token an FTS5 term stands for (the inverse of `fts_term`)."""
    return bytes.fromhex(term).decode("utf-32-be")


def tokens_of(customer_id: int) -> set[str]:
    """The name tokens stored for a customer (what the search finds it by)."""
    from guanxi.customers.models import NameToken

    if uses_fts():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT tokens FROM {FTS_TABLE} WHERE rowid = %s", [customer_id])  # noqa: S608
            row = cursor.fetchone()
        return {fts_token(term) for term in row[0].split()} if row else set()
    return set(NameToken.objects.filter(customer_id=customer_id).values_list("token", flat=True))


def filter_by_token(queryset, token: str):
    """Customers of `queryset` with this name token, in customer id order (an index walk on both databases)."""
    if uses_fts():
        from django.db.models.expressions import RawSQL

        match = RawSQL(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s",  # noqa: S608, S611
                       [f'"{fts_term(token)}"'])
        return queryset.filter(pk__in=match).order_by("pk")
    # Driven by the token index in customer order, so the first page of a common surname
    # (王: 7% of the book) is read without gathering and sorting every match.
    return queryset.filter(name_tokens__token=token).order_by("name_tokens__customer_id")


def write_tokens(pairs: Iterable[tuple[int, str]], *, replace: bool) -> None:
    """(Re)write the name tokens of these (customer id, name) in bulk, inside the caller's transaction."""
    from guanxi.customers.models import NameToken

    pairs = list(pairs)
    if not pairs:
        return
    with connection.cursor() as cursor:
        if uses_fts():
            # INSERT OR REPLACE: one statement whether or not the customer had tokens before.
            cursor.executemany(f"INSERT OR REPLACE INTO {FTS_TABLE} (rowid, tokens) VALUES (%s, %s)",  # noqa: S608
                               [(pk, fts_text(name_tokens(name))) for pk, name in pairs])
            return
        table = NameToken._meta.db_table
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

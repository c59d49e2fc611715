"""Reading the facts of customers for the engine: a few big queries through the driver's cursor.

One SELECT per chunk of customer ids gives, per customer, a plain tuple ``(id, org_unit_id,
fact…)`` in the order a `CompiledScorecard` expects: customer columns and derived values are
SQL expressions, the household's labourers one GROUP BY over its members, the collected inputs
one pivot (GROUP BY with ``MAX(CASE …)``) over `RatingInput`. No ORM objects are built. The
population (which customers) is a Django queryset — normally starting from
`Customer.objects.visible_to(user)` — embedded as a subquery, so scoping stays in one place.

One customer and a million go through the same code: the single path reads a chunk of one id.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Max, Min, QuerySet

from guanxi.core.models import OrgUnit
from guanxi.credit.facts import UNBOUNDED_RATIO, Fact, Kind
from guanxi.credit.models import LocalAverage, RatingInput
from guanxi.customers.models import Customer, HouseholdMember

# Plain customer columns, read as they are (money in fen).
CUSTOMER_COLUMNS = {"household_size", "annual_income", "total_assets", "total_liabilities", "deposit_balance",
                    "loan_balance"}


def _customer_expression(key: str, vendor: str) -> tuple[str, list[Any]]:
    """SQL for a fact from the customer record; `%s` parameters marked TODAY are filled by the caller."""
    if key in CUSTOMER_COLUMNS:
        return f"c.{key}", []
    if key == "net_assets":
        return "(c.total_assets - c.total_liabilities)", []
    if key == "debt_ratio":
        # Basis points, truncated like the integer division of the Python path.
        return ("CASE WHEN c.total_assets IS NULL OR c.total_liabilities IS NULL THEN NULL "
                f"WHEN c.total_assets <= 0 THEN (CASE WHEN c.total_liabilities > 0 THEN {UNBOUNDED_RATIO} ELSE 0 END) "
                "ELSE (c.total_liabilities * 10000) / c.total_assets END"), []
    if key == "product_count":
        return ("CASE WHEN c.products = '' THEN 0 "
                "ELSE LENGTH(c.products) - LENGTH(REPLACE(c.products, ';', '')) + 1 END"), []
    if key == "age":
        if vendor == "postgresql":
            return "CAST(date_part('year', age(CAST(%s AS date), c.birth_date)) AS INTEGER)", ["TODAY"]
        return ("CASE WHEN c.birth_date IS NULL THEN NULL ELSE "
                "CAST(strftime('%%Y', %s) AS INTEGER) - CAST(strftime('%%Y', c.birth_date) AS INTEGER) "
                "- (strftime('%%m-%%d', %s) < strftime('%%m-%%d', c.birth_date)) END"), ["TODAY", "TODAY"]
    raise KeyError(key)


class FactQuery:
    """The SELECT that reads `keys` (facts of `fact_table`) for a chunk of customers of a population."""

    def __init__(self, keys: Sequence[str], fact_table: dict[str, Fact], *, today: date) -> None:
        vendor = connection.vendor
        self.keys = list(keys)
        self.expressions: list[str] = []  # one per fact, in `keys` order
        self.select_params: list[Any] = []
        self.inputs: list[tuple[str, str, Fact]] = []
        self.members = False
        for key in self.keys:
            fact = fact_table[key]
            if fact.origin == "input":
                alias = f"i{len(self.inputs)}"
                self.inputs.append((alias, key, fact))
                self.expressions.append(f"i.{alias}")
            elif fact.origin == "members":
                self.members = True
                self.expressions.append("m.labourers")
            else:
                sql, params = _customer_expression(key, vendor)
                self.expressions.append(sql)
                self.select_params += [today.isoformat() if p == "TODAY" else p for p in params]

    def joins(self, low: int, high: int) -> tuple[str, list[Any]]:
        """The members count and the inputs pivot, each one GROUP BY over the id range."""
        sql, params = "", []
        if self.members:
            members = HouseholdMember._meta.db_table
            sql += (" LEFT JOIN (SELECT customer_id, SUM(CASE WHEN is_labourer THEN 1 ELSE 0 END) AS labourers "  # noqa: S608
                    f"FROM {members} WHERE customer_id >= %s AND customer_id < %s GROUP BY customer_id) m "
                    "ON m.customer_id = c.id")
            params += [low, high]
        if self.inputs:
            pivots = []
            for alias, key, fact in self.inputs:
                column = "value" if fact.kind == Kind.CATEGORY else "number"
                pivots.append(f"MAX(CASE WHEN key = %s THEN {column} END) AS {alias}")
                params.append(key)
            marks = ", ".join(["%s"] * len(self.inputs))
            sql += (f" LEFT JOIN (SELECT customer_id, {', '.join(pivots)} FROM {RatingInput._meta.db_table} "  # noqa: S608
                    f"WHERE customer_id >= %s AND customer_id < %s AND key IN ({marks}) GROUP BY customer_id) i "
                    "ON i.customer_id = c.id")
            params += [low, high, *(key for _alias, key, _fact in self.inputs)]
        return sql, params

    def sql(self, population: QuerySet, low: int, high: int) -> tuple[str, list[Any]]:
        joins, join_params = self.joins(low, high)
        chunk = population.filter(pk__gte=low, pk__lt=high).order_by().values("pk")
        subquery, sub_params = chunk.query.sql_with_params()
        select = ", ".join(["c.id", "c.org_unit_id", *self.expressions])
        sql = (f"SELECT {select} FROM {Customer._meta.db_table} c{joins} "  # noqa: S608 - generated names, %s only
               f"WHERE c.id >= %s AND c.id < %s AND c.id IN ({subquery}) ORDER BY c.id")
        return sql, [*self.select_params, *join_params, low, high, *sub_params]

    def rows(self, population: QuerySet, low: int, high: int) -> list[tuple]:
        try:
            sql, params = self.sql(population, low, high)
        except EmptyResultSet:  # a scope that is nothing (`.none()`)
            return []
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def id_chunks(size: int) -> Iterator[tuple[int, int]]:
    """Half-open id ranges covering every customer, `size` ids each."""
    bounds = Customer.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        return
    low = bounds["low"]
    while low <= bounds["high"]:
        yield low, low + size
        low += size


def read_one(keys: Sequence[str], fact_table: dict[str, Fact], customer: Customer, *, today: date) -> tuple | None:
    """The fact row of one customer (through the same query as a batch)."""
    rows = FactQuery(keys, fact_table, today=today).rows(Customer.objects.filter(pk=customer.pk), customer.pk,
                                                         customer.pk + 1)
    return rows[0] if rows else None


def local_averages() -> dict[int, dict[str, int]]:
    """Every org unit's local averages in fen, a unit without its own value inheriting its nearest ancestor's."""
    own: dict[int, dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT org_unit_id, key, amount FROM {LocalAverage._meta.db_table}")  # noqa: S608
        for unit_id, key, amount in cursor.fetchall():
            own.setdefault(unit_id, {})[key] = int(amount)
    result: dict[int, dict[str, int]] = {}
    for unit_id, path in OrgUnit.objects.values_list("pk", "path"):
        merged: dict[str, int] = {}
        for ancestor in (int(part) for part in path.strip("/").split("/") if part):
            merged.update(own.get(ancestor, {}))
        result[unit_id] = merged
    return result

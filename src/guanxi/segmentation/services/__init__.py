"""Segmentation operations: recompute sub-markets, product classes and value tiers; edit the mapping.

The recompute is set-based: per market line, one INSERT … SELECT writes the tier moves into the
history, then one UPDATE sets sub-market, tier and product flags of every customer whose values
change. The mapping rules are read once and become a CASE expression; the thresholds are joined
from their table. Nothing loops over customers in Python. Works the same on SQLite and PostgreSQL
(balances are integer fen on both).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import User
from guanxi.core.roles import MarketLine, Role
from guanxi.customers.models import Customer
from guanxi.segmentation.models import RuleKind, SubMarket, SubMarketRule, TierChange, TierThreshold

# Product codes that make a customer a deposit / loan customer; any other code is intermediary business.
DEPOSIT_CODE = "DEP"
LOAN_CODE = "LOAN"


@dataclass
class RecomputeResult:
    """What one recompute changed, per market line."""

    moved: dict[str, int] = field(default_factory=dict)  # tier changes written
    updated: dict[str, int] = field(default_factory=dict)  # customers whose stored values changed
    seconds: float = 0.0

    @property
    def total_moved(self) -> int:
        return sum(self.moved.values())

    @property
    def total_updated(self) -> int:
        return sum(self.updated.values())


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _rule_runs(market: str) -> tuple[list[tuple[bool, list[SubMarketRule]]], str]:
    """A line's mapping rules in priority order, as runs of consecutive rules of one kind (industry rules?,
    rules), and the line's default sub-market code."""
    rules = SubMarketRule.objects.filter(market=market).select_related("sub_market").order_by("priority", "id")
    default = SubMarket.objects.filter(market=market, is_default=True).values_list("code", flat=True).first() or ""
    runs: list[tuple[bool, list[SubMarketRule]]] = []
    for rule in rules:
        industry = rule.kind == RuleKind.INDUSTRY_SECTION
        if runs and runs[-1][0] == industry:
            runs[-1][1].append(rule)
        else:
            runs.append((industry, [rule]))
    return runs, default


def _thresholds_ensure() -> None:
    """Every line has its thresholds row (the defaults until someone sets them)."""
    for market in MarketLine.values:
        TierThreshold.objects.get_or_create(market=market)


def sub_market_sql(market: str) -> tuple[str, list[Any]]:
    """The CASE expression (over `c.industry` / `c.address`) giving a customer's sub-market code.

    The rules apply in priority order, the first that matches wins. A run of consecutive
    industry rules is one CASE on the section letter, computed once per row rather than once
    per rule (this expression runs for every row of a recompute or a bulk import); the rest of
    the chain is its ELSE.
    """
    runs, default = _rule_runs(market)
    sql, params = "%s", [default]
    for industry, run in reversed(runs):
        whens = " ".join(["WHEN %s THEN %s" if industry else "WHEN c.address LIKE %s ESCAPE '\\' THEN %s"] * len(run))
        head = "CASE substr(c.industry, 1, 1) " if industry else "CASE "
        run_params = [value for rule in run for value in (
            rule.value.upper() if industry else _like_pattern(rule.value), rule.sub_market.code)]
        sql, params = f"{head}{whens} ELSE {sql} END", [*run_params, *params]
    return sql, params


# The tier of a customer against its line's thresholds `t` (all amounts integer fen).
TIER_SQL = (
    "CASE WHEN c.deposit_balance >= t.deposit_high OR c.loan_balance >= t.loan_high THEN 'high' "
    "WHEN c.deposit_balance >= t.deposit_mid OR c.loan_balance >= t.loan_mid THEN 'mid' ELSE 'general' END"
)
# Product classes: codes are stored deduplicated, separated by ';' (see the balance import).
# Most customers hold no product codes (a registration carries none): the CASEs skip the string
# work for them.
DEPOSIT_SQL = ("CASE WHEN c.products = '' THEN c.deposit_balance > 0 "
               "ELSE (c.deposit_balance > 0 OR (';' || c.products || ';') LIKE %s) END")
LOAN_SQL = ("CASE WHEN c.products = '' THEN c.loan_balance > 0 "
            "ELSE (c.loan_balance > 0 OR (';' || c.products || ';') LIKE %s) END")
INTERMEDIARY_SQL = ("CASE WHEN c.products = '' THEN FALSE "
                    "ELSE (replace(replace(';' || c.products || ';', ';DEP;', ';'), ';LOAN;', ';') "
                    "NOT IN (';', ';;')) END")


def sub_markets_sql(markets: list[str]) -> tuple[str, list[Any]]:
    """The sub-market CASE for one line, or for several switching on the customer's line."""
    if len(markets) == 1:
        return sub_market_sql(markets[0])
    parts, sub_params = [], []
    for market in markets:
        sql, params = sub_market_sql(market)
        parts.append(f"WHEN %s THEN {sql}")
        sub_params += [market, *params]
    return "CASE c.market " + " ".join(parts) + " ELSE '' END", sub_params


def recompute_statements(markets: list[str], *, ids_sql: str = "", ids: list[int] | None = None,
                         changed_at=None, as_of: date | None = None,
                         sub_markets: tuple[str, list[Any]] | None = None) -> list[tuple[str, list[Any]]]:
    """The two statements of a recompute: history INSERT … SELECT, then the UPDATE.

    One market line (the full recompute runs one pair per line) or several at once (a batch of
    newly registered customers): the sub-market CASE then switches on the customer's line.
    `sub_markets` is that CASE when the caller already built it (`sub_markets_sql`).
    """
    customers = Customer._meta.db_table
    thresholds = TierThreshold._meta.db_table
    changes = TierChange._meta.db_table
    sub_sql, sub_params = sub_markets or sub_markets_sql(markets)
    # (With ids, the line is not for an index to narrow by: `c.market || ''` keeps the planner on the
    # ids; SQLite scanned the line's index for 50,000 ids out of a million, 1 s a batch.)
    market = "c.market || ''" if ids_sql else "c.market"
    if len(markets) == 1:
        line_sql, line_params = f"{market} = %s", list(markets)
    else:
        line_sql, line_params = f"{market} IN ({', '.join(['%s'] * len(markets))})", list(markets)
    flag_params = [f"%;{DEPOSIT_CODE};%", f"%;{LOAN_CODE};%"]
    ids = ids or []
    insert = (
        f"INSERT INTO {changes} (customer_id, old_tier, new_tier, changed_at, as_of) "  # noqa: S608
        f"SELECT c.id, c.tier, {TIER_SQL}, %s, %s FROM {customers} c "
        f"JOIN {thresholds} t ON t.market = c.market WHERE {line_sql} AND c.tier <> {TIER_SQL}{ids_sql}"
    )
    insert_params = [connection.ops.adapt_datetimefield_value(changed_at),
                     connection.ops.adapt_datefield_value(as_of), *line_params, *ids]
    update = (
        f"UPDATE {customers} AS c SET tier = {TIER_SQL}, sub_market = {sub_sql}, "  # noqa: S608
        f"is_deposit_customer = {DEPOSIT_SQL}, is_loan_customer = {LOAN_SQL}, "
        f"is_intermediary_customer = {INTERMEDIARY_SQL} "
        f"FROM {thresholds} t WHERE t.market = c.market AND {line_sql}{ids_sql} AND ("
        f"c.tier <> {TIER_SQL} OR c.sub_market <> {sub_sql} OR c.is_deposit_customer <> {DEPOSIT_SQL} "
        f"OR c.is_loan_customer <> {LOAN_SQL} OR c.is_intermediary_customer <> {INTERMEDIARY_SQL})"
    )
    update_params = [*sub_params, *flag_params, *line_params, *ids, *sub_params, *flag_params]
    return [(insert, insert_params), (update, update_params)]


def insert_columns_sql() -> tuple[list[str], str, list[Any], str]:
    """The segment columns of customers created by one INSERT … SELECT from rows aliased `c`.

    (columns, their SQL expressions, the parameters, the join they need): the same CASEs as
    the recompute (`recompute_statements`), so a customer created this way is segmented
    exactly as `segments_recompute` would segment it, without writing its row twice.
    """
    _thresholds_ensure()
    sub_sql, sub_params = sub_markets_sql(list(MarketLine.values))
    columns = ["tier", "sub_market", "is_deposit_customer", "is_loan_customer", "is_intermediary_customer"]
    expressions = f"{TIER_SQL}, {sub_sql}, {DEPOSIT_SQL}, {LOAN_SQL}, {INTERMEDIARY_SQL}"
    join = f"LEFT JOIN {TierThreshold._meta.db_table} t ON t.market = c.market"  # (every line has its row)
    return columns, expressions, [*sub_params, f"%;{DEPOSIT_CODE};%", f"%;{LOAN_CODE};%"], join


class NewCustomerSegments:
    """The segment columns of a new customer, computed in Python exactly as `insert_columns_sql` computes them.

    For an import that writes new customers with COPY (PostgreSQL), in its worker processes: it
    pickles (plain data only). Called with one customer's values in the order of the `columns`
    it was made for; returns (tier, sub-market, deposit, loan and intermediary customer) for a
    customer holding no product codes, as every registration does. The rules and thresholds are
    read once, when it is made (`new_customer_segments`); `LIKE` on the address as the database
    compares (PostgreSQL: case-sensitive; SQLite: ASCII letters in either case).
    """

    columns = ("tier", "sub_market", "is_deposit_customer", "is_loan_customer", "is_intermediary_customer")

    def __init__(self, positions: tuple[int, int, int, int, int], thresholds: dict[str, tuple[int, int, int, int]],
                 chains: dict[str, tuple[list[tuple[bool, Any]], str]], fold_case: bool):
        self.positions = positions  # of market, industry, address, deposit balance, loan balance
        self.thresholds = thresholds  # line -> (deposit high, loan high, deposit mid, loan mid), fen
        # line -> ([(industry run?, {section: code} or [(keyword, code)]), …] in priority order, default code)
        self.chains = chains
        self.fold_case = fold_case

    def sub_market(self, market: str, industry: str | None, address: str | None) -> str:
        chain = self.chains.get(market)
        if chain is None:
            return ""
        runs, default = chain
        for industry_run, rules in runs:
            if industry_run:
                if industry is not None:  # (NULL matches no WHEN; '' matches a rule of '' as in SQL)
                    code = rules.get(industry[:1])
                    if code is not None:
                        return code
            elif address is not None:
                text = address.translate(_ASCII_LOWER) if self.fold_case else address
                for keyword, code in rules:
                    if keyword in text:
                        return code
        return default

    def __call__(self, values) -> tuple[str, str, bool, bool, bool]:
        m, i, a, d, lo = self.positions
        market, deposit, loan = values[m], values[d], values[lo]
        deposit_high, loan_high, deposit_mid, loan_mid = self.thresholds[market]
        if deposit >= deposit_high or loan >= loan_high:
            tier = "high"
        elif deposit >= deposit_mid or loan >= loan_mid:
            tier = "mid"
        else:
            tier = "general"
        return tier, self.sub_market(market, values[i], values[a]), deposit > 0, loan > 0, False


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def new_customer_segments(columns: Sequence[str]) -> NewCustomerSegments:
    """`NewCustomerSegments` for customers' values given in the order of `columns` (which name at least
    market, industry, address, deposit_balance and loan_balance), with the rules and thresholds of now."""
    thresholds_table = TierThreshold._meta.db_table
    _thresholds_ensure()
    with connection.cursor() as cursor:  # the amounts as stored: integer fen
        cursor.execute(f"SELECT market, deposit_high, loan_high, deposit_mid, loan_mid FROM {thresholds_table}")  # noqa: S608
        thresholds = {row[0]: tuple(row[1:]) for row in cursor.fetchall()}
    fold_case = connection.vendor == "sqlite"
    chains = {}
    for market in MarketLine.values:
        runs, default = _rule_runs(market)
        chain: list[tuple[bool, Any]] = []
        for industry, run in runs:
            if industry:  # (reversed: the first WHEN that matches wins)
                chain.append((True, {rule.value.upper(): rule.sub_market.code for rule in reversed(run)}))
            else:
                chain.append((False, [(rule.value.translate(_ASCII_LOWER) if fold_case else rule.value,
                                       rule.sub_market.code) for rule in run]))
        chains[market] = (chain, default)
    positions = tuple(list(columns).index(name)
                      for name in ("market", "industry", "address", "deposit_balance", "loan_balance"))
    return NewCustomerSegments(positions, thresholds, chains, fold_case)


def _id_conditions(customer_ids: Sequence[int]) -> Iterator[tuple[str, list[Any]]]:
    """SQL conditions on `c.id` that together select these ids: one BETWEEN for a range of
    consecutive ids (an import batch), one text parameter split by the database for a long list
    (an import's updated customers), else an IN list."""
    if isinstance(customer_ids, range) and customer_ids.step == 1:
        if customer_ids:
            yield " AND c.id BETWEEN %s AND %s", [customer_ids[0], customer_ids[-1]]
        return
    if len(customer_ids) > 900:
        if connection.vendor == "postgresql":
            yield " AND c.id = ANY(string_to_array(%s, ',')::bigint[])", [",".join(map(str, customer_ids))]
        else:
            yield " AND c.id IN (SELECT value FROM json_each(%s))", [json.dumps(list(customer_ids))]
        return
    for start in range(0, len(customer_ids), 900):
        chunk = list(customer_ids[start : start + 900])
        yield f" AND c.id IN ({', '.join(['%s'] * len(chunk))})", chunk


def _thresholds_lock() -> None:
    """Make sure every line has thresholds, then lock them: recomputes run one at a time.

    Two recomputes at once (a feed and the nightly job) would otherwise both see the old tiers
    and write each move twice.
    """
    _thresholds_ensure()
    list(TierThreshold.objects.select_for_update().order_by("market").values_list("pk", flat=True))


def segments_recompute(
    *, acting_user: User | None, as_of: date | None = None, markets: list[str] | None = None,
    customer_ids: Sequence[int] | None = None, record_history: bool = True,
) -> RecomputeResult:
    """Recompute sub-market, tier and product flags of every customer (or of `customer_ids`).

    Anyone may trigger it (it derives data, it does not choose it); `acting_user` None is the
    system. For each market line, first the customers whose tier changes are written to
    `TierChange` (dated `as_of`, default today), then the customers are updated: exactly the
    customers whose balances crossed a threshold move. One transaction, one audit entry (none for
    a batch of `customer_ids`, the newly registered customers, which also get no history:
    `record_history=False` is meant for them only — they had no tier to move from).
    """
    started = time.monotonic()
    as_of = as_of or timezone.localdate()
    changed_at = timezone.now()
    result = RecomputeResult()
    with transaction.atomic():
        _thresholds_lock()
        lines = list(markets or MarketLine.values)
        if customer_ids is None:
            for market in lines:
                insert, update = recompute_statements([market], changed_at=changed_at, as_of=as_of)
                with connection.cursor() as cursor:
                    if record_history:
                        cursor.execute(*insert)
                        result.moved[market] = max(cursor.rowcount or 0, 0)
                    cursor.execute(*update)
                    result.updated[market] = max(cursor.rowcount or 0, 0)
        else:
            # A batch of customers: every line in one statement pair per chunk of ids.
            sub_markets = sub_markets_sql(lines)  # the mapping's rules read once, not per chunk
            for ids_sql, chunk in _id_conditions(customer_ids):
                insert, update = recompute_statements(lines, ids_sql=ids_sql, ids=chunk, changed_at=changed_at,
                                                      as_of=as_of, sub_markets=sub_markets)
                with connection.cursor() as cursor:
                    if record_history:
                        cursor.execute(*insert)
                        result.moved["*"] = result.moved.get("*", 0) + max(cursor.rowcount or 0, 0)
                    cursor.execute(*update)
                    result.updated["*"] = result.updated.get("*", 0) + max(cursor.rowcount or 0, 0)
        if customer_ids is None:
            audit.record(actor=acting_user, action="segments.recompute", object_type="segmentation.tierchange",
                         object_repr=str(as_of),
                         changes={"as_of": str(as_of), "moved": result.moved, "updated": result.updated})
    result.seconds = time.monotonic() - started
    return result


# --- the mapping (system administrator) -----------------------------------------------------------


def can_edit_rules(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role == Role.SYSADMIN)


def can_edit_threshold(user: User, market: str) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    return user.role == Role.SYSADMIN or (user.role == Role.LINE_DEPT and user.market_line == market)


RULE_FIELDS = ("market", "kind", "value", "sub_market", "priority")


def _rule_snapshot(rule: SubMarketRule) -> dict[str, Any]:
    return {"market": rule.market, "kind": rule.kind, "value": rule.value,
            "sub_market": rule.sub_market.code if rule.sub_market_id else None, "priority": rule.priority}


def submarket_rule_save(*, acting_user: User, rule: SubMarketRule | None = None,
                        market: str, kind: str, value: str, sub_market: SubMarket, priority: int) -> SubMarketRule:
    """Create or change one mapping rule, then recompute the affected line(s). System administrator only.

    The sub-market must belong to the rule's market line; an industry section is one letter A–T.
    Audited (`segments.rule_create` / `segments.rule_update`) in the same transaction.
    """
    if not can_edit_rules(acting_user):
        raise PermissionDenied(_("Only the system administrator edits the sub-market rules."))
    value = (value or "").strip()
    if kind == RuleKind.INDUSTRY_SECTION:
        value = value.upper()
        if len(value) != 1 or not ("A" <= value <= "T"):
            raise ValidationError({"value": [_("An industry section is one letter from A to T.")]})
    if sub_market.market != market:
        raise ValidationError({"sub_market": [_("This sub-market belongs to another market line.")]})
    with transaction.atomic():
        creating = rule is None
        before = {} if creating else _rule_snapshot(rule)
        rule = rule or SubMarketRule()
        old_market = rule.market if not creating else market
        rule.market, rule.kind, rule.value, rule.sub_market, rule.priority = market, kind, value, sub_market, priority
        rule.full_clean()
        rule.save()
        audit.record(actor=acting_user, action="segments.rule_create" if creating else "segments.rule_update",
                     obj=rule, changes=audit.diff(before, _rule_snapshot(rule)))
        segments_recompute(acting_user=acting_user, markets=sorted({market, old_market}))
    return rule


def submarket_rule_delete(*, acting_user: User, rule: SubMarketRule) -> None:
    """Remove one mapping rule and recompute its line. System administrator only; audited."""
    if not can_edit_rules(acting_user):
        raise PermissionDenied(_("Only the system administrator edits the sub-market rules."))
    with transaction.atomic():
        audit.record(actor=acting_user, action="segments.rule_delete", obj=rule,
                     changes=audit.diff(_rule_snapshot(rule), {}))
        market = rule.market
        rule.delete()
        segments_recompute(acting_user=acting_user, markets=[market])


THRESHOLD_FIELDS = ("deposit_high", "loan_high", "deposit_mid", "loan_mid")


def tier_threshold_update(*, acting_user: User, market: str, deposit_high: Decimal, loan_high: Decimal,
                          deposit_mid: Decimal, loan_mid: Decimal, as_of: date | None = None) -> TierThreshold:
    """Change a market line's tier thresholds (yuan) and recompute that line, recording the moves.

    The system administrator, or the line department of that line. Mid thresholds may not exceed
    the high ones; amounts are not negative. Audited (`segments.threshold_update`).
    """
    if market not in MarketLine.values:
        raise ValidationError({"market": [_("Unknown market line.")]})
    if not can_edit_threshold(acting_user, market):
        raise PermissionDenied(_("Only the system administrator or this line's department edits its thresholds."))
    values = {"deposit_high": deposit_high, "loan_high": loan_high, "deposit_mid": deposit_mid, "loan_mid": loan_mid}
    errors: dict[str, list[str]] = {}
    for name, amount in values.items():
        if amount is None or Decimal(amount) < 0:
            errors[name] = [_("Enter an amount of zero or more.")]
    if not errors:
        if Decimal(deposit_mid) > Decimal(deposit_high):
            errors["deposit_mid"] = [_("The mid-range threshold may not exceed the high-end one.")]
        if Decimal(loan_mid) > Decimal(loan_high):
            errors["loan_mid"] = [_("The mid-range threshold may not exceed the high-end one.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        _thresholds_lock()  # all lines, in the recompute's order (no deadlock with a running recompute)
        threshold = TierThreshold.objects.get(market=market)
        before = {name: getattr(threshold, name) for name in THRESHOLD_FIELDS}
        for name, amount in values.items():
            setattr(threshold, name, Decimal(amount).quantize(Decimal("0.01")))
        threshold.updated_at = timezone.now()
        threshold.updated_by = acting_user
        threshold.save()
        threshold.refresh_from_db()
        audit.record(actor=acting_user, action="segments.threshold_update", obj=threshold,
                     changes=audit.diff(before, {name: getattr(threshold, name) for name in THRESHOLD_FIELDS}))
        segments_recompute(acting_user=acting_user, markets=[market], as_of=as_of)
    return threshold


# Territories and target lists live in their own modules; their main entry points are importable from here too.
from guanxi.segmentation.services.target_lists import target_list_entry_update  # noqa: E402, F401
from guanxi.segmentation.services.territories import territory_route  # noqa: E402, F401

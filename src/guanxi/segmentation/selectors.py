"""Read queries of segmentation, always starting from the user's data scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Length, StrIndex
from django.db.models.lookups import GreaterThan
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.fields import sum_to_yuan
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import MarketLine, Role
from guanxi.core.validators import normalize_text
from guanxi.customers.models import Customer, CustomerStatus, CustomerTier
from guanxi.relationships.models import Assignment  # read-only: who owns a customer
from guanxi.segmentation.models import (
    DONE_STATUSES,
    DOWN_MOVES,
    UP_MOVES,
    EntryStatus,
    SubMarket,
    SubMarketRule,
    TargetList,
    TargetListEntry,
    TargetListEntryUpdate,
    TargetListStatus,
    Territory,
    TerritoryKeyword,
    TierChange,
    TierThreshold,
    overdue_q,
)

# The market lines in the order of the plan's forms (公司 / 个人 / 三农 are the plan's words).
MARKET_ORDER = [MarketLine.AGRI, MarketLine.COMPANY, MarketLine.PERSONAL]
TIER_ORDER = [CustomerTier.HIGH, CustomerTier.MID, CustomerTier.GENERAL]
# 附件1 is the table of existing customers (存量客户), 附件2 that of target customers (目标客户).
FORMS = {
    CustomerStatus.EXISTING: (1, _("Segmentation statistics of existing customers")),
    CustomerStatus.PROSPECT: (2, _("Segmentation statistics of target customers")),
}


def org_units_for(user: User) -> QuerySet[OrgUnit]:
    """The org units whose table a user may ask for: the whole tree for bank-wide roles, else their subtree."""
    if not user.is_authenticated or user.org_unit_id is None:
        return OrgUnit.objects.none()
    if user.role in (Role.LINE_DEPT, Role.AUDITOR):
        return OrgUnit.objects.all()
    return OrgUnit.objects.subtree(user.org_unit)


def default_org_unit(user: User) -> OrgUnit | None:
    if user.org_unit_id is None:
        return None
    if user.role in (Role.LINE_DEPT, Role.AUDITOR):
        return OrgUnit.objects.filter(parent__isnull=True).order_by("path").first() or user.org_unit
    return user.org_unit


@dataclass
class Cell:
    """One cell of the table: count and exact sums (Decimal yuan, summed as integer fen)."""

    count: int = 0
    deposit: Decimal = Decimal("0.00")
    loan: Decimal = Decimal("0.00")
    market: str = ""
    tier: str = ""

    def add(self, other: Cell) -> None:
        self.count += other.count
        self.deposit += other.deposit
        self.loan += other.loan


@dataclass
class SegmentTable:
    """附件1/附件2: market line × tier, with row and column totals."""

    org_unit: OrgUnit
    status: str
    as_of: date | None
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, market: str, tier: str) -> Cell:
        return self.cells[(market, tier)]

    @property
    def rows(self) -> list[tuple[str, str, list[Cell]]]:
        """(market code, label, cells of the tiers + the row total); the last row is the grand total."""
        out = []
        for market in [*MARKET_ORDER, ""]:
            label = MarketLine(market).label if market else _("Total")
            out.append((market, label, [self.cells[(market, tier)] for tier in [*TIER_ORDER, ""]]))
        return out

    @property
    def total(self) -> Cell:
        return self.cells[("", "")]

    @property
    def form_number(self) -> int:
        return FORMS[self.status][0]

    @property
    def title(self) -> str:
        return str(FORMS[self.status][1])


def tier_labels() -> list[tuple[str, str]]:
    return [(tier, CustomerTier(tier).label) for tier in TIER_ORDER] + [("", _("Total"))]


def segment_table(*, user: User, org_unit: OrgUnit, status: str = CustomerStatus.EXISTING) -> SegmentTable:
    """Counts and balance sums by market line × tier over the user's scope ∩ the unit's subtree.

    One GROUP BY query; totals are added up from its integer-fen sums, so they are exact.
    Records merged into another customer are left out (they are counted under the survivor).
    """
    # The subtree's unit ids as a literal list, so the database walks the covering index
    # (org_unit, market, tier, status, balances) unit by unit instead of joining every customer.
    unit_ids = list(OrgUnit.objects.subtree(org_unit).values_list("pk", flat=True))
    customers = (Customer.objects.visible_to(user)
                 .filter(org_unit_id__in=unit_ids, status=status, merged_into__isnull=True))
    # Grouped by unit too, in the index's own order (org_unit, market, tier): no sort, no table reads.
    grouped = (customers.order_by().values("org_unit_id", "market", "tier")
               .annotate(n=Count("id"), deposit=Sum("deposit_balance"), loan=Sum("loan_balance")))
    table = SegmentTable(org_unit=org_unit, status=status, as_of=None)
    for market in [*MARKET_ORDER, ""]:
        for tier in [*TIER_ORDER, ""]:
            table.cells[(market, tier)] = Cell(market=market, tier=tier)
    for row in grouped:
        if row["market"] not in MARKET_ORDER or row["tier"] not in TIER_ORDER:
            continue
        value = Cell(count=row["n"], deposit=sum_to_yuan(row["deposit"]), loan=sum_to_yuan(row["loan"]))
        for key in ((row["market"], row["tier"]), (row["market"], ""), ("", row["tier"]), ("", "")):
            table.cells[key].add(value)
    return table


def tier_changes(*, user: User, start: date | None = None, end: date | None = None, direction: str = "",
                 market: str = "") -> QuerySet[TierChange]:
    """Tier moves of the customers the user may see, dated (`as_of`) within [start, end]."""
    changes = TierChange.objects.filter(customer__in=Customer.objects.visible_to(user).values("pk"))
    if start:
        changes = changes.filter(as_of__gte=start)
    if end:
        changes = changes.filter(as_of__lte=end)
    if direction in ("down", "up"):
        pairs = DOWN_MOVES if direction == "down" else UP_MOVES
        condition = Q()
        for old, new in pairs:
            condition |= Q(old_tier=old, new_tier=new)
        changes = changes.filter(condition)
    if market:
        changes = changes.filter(customer__market=market)
    return changes.select_related("customer", "customer__org_unit").order_by("-as_of", "-id")


def rules_list() -> QuerySet[SubMarketRule]:
    return SubMarketRule.objects.select_related("sub_market").order_by("market", "priority", "id")


def sub_markets() -> QuerySet[SubMarket]:
    return SubMarket.objects.order_by("market", "code")


def thresholds() -> list[TierThreshold]:
    existing = {t.market: t for t in TierThreshold.objects.select_related("updated_by")}
    return [existing.get(market) or TierThreshold(market=market) for market in MARKET_ORDER]


# --- territories (划片包干) -------------------------------------------------------------------------------------


def best_territory(outer: str = "address") -> Subquery:
    """The id of the territory a customer (the outer query's row) is in, as a correlated subquery.

    The customer's normalised address contains the keyword; the longest keyword wins and a tie goes
    to the lowest territory id, so the answer never depends on the order of rows. Case-sensitive
    substring match (INSTR on SQLite, STRPOS on PostgreSQL): the same answer on both databases and
    in `territory_for_address`.
    """
    return Subquery(
        TerritoryKeyword.objects.filter(GreaterThan(StrIndex(OuterRef(outer), F("keyword")), 0))
        .order_by(Length("keyword").desc(), "territory_id").values("territory_id")[:1]
    )


def territory_match(address: str, keywords: list[tuple[int, str]]) -> int | None:
    """The territory id among (territory id, keyword) pairs that `address` falls in (Python twin of the SQL)."""
    best: tuple[int, int] | None = None
    for territory_id, keyword in keywords:
        if keyword and keyword in address:
            rank = (-len(keyword), territory_id)
            if best is None or rank < best:
                best = rank
    return best[1] if best else None


def territory_for_address(address: str) -> Territory | None:
    """The territory a (normalised) address falls in, or None."""
    keywords = list(TerritoryKeyword.objects.values_list("territory_id", "keyword"))
    territory_id = territory_match(normalize_text(address), keywords)
    return Territory.objects.select_related("org_unit").get(pk=territory_id) if territory_id else None


def territories_for(*, user: User) -> QuerySet[Territory]:
    """Territories the user may read, with their unit, keywords and team in three queries."""
    return (Territory.objects.visible_to(user).select_related("org_unit")
            .prefetch_related("keywords", Prefetch("team", queryset=User.objects.order_by("username")))
            .order_by("org_unit__path", "name", "id"))


def territory_get(*, user: User, pk: int) -> Territory:
    """One territory the user may read; 404 when it does not exist or is not theirs."""
    return get_object_or_404(territories_for(user=user), pk=pk)


@dataclass
class TerritoryCounts:
    """Customers in one territory (of the reader's data scope): existing, prospects, prospects without owner."""

    existing: int = 0
    prospects: int = 0
    unassigned: int = 0


def territory_counts(*, user: User, territory_ids: list[int] | None = None) -> dict[int, TerritoryCounts]:
    """{territory id: counts} over the customers `user` may see, in one GROUP BY query.

    Every visible customer with an address is placed by `best_territory`; customers of another
    unit who live in the territory count too (that is what routing would move).
    """
    owned = Exists(Assignment.objects.filter(customer=OuterRef("pk"), active=True))
    rows = (Customer.objects.visible_to(user).filter(merged_into__isnull=True).exclude(address="")
            .annotate(in_territory=best_territory()).order_by().values("in_territory")
            .annotate(existing=Count("pk", filter=Q(status=CustomerStatus.EXISTING)),
                      prospects=Count("pk", filter=Q(status=CustomerStatus.PROSPECT)),
                      unassigned=Count("pk", filter=Q(status=CustomerStatus.PROSPECT) & ~Q(owned))))
    counts: dict[int, TerritoryCounts] = {pk: TerritoryCounts() for pk in territory_ids or []}
    for row in rows:
        territory_id = row["in_territory"]
        if territory_id is None or (territory_ids is not None and territory_id not in counts):
            continue
        counts[territory_id] = TerritoryCounts(existing=row["existing"], prospects=row["prospects"],
                                               unassigned=row["unassigned"])
    return counts


def territory_unassigned_prospects(*, user: User, territory: Territory) -> QuerySet[Customer]:
    """Prospects in the territory (of the user's scope) without an active owner, by customer number."""
    owned = Exists(Assignment.objects.filter(customer=OuterRef("pk"), active=True))
    return (Customer.objects.visible_to(user).filter(merged_into__isnull=True, status=CustomerStatus.PROSPECT)
            .exclude(address="").filter(~owned).annotate(in_territory=best_territory())
            .filter(in_territory=territory.pk).select_related("org_unit").order_by("customer_no"))


# --- target lists (名单制管理) ------------------------------------------------------------------------------------


@dataclass
class Progress:
    """How far the (visible) entries of a list, or of one owner on it, have got."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EntryStatus.values, 0))
    overdue: int = 0
    owner: User | None = None

    def add(self, status: str, count: int, overdue: int) -> None:
        self.counts[status] = self.counts.get(status, 0) + count
        self.overdue += overdue

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def contacted(self) -> int:
        """Entries that got past "to contact" (contacted, interested, won or given up)."""
        return self.total - self.counts[EntryStatus.TO_CONTACT]

    @property
    def won(self) -> int:
        return self.counts[EntryStatus.WON]

    @property
    def contacted_percent(self) -> float:
        return round(100 * self.contacted / self.total, 1) if self.total else 0.0

    @property
    def won_percent(self) -> float:
        return round(100 * self.won / self.total, 1) if self.total else 0.0

    @property
    def by_status(self) -> list[tuple[str, str, int]]:
        """(status, label, count) in the order of the follow-up."""
        return [(status, label, self.counts[status]) for status, label in EntryStatus.choices]


def entry_status_labels() -> list[tuple[str, str]]:
    return list(EntryStatus.choices)


def target_lists_for(*, user: User, status: str = "") -> QuerySet[TargetList]:
    """Lists the user may open (`TargetList.visible_to`), open ones first, newest first."""
    lists = TargetList.objects.visible_to(user)
    if status in TargetListStatus.values:
        lists = lists.filter(status=status)
    return lists.select_related("org_unit", "created_by").order_by("-status", "-created_at", "-id")


def target_list_get(*, user: User, pk: int) -> TargetList:
    """One list the user may open; 404 when it does not exist or is not theirs."""
    return get_object_or_404(TargetList.objects.visible_to(user).select_related("org_unit", "created_by"), pk=pk)


def list_entries(*, user: User, target_list: TargetList, status: str = "", owner: str = "",
                 overdue: bool = False) -> QuerySet[TargetListEntry]:
    """The entries of a list the user may see, filtered; next steps due first, then by customer number."""
    entries = TargetListEntry.objects.visible_to(user).filter(target_list=target_list)
    if status in EntryStatus.values:
        entries = entries.filter(status=status)
    if owner:
        entries = entries.filter(owner__username=owner)
    if overdue:
        entries = entries.overdue(timezone.localdate())
    return (entries.select_related("customer", "customer__org_unit", "owner", "target_list")
            .order_by(F("next_step_on").asc(nulls_last=True), "customer__customer_no", "id"))


def entry_get(*, user: User, target_list: TargetList, pk: int) -> TargetListEntry:
    """One entry of the list the user may see; 404 otherwise (not there and not yours look alike)."""
    entries = TargetListEntry.objects.visible_to(user).filter(target_list=target_list)
    return get_object_or_404(entries.select_related("customer", "customer__org_unit", "owner", "target_list"), pk=pk)


def entry_updates(entry: TargetListEntry) -> QuerySet[TargetListEntryUpdate]:
    return entry.updates.select_related("updated_by").order_by("-updated_at", "-id")


def _progress_rows(entries: QuerySet[TargetListEntry], *group: str) -> QuerySet:
    today = timezone.localdate()
    return (entries.order_by().values(*group, "status")
            .annotate(n=Count("pk"), late=Count("pk", filter=overdue_q(today))))


def progress_by_list(*, user: User, list_ids: list[int]) -> dict[int, Progress]:
    """{list id: progress over the entries the user may see} for a page of lists, in one query."""
    progress = {pk: Progress() for pk in list_ids}
    entries = TargetListEntry.objects.visible_to(user).filter(target_list_id__in=list_ids)
    for row in _progress_rows(entries, "target_list_id"):
        progress[row["target_list_id"]].add(row["status"], row["n"], row["late"])
    return progress


def progress_by_owner(*, user: User, target_list: TargetList) -> tuple[Progress, list[Progress]]:
    """(the list's progress, one per owner by name) over the entries the user may see, in two queries."""
    total = Progress()
    per_owner: dict[int, Progress] = {}
    entries = TargetListEntry.objects.visible_to(user).filter(target_list=target_list)
    for row in _progress_rows(entries, "owner_id"):
        per_owner.setdefault(row["owner_id"], Progress()).add(row["status"], row["n"], row["late"])
        total.add(row["status"], row["n"], row["late"])
    owners = User.objects.in_bulk(list(per_owner)) if per_owner else {}
    for owner_id, progress in per_owner.items():
        progress.owner = owners.get(owner_id)
    rows = sorted(per_owner.values(), key=lambda p: (p.owner.display_name if p.owner else "", p.owner.pk
                                                     if p.owner else 0))
    return total, rows


def my_entries(*, user: User) -> QuerySet[TargetListEntry]:
    """"My list": the unfinished entries a member of staff owns on open lists, next steps due first."""
    return (TargetListEntry.objects.filter(owner=user, target_list__status=TargetListStatus.OPEN)
            .exclude(status__in=DONE_STATUSES)
            .select_related("customer", "customer__org_unit", "target_list")
            .order_by(F("next_step_on").asc(nulls_last=True), "target_list_id", "customer__customer_no", "id"))

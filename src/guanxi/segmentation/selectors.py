"""Read queries of segmentation, always starting from the user's data scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from guanxi.core.fields import from_fen
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import MarketLine, Role
from guanxi.customers.models import Customer, CustomerStatus, CustomerTier
from guanxi.segmentation.models import DOWN_MOVES, UP_MOVES, SubMarket, SubMarketRule, TierChange, TierThreshold

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
        value = Cell(count=row["n"], deposit=_yuan(row["deposit"]), loan=_yuan(row["loan"]))
        for key in ((row["market"], row["tier"]), (row["market"], ""), ("", row["tier"]), ("", "")):
            table.cells[key].add(value)
    return table


def _yuan(value) -> Decimal:
    if value is None:
        return Decimal("0.00")
    if isinstance(value, Decimal):
        return value.quantize(Decimal("0.01"))
    return from_fen(int(value))


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

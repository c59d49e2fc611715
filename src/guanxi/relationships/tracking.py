"""Follow-up tracking (跟踪问效): per owner, what the owned customers hold and how they were worked.

For a period [start, end] (dates, both included) and each owner (the staff member of the active
`Assignment`): the customers owned now; their deposit and loan totals now and at the start of the
period (each customer's latest `BalanceSnapshot` on or before the start; none counts as 0) and the
change; the contacts the owner made in the period and the distinct customers contacted; the
target-list entries they worked (distinct entries with an update of theirs in the period); and the
owned customers nobody contacted in the `stale_days` days up to the end of the period.

Scope: a manager or teller sees their own row; a branch head the owners of their subtree; a line
department the owners of its market line's customers, bank-wide; the auditor every owner. The
customer figures count only customers in the reader's data scope (`Customer.objects.visible_to`);
contacts and entries count everything the owner did. Every figure is an aggregate in the database:
a fixed number of queries whatever the number of owners (one for the staff, three per grouping).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import (
    BigIntegerField,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.fields import MoneyField, sum_to_yuan
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import OWN_SCOPE_ROLES, Role
from guanxi.customers.models import BalanceSnapshot, Customer
from guanxi.engagement.models import Interaction
from guanxi.relationships.models import Assignment
from guanxi.relationships.services import OWNER_ROLES
from guanxi.segmentation.models import TargetListEntryUpdate

TRACKING_READER_ROLES = frozenset({Role.MANAGER, Role.TELLER, Role.BRANCH_HEAD, Role.LINE_DEPT, Role.AUDITOR})
# Roles that also get the per-org-unit table (the line departments' "across branches" view).
BY_ORG_UNIT_ROLES = frozenset({Role.BRANCH_HEAD, Role.LINE_DEPT, Role.AUDITOR})
DEFAULT_STALE_DAYS = 90
MAX_STALE_DAYS = 3650
BY_OWNER = "owner"
BY_ORG_UNIT = "org_unit"
ZERO = Decimal("0.00")


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass(frozen=True)
class Period:
    """[start, end] in days of the bank's time zone, and the "not contacted for N days" window."""

    start: dt.date
    end: dt.date
    stale_days: int = DEFAULT_STALE_DAYS

    @property
    def start_at(self) -> dt.datetime:
        return _day_start(self.start)

    @property
    def end_at(self) -> dt.datetime:
        """The first instant after the period (midnight after `end`)."""
        return _day_start(self.end + dt.timedelta(days=1))

    @property
    def stale_since(self) -> dt.datetime:
        """A customer is stale when nobody contacted them in [stale_since, end_at)."""
        return self.end_at - dt.timedelta(days=self.stale_days)


def _parse_date(name: str, value: str | dt.date | None) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError as exc:
        raise ValidationError({name: _("Enter a date as YYYY-MM-DD.")}) from exc


def tracking_period(*, start: str | dt.date | None = None, end: str | dt.date | None = None,
                    stale_days: str | int | None = None, today: dt.date | None = None) -> Period:
    """The period asked for; default this month so far and 90 days. ValidationError names `from`,
    `to` or `stale_days` (the names of the page's and the API's parameters)."""
    today = today or timezone.localdate()
    errors: dict[str, str] = {}
    try:
        start_day = _parse_date("from", start)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        start_day = None
    try:
        end_day = _parse_date("to", end)
    except ValidationError as exc:
        errors.update({k: v[0] for k, v in exc.message_dict.items()})
        end_day = None
    end_day = end_day or today
    start_day = start_day or end_day.replace(day=1)
    if start_day > end_day and "from" not in errors and "to" not in errors:
        errors["from"] = _("The start of the period cannot be after its end.")
    days = DEFAULT_STALE_DAYS
    if stale_days not in (None, ""):
        try:
            days = int(stale_days)
        except (TypeError, ValueError):
            days = -1
        if not 1 <= days <= MAX_STALE_DAYS:
            errors["stale_days"] = _("Enter a number of days from 1 to %(max)d.") % {"max": MAX_STALE_DAYS}
    if errors:
        raise ValidationError(errors)
    return Period(start=start_day, end=end_day, stale_days=days)


@dataclass
class Figures:
    """The numbers of one row: amounts are exact Decimal yuan (summed as integer fen)."""

    customers: int = 0
    deposit_now: Decimal = ZERO
    deposit_start: Decimal = ZERO
    loan_now: Decimal = ZERO
    loan_start: Decimal = ZERO
    contacts: int = 0
    customers_contacted: int = 0
    entries_worked: int = 0
    stale_customers: int = 0

    @property
    def deposit_change(self) -> Decimal:
        return self.deposit_now - self.deposit_start

    @property
    def loan_change(self) -> Decimal:
        return self.loan_now - self.loan_start

    def as_dict(self) -> dict:
        return {"customers": self.customers, "deposit_now": self.deposit_now, "deposit_start": self.deposit_start,
                "deposit_change": self.deposit_change, "loan_now": self.loan_now, "loan_start": self.loan_start,
                "loan_change": self.loan_change, "contacts": self.contacts,
                "customers_contacted": self.customers_contacted, "entries_worked": self.entries_worked,
                "stale_customers": self.stale_customers}


@dataclass
class OwnerRow:
    owner: User
    figures: Figures

    @property
    def org_unit(self) -> OrgUnit | None:
        return self.owner.org_unit


@dataclass
class OrgUnitRow:
    """The owners of one org unit together (owners without a unit: `org_unit` None)."""

    org_unit: OrgUnit | None
    owners: int
    figures: Figures


@dataclass
class TrackingReport:
    period: Period
    owners: list[OwnerRow]
    org_units: list[OrgUnitRow] = field(default_factory=list)
    total: Figures = field(default_factory=Figures)


# --- scope --------------------------------------------------------------------------------------------------------

def require_reader(user: User) -> None:
    """Managers, tellers, heads, line departments and the auditor read the report; nobody else (403)."""
    if not user.is_authenticated or not user.is_active or user.role not in TRACKING_READER_ROLES:
        raise PermissionDenied(_("Your role does not read the follow-up tracking report."))


def _scope_customers(user: User) -> QuerySet[Customer]:
    return Customer.objects.visible_to(user).filter(merged_into__isnull=True)


def tracking_staff(user: User) -> QuerySet[User]:
    """The owners whose rows `user` may read: themselves (manager, teller); the owner roles of a head's
    subtree and anyone there who still owns customers; for a line department and the auditor,
    everyone who owns a customer in their scope."""
    require_reader(user)
    staff = User.objects.all()
    if user.role in OWN_SCOPE_ROLES:
        staff = staff.filter(pk=user.pk)
    elif user.role == Role.BRANCH_HEAD:
        if not user.org_unit_id:
            return staff.none()
        owns = Exists(Assignment.objects.filter(owner=OuterRef("pk"), active=True))
        staff = staff.filter(Q(is_active=True, role__in=OWNER_ROLES) | Q(owns),
                             org_unit__path__startswith=user.org_unit.path)
    else:
        owns = Exists(Assignment.objects.filter(owner=OuterRef("pk"), active=True,
                                                customer__in=_scope_customers(user).values("pk")))
        staff = staff.filter(owns)
    return staff.select_related("org_unit").order_by("org_unit__path", "username")


# --- figures ------------------------------------------------------------------------------------------------------

def _snapshot_at_start(period: Period, column: str) -> Subquery:
    """The column of the customer's latest snapshot on or before the period start (one index seek)."""
    latest = (BalanceSnapshot.objects.filter(customer_id=OuterRef("customer_id"), as_of__lte=period.start)
              .order_by("-as_of").values(column)[:1])
    return Subquery(latest, output_field=BigIntegerField())


def _contacted_in(period: Period, customer_ref: str) -> Exists:
    return Exists(Interaction.objects.filter(customer_id=OuterRef(customer_ref), occurred_at__gte=period.stale_since,
                                             occurred_at__lt=period.end_at))


def _owned_figures(user: User, staff: QuerySet[User], period: Period, key: str | None) -> dict:
    """{key value: {customers, balances now and at start, stale}} in one GROUP BY over active assignments."""
    owned = Assignment.objects.filter(active=True, owner__in=staff.values("pk"),
                                      customer__in=_scope_customers(user).values("pk")).order_by()
    aggregates = {
        "customers": Count("pk"),
        "deposit_now": Sum("customer__deposit_balance"),
        "loan_now": Sum("customer__loan_balance"),
        "deposit_start": Sum(_snapshot_at_start(period, "deposit_balance"), output_field=MoneyField()),
        "loan_start": Sum(_snapshot_at_start(period, "loan_balance"), output_field=MoneyField()),
        "stale_customers": Count("pk", filter=~Q(_contacted_in(period, "customer_id"))),
    }
    if key is None:
        return {None: owned.aggregate(**aggregates)}
    group = "owner_id" if key == BY_OWNER else "owner__org_unit_id"
    return {row.pop(group): row for row in owned.values(group).annotate(**aggregates)}


def _contact_figures(staff: QuerySet[User], period: Period, key: str | None) -> dict:
    """{key value: {contacts, customers_contacted}} of the contacts the staff made in the period."""
    contacts = Interaction.objects.filter(staff__in=staff.values("pk"), occurred_at__gte=period.start_at,
                                          occurred_at__lt=period.end_at).order_by()
    aggregates = {"contacts": Count("pk"), "customers_contacted": Count("customer_id", distinct=True)}
    if key is None:
        return {None: contacts.aggregate(**aggregates)}
    group = "staff_id" if key == BY_OWNER else "staff__org_unit_id"
    return {row.pop(group): row for row in contacts.values(group).annotate(**aggregates)}


def _entry_figures(staff: QuerySet[User], period: Period, key: str | None) -> dict:
    """{key value: {entries_worked}}: distinct target-list entries the staff updated in the period."""
    updates = TargetListEntryUpdate.objects.filter(updated_by__in=staff.values("pk"),
                                                   updated_at__gte=period.start_at,
                                                   updated_at__lt=period.end_at).order_by()
    aggregates = {"entries_worked": Count("entry_id", distinct=True)}
    if key is None:
        return {None: updates.aggregate(**aggregates)}
    group = "updated_by_id" if key == BY_OWNER else "updated_by__org_unit_id"
    return {row.pop(group): row for row in updates.values(group).annotate(**aggregates)}


def _grouped(user: User, staff: QuerySet[User], period: Period, key: str | None) -> dict:
    """{key value: Figures}: three queries (owned customers, contacts, entries)."""
    parts = (_owned_figures(user, staff, period, key), _contact_figures(staff, period, key),
             _entry_figures(staff, period, key))
    result: dict = {}
    for part in parts:
        for value, numbers in part.items():
            figures = result.setdefault(value, Figures())
            for name, number in numbers.items():
                if name in ("deposit_now", "deposit_start", "loan_now", "loan_start"):
                    setattr(figures, name, sum_to_yuan(number))
                else:
                    setattr(figures, name, number or 0)
    return result


def tracking_report(*, user: User, period: Period, by: tuple[str, ...] = (BY_OWNER, BY_ORG_UNIT)) -> TrackingReport:
    """The report for `user`'s scope: per owner, per org unit of the owners (when asked), and the total.

    1 query for the owners, then 3 per grouping (owner, org unit, total): at most 10, whatever
    the number of owners and customers.
    """
    staff = tracking_staff(user)
    owners = list(staff)
    report = TrackingReport(period=period, owners=[])
    if BY_OWNER in by:
        figures = _grouped(user, staff, period, BY_OWNER)
        report.owners = [OwnerRow(owner=owner, figures=figures.get(owner.pk, Figures())) for owner in owners]
    if BY_ORG_UNIT in by:
        figures = _grouped(user, staff, period, BY_ORG_UNIT)
        units: dict[int | None, OrgUnit | None] = {}
        counts: dict[int | None, int] = {}
        for owner in owners:
            units[owner.org_unit_id] = owner.org_unit
            counts[owner.org_unit_id] = counts.get(owner.org_unit_id, 0) + 1
        ordered = sorted(units, key=lambda pk: (units[pk] is None, units[pk].path if units[pk] else ""))
        report.org_units = [OrgUnitRow(org_unit=units[pk], owners=counts[pk], figures=figures.get(pk, Figures()))
                            for pk in ordered]
    report.total = _grouped(user, staff, period, None).get(None, Figures())
    return report


# --- drill-down ---------------------------------------------------------------------------------------------------

def tracking_owner(*, user: User, username: str) -> User:
    """One owner whose row `user` may read; 404 otherwise."""
    return get_object_or_404(tracking_staff(user), username=username)


def stale_customers(*, user: User, owner: User, period: Period) -> QuerySet[Customer]:
    """The customers `owner` owns (within `user`'s scope) that nobody contacted in the `stale_days` days up to
    the period end, with `last_contact` (before the period end, or None), least recently contacted first."""
    owned = Exists(Assignment.objects.filter(customer=OuterRef("pk"), owner=owner, active=True))
    last_contact = (Interaction.objects.filter(customer=OuterRef("pk"), occurred_at__lt=period.end_at)
                    .order_by("-occurred_at").values("occurred_at")[:1])
    return (_scope_customers(user).filter(owned).filter(~_contacted_in(period, "pk"))
            .annotate(last_contact=Subquery(last_contact))
            .select_related("org_unit")
            .order_by(F("last_contact").asc(nulls_first=True), "customer_no"))

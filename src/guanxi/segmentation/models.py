"""Market segmentation (市场细分) and value tiers (客户细分): the editable mapping and the tier history;
territories (划片包干) and target lists (名单制管理).

The mapping from a customer's data to its sub-market, and the balance thresholds of the value
tiers, are data that administrators edit; `segmentation.services.segments_recompute` applies them
to every customer in a few set-based statements and records each tier move in `TierChange`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.fields import MoneyField
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import OWN_SCOPE_ROLES, SUBTREE_SCOPE_ROLES, MarketLine, Role
from guanxi.customers.models import Customer, CustomerTier


class SubMarket(models.Model):
    """A sub-market of one market line (e.g. company → manufacturing; agri → 林场).

    `code` is what `Customer.sub_market` holds; unique within the market line. Exactly one
    sub-market per line may be the default, taken by customers no rule matches.
    """

    market = models.CharField(_("market line"), max_length=10, choices=MarketLine.choices)
    code = models.CharField(_("code"), max_length=40)
    name_zh = models.CharField(_("name (Chinese)"), max_length=100)
    name_en = models.CharField(_("name (English)"), max_length=100, blank=True)
    is_default = models.BooleanField(_("default of its market line"), default=False)

    class Meta:
        ordering = ["market", "code"]
        verbose_name = _("sub-market")
        verbose_name_plural = _("sub-markets")
        constraints = [
            models.UniqueConstraint(fields=["market", "code"], name="submarket_code_unique_per_market"),
            models.UniqueConstraint(fields=["market"], condition=Q(is_default=True),
                                    name="one_default_submarket_per_market"),
        ]

    def __str__(self) -> str:
        return f"{self.get_market_display()} · {self.name_zh} ({self.code})"


class RuleKind(models.TextChoices):
    INDUSTRY_SECTION = "industry_section", _("Industry section (GB/T 4754)")
    ADDRESS_KEYWORD = "address_keyword", _("Keyword in the address")


class SubMarketRule(models.Model):
    """One line of the mapping: customers of `market` whose data matches `value` go to `sub_market`.

    `industry_section`: the first letter of the customer's industry code equals `value` (A–T);
    `address_keyword`: the address contains `value`. Rules are tried by ascending `priority`
    (then id); the first that matches wins; no match → the line's default sub-market.
    Edited by the system administrator only (`services.submarket_rule_save`, audited).
    """

    market = models.CharField(_("market line"), max_length=10, choices=MarketLine.choices)
    kind = models.CharField(_("kind"), max_length=20, choices=RuleKind.choices)
    value = models.CharField(_("value"), max_length=50)
    sub_market = models.ForeignKey(SubMarket, verbose_name=_("sub-market"), on_delete=models.PROTECT,
                                   related_name="rules")
    priority = models.PositiveIntegerField(_("priority"), default=100,
                                           help_text=_("lower numbers are tried first"))

    class Meta:
        ordering = ["market", "priority", "id"]
        verbose_name = _("sub-market rule")
        verbose_name_plural = _("sub-market rules")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RuleKind.values), name="submarket_rule_kind_valid"),
            models.UniqueConstraint(fields=["market", "kind", "value"], name="submarket_rule_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.market} {self.kind}={self.value} → {self.sub_market.code}"


class TierThreshold(models.Model):
    """The value-tier thresholds of one market line, in yuan (stored as fen).

    high: deposit ≥ `deposit_high` or loan ≥ `loan_high`; else mid: deposit ≥ `deposit_mid` or
    loan ≥ `loan_mid`; else general. Edited by the system administrator or the line department
    of that line (`services.tier_threshold_update`, audited).
    """

    market = models.CharField(_("market line"), max_length=10, choices=MarketLine.choices, unique=True)
    deposit_high = MoneyField(_("high-end: deposit from"), default=1_000_000)
    loan_high = MoneyField(_("high-end: loan from"), default=2_000_000)
    deposit_mid = MoneyField(_("mid-range: deposit from"), default=100_000)
    loan_mid = MoneyField(_("mid-range: loan from"), default=500_000)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    updated_by = models.ForeignKey(User, verbose_name=_("updated by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["market"]
        verbose_name = _("tier threshold")
        verbose_name_plural = _("tier thresholds")

    def __str__(self) -> str:
        return f"{self.market}"


class TierChange(models.Model):
    """One customer's move from one value tier to another, written by the recompute (history).

    Rows are inserted set-based before the customers are updated, one per customer whose
    computed tier differs from the stored one; `as_of` is the balance date the move reflects.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="tier_changes")
    old_tier = models.CharField(_("from tier"), max_length=10, choices=CustomerTier.choices)
    new_tier = models.CharField(_("to tier"), max_length=10, choices=CustomerTier.choices)
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)
    as_of = models.DateField(_("as of"))

    class Meta:
        ordering = ["-as_of", "-id"]
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        indexes = [models.Index(fields=["as_of", "customer"], name="tierchange_as_of_customer")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.old_tier}→{self.new_tier} {self.as_of}"

    @property
    def is_down(self) -> bool:
        return TIER_RANK[self.new_tier] < TIER_RANK[self.old_tier]


TIER_RANK = {CustomerTier.GENERAL: 0, CustomerTier.MID: 1, CustomerTier.HIGH: 2}
# (old, new) pairs of a move down / up, for filtering the history.
DOWN_MOVES = [(old, new) for old in TIER_RANK for new in TIER_RANK if TIER_RANK[new] < TIER_RANK[old]]
UP_MOVES = [(old, new) for old in TIER_RANK for new in TIER_RANK if TIER_RANK[new] > TIER_RANK[old]]


# --- territories (划片包干) -------------------------------------------------------------------------------------


class TerritoryKind(models.TextChoices):
    STREET = "street", _("Street")
    COMMUNITY = "community", _("Residential community")
    VILLAGE = "village", _("Administrative village")


class TerritoryQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> TerritoryQuerySet:
        """Territories a user may read: bank-wide roles all, heads and approvers their subtree's, managers and
        tellers their own unit's subtree's; the security and audit administrators none."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.role in (Role.SYSADMIN, Role.LINE_DEPT, Role.AUDITOR):
            return self.all()
        if user.role in (*SUBTREE_SCOPE_ROLES, *OWN_SCOPE_ROLES) and user.org_unit_id:
            return self.filter(org_unit__path__startswith=user.org_unit.path)
        return self.none()

    def administered_by(self, user: User | None) -> TerritoryQuerySet:
        """Territories a user may create, change, delete and route into: a branch head those of their subtree,
        line departments and the system administrator all of them."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.role in TERRITORY_ADMIN_ROLES:
            return self.all()
        if user.role == Role.BRANCH_HEAD and user.org_unit_id:
            return self.filter(org_unit__path__startswith=user.org_unit.path)
        return self.none()


# Who administers every territory of the bank (a branch head administers those of its subtree).
TERRITORY_ADMIN_ROLES = frozenset({Role.SYSADMIN, Role.LINE_DEPT})


class Territory(models.Model):
    """An area (street, residential community or administrative village) an org unit is responsible for.

    划片包干: the prospects (目标客户) living in it belong to `org_unit`, and its `team` of managers
    collects their information. A customer is in the territory whose keyword (`TerritoryKeyword`)
    its normalised address contains; when several match, the longest keyword wins, ties go to the
    lowest territory id, so the answer never depends on order. Team members are staff of
    `org_unit`'s subtree. Written only by `segmentation.services.territories` (audited).
    """

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=TerritoryKind.choices)
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), on_delete=models.PROTECT,
                                 related_name="territories")
    team = models.ManyToManyField(User, verbose_name=_("team"), blank=True, related_name="territories")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    objects = TerritoryQuerySet.as_manager()

    class Meta:
        ordering = ["org_unit__path", "name", "id"]
        verbose_name = _("territory")
        verbose_name_plural = _("territories")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=TerritoryKind.values), name="territory_kind_valid"),
            models.UniqueConstraint(fields=["org_unit", "name"], name="territory_name_unique_per_unit"),
        ]

    def __str__(self) -> str:
        return self.name


class TerritoryKeyword(models.Model):
    """One address or keyword of a territory: a customer whose normalised address contains it is in it."""

    territory = models.ForeignKey(Territory, on_delete=models.CASCADE, related_name="keywords")
    keyword = models.CharField(_("keyword"), max_length=100)

    class Meta:
        ordering = ["territory", "id"]
        verbose_name = _("territory keyword")
        verbose_name_plural = _("territory keywords")
        constraints = [models.UniqueConstraint(fields=["territory", "keyword"], name="territory_keyword_unique")]

    def __str__(self) -> str:
        return self.keyword


# --- target lists (名单制管理) --------------------------------------------------------------------------------


class TargetListStatus(models.TextChoices):
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class EntryStatus(models.TextChoices):
    """Follow-up status of one customer on a target list."""

    TO_CONTACT = "to_contact", _("To contact")
    CONTACTED = "contacted", _("Contacted")
    INTERESTED = "interested", _("Interested")
    WON = "won", _("Won")
    LOST = "lost", _("Given up")


# An entry in one of these is finished: it has no next step that can be overdue.
DONE_STATUSES = (EntryStatus.WON, EntryStatus.LOST)
# Who builds and manages lists (a head within its subtree, a line department within its market line).
LIST_BUILDER_ROLES = frozenset({Role.BRANCH_HEAD, Role.LINE_DEPT})


class TargetListQuerySet(models.QuerySet):
    def managed_by(self, user: User | None) -> TargetListQuerySet:
        """Lists a user may change, build and reassign: their own, a head's subtree's, a line department's line's."""
        if user is None or not user.is_authenticated or not user.is_active or user.role not in LIST_BUILDER_ROLES:
            return self.none()
        if user.role == Role.BRANCH_HEAD:
            if user.org_unit_id is None:
                return self.filter(created_by=user)
            return self.filter(Q(created_by=user) | Q(org_unit__path__startswith=user.org_unit.path))
        return self.filter(Q(created_by=user) | Q(market=user.market_line)) if user.market_line else self.filter(
            created_by=user)

    def visible_to(self, user: User | None) -> TargetListQuerySet:
        """Lists a user may open: those they manage, and those holding an entry they may see (a manager's
        lists are the ones with an entry they own). The auditor reads every list."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.role == Role.AUDITOR:
            return self.all()
        entries = TargetListEntry.objects.visible_to(user).filter(target_list=models.OuterRef("pk"))
        return self.filter(Q(pk__in=self.model.objects.managed_by(user).values("pk")) | Q(models.Exists(entries)))


class TargetList(models.Model):
    """A list of target customers to market to (名单制管理), scoped to an org unit's subtree.

    Built by a branch head or a line department from filters or an uploaded file of customer
    numbers / ID numbers; only customers the builder may see enter it. Each entry has an owner
    who works it. Written only by `segmentation.services.target_lists` (audited).
    """

    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    market = models.CharField(_("market line"), max_length=10, choices=MarketLine.choices, blank=True)
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), on_delete=models.PROTECT,
                                 related_name="target_lists")
    created_by = models.ForeignKey(User, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    due_on = models.DateField(_("due date"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=TargetListStatus.choices,
                              default=TargetListStatus.OPEN)

    objects = TargetListQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("target list")
        verbose_name_plural = _("target lists")
        constraints = [
            models.CheckConstraint(condition=Q(status__in=TargetListStatus.values), name="target_list_status_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == TargetListStatus.OPEN


class TargetListEntryQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> TargetListEntryQuerySet:
        """Entries a user may see: managers and tellers the ones they own; heads, approvers and line
        departments those of the customers in their data scope (and any they own); the auditor all."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.role == Role.AUDITOR:
            return self.all()
        if user.role in OWN_SCOPE_ROLES:
            return self.filter(owner=user)
        if user.role in (*SUBTREE_SCOPE_ROLES, Role.LINE_DEPT):
            return self.filter(Q(customer__in=Customer.objects.visible_to(user).values("pk")) | Q(owner=user))
        return self.none()

    def overdue(self, today) -> TargetListEntryQuerySet:
        return self.filter(overdue_q(today))


def overdue_q(today) -> Q:
    """An entry whose next step was due before `today` and that is not finished."""
    return Q(next_step_on__lt=today) & ~Q(status__in=DONE_STATUSES)


class TargetListEntry(models.Model):
    """One customer on a target list, with the member of staff who works it and where it stands.

    Unique per list and customer. `status_changed_at` is when `status` last changed. Every change
    by the owner is kept in `TargetListEntryUpdate` (the follow-up report counts those).
    """

    target_list = models.ForeignKey(TargetList, verbose_name=_("target list"), on_delete=models.CASCADE,
                                    related_name="entries")
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="target_list_entries")
    owner = models.ForeignKey(User, verbose_name=_("owner"), on_delete=models.PROTECT,
                              related_name="target_list_entries")
    status = models.CharField(_("status"), max_length=12, choices=EntryStatus.choices, default=EntryStatus.TO_CONTACT)
    next_step = models.TextField(_("next step"), blank=True)
    next_step_on = models.DateField(_("next step on"), null=True, blank=True)
    status_changed_at = models.DateTimeField(_("status changed at"), default=timezone.now)
    created_at = models.DateTimeField(_("added at"), default=timezone.now)

    objects = TargetListEntryQuerySet.as_manager()

    class Meta:
        ordering = ["target_list", "id"]
        verbose_name = _("target list entry")
        verbose_name_plural = _("target list entries")
        constraints = [
            models.UniqueConstraint(fields=["target_list", "customer"], name="target_list_customer_unique"),
            models.CheckConstraint(condition=Q(status__in=EntryStatus.values), name="target_list_entry_status_valid"),
        ]
        indexes = [models.Index(fields=["owner", "status"], name="target_entry_owner_status"),
                   models.Index(fields=["target_list", "status"], name="target_entry_list_status")]

    def __str__(self) -> str:
        return f"{self.target_list_id}: {self.customer_id}"

    @property
    def is_done(self) -> bool:
        return self.status in DONE_STATUSES

    def is_overdue(self, today) -> bool:
        return bool(self.next_step_on and self.next_step_on < today and not self.is_done)


class TargetListEntryUpdate(models.Model):
    """One piece of work on an entry by its owner: the status before and after, and a note.

    Written with every update of an entry (`services.target_lists.target_list_entry_update`), never
    changed afterwards. The follow-up tracking report (跟踪问效) counts entries worked per owner in a
    period from (`updated_by`, `updated_at`).
    """

    entry = models.ForeignKey(TargetListEntry, on_delete=models.CASCADE, related_name="updates")
    updated_by = models.ForeignKey(User, verbose_name=_("updated by"), on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    old_status = models.CharField(_("from status"), max_length=12, choices=EntryStatus.choices)
    new_status = models.CharField(_("to status"), max_length=12, choices=EntryStatus.choices)
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        verbose_name = _("target list entry update")
        verbose_name_plural = _("target list entry updates")
        indexes = [models.Index(fields=["updated_by", "updated_at"], name="target_update_by_at")]

    def __str__(self) -> str:
        return f"{self.entry_id} {self.old_status}→{self.new_status}"

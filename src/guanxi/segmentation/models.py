"""Market segmentation (市场细分) and value tiers (客户细分): the editable mapping and the tier history.

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
from guanxi.core.models import User
from guanxi.core.roles import MarketLine
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

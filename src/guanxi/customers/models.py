"""Customer master data: customers of three types, farmer household members."""

from __future__ import annotations

from datetime import date

from django.db import connections, models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.fields import MoneyField
from guanxi.core.masking import mask_id_number, mask_phone
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import OWN_SCOPE_ROLES, SUBTREE_SCOPE_ROLES, MarketLine, Role


class CustomerType(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")
    FARMER = "farmer", _("Farmer household")


class CustomerStatus(models.TextChoices):
    EXISTING = "existing", _("Existing")
    PROSPECT = "prospect", _("Prospect")


class GuaranteeType(models.TextChoices):
    CREDIT = "credit", _("Credit (unsecured)")
    GUARANTEE = "guarantee", _("Guarantee")
    MORTGAGE = "mortgage", _("Mortgage")
    PLEDGE = "pledge", _("Pledge")


class CustomerTier(models.TextChoices):
    """Value tier (客户细分 by value), computed by `segmentation` from balances and thresholds."""

    HIGH = "high", _("High-end")
    MID = "mid", _("Mid-range")
    GENERAL = "general", _("General")


class Gender(models.TextChoices):
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


# Until segmentation refines it, the market line follows the customer type.
MARKET_BY_TYPE = {
    CustomerType.FARMER: MarketLine.AGRI,
    CustomerType.COMPANY: MarketLine.COMPANY,
    CustomerType.PERSON: MarketLine.PERSONAL,
}


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> CustomerQuerySet:
        """The one place that decides which customers a user may read.

        manager / teller: the customers actively assigned to them; branch head and credit
        approver: their org unit's subtree; line department: its market line bank-wide;
        auditor: everything (read-only), merged-away customers included; the three
        administrators and anyone without a role: nothing. A customer without an owner is
        therefore seen only by the heads of its unit (and above), never by everyone. A
        customer merged into another is seen by the auditor only.
        """
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        role = user.role
        if role == Role.AUDITOR:
            return self.all()
        # A customer merged into another (`customers.duplicates`) lives on only for the auditor.
        current = self.filter(merged_into__isnull=True)
        if role in OWN_SCOPE_ROLES:
            return current.filter(assignments__owner=user, assignments__active=True)
        if role in SUBTREE_SCOPE_ROLES:
            if user.org_unit_id is None:
                return self.none()
            return current.filter(org_unit__path__startswith=user.org_unit.path)
        if role == Role.LINE_DEPT:
            return current.filter(market=user.market_line) if user.market_line else self.none()
        return self.none()

    def _starting_with(self, field: str, prefix: str) -> Q:
        """Rows whose `field` starts with `prefix`, as an index lookup on either database.

        SQLite: a range on the column's index (its LIKE ignores case, so it cannot use the index).
        PostgreSQL: LIKE 'prefix%', which the column's pattern index (varchar_pattern_ops, in Meta.indexes)
        serves whatever the database's collation (the customer number's unique index, in collation "C"). A range ending in \x7f is right only under the C
        collation: under zh_CN or en_US the \x7f is ignored, and 'zhangsan' sorts after 'zhang\x7f'.
        """
        if connections[self.db].vendor == "postgresql":
            return Q(**{f"{field}__startswith": prefix})
        return Q(**{f"{field}__gte": prefix, f"{field}__lt": prefix + "\x7f"})

    def search(self, text: str) -> CustomerQuerySet:
        """Find by name (substring), pinyin (full or initials), customer number, ID number or phone.

        Every branch of the query is an index lookup (see `customers.search`), so typing into
        the search box stays fast at a million customers.
        """
        from guanxi.core.validators import normalize_identifier, normalize_text
        from guanxi.customers import search

        text = normalize_text(text)
        if not text:
            return self
        ident = normalize_identifier(text)
        if search.is_cjk(text):
            compact = "".join(text.lower().split())
            query = search.filter_by_token(self, compact[:2])
            return query.filter(name__icontains=text) if len(compact) > 2 else query
        if len(ident) == 18 and ident.isalnum() and ident.isascii():
            return self.filter(id_number=ident)  # a resident ID or a unified social credit code
        if ident.isdigit() or (ident[:-1].isdigit() and ident.endswith("X")):
            if len(ident) in (15, 18):
                from guanxi.core.validators import convert_15_to_18

                return self.filter(id_number=convert_15_to_18(ident) if len(ident) == 15 else ident)
            if len(ident) == 11:
                return self.filter(phone=ident)
            if len(ident) == 4:
                return self.filter(phone_last4=ident)
            return self.filter(self._starting_with("customer_no", f"KH{ident}")
                               | self._starting_with("phone", ident))
        if ident[:2] == "KH" and len(ident) == 12 and ident[2:].isdigit():
            return self.filter(customer_no=ident)
        if ident[:2].isalpha() and ident[2:].isdigit() and len(ident) > 2:
            return self.filter(self._starting_with("customer_no", ident))
        letters = ident.lower()
        if letters.isascii() and letters.isalpha():
            return self.filter(self._starting_with("name_initials", letters)
                               | self._starting_with("name_pinyin", letters))
        return self.filter(name__icontains=text)


class Customer(models.Model):
    """One party the bank serves: a person, a company or a farmer household.

    `id_number` is the normalised resident ID (person, farmer) or USCC (company) and is
    unique. Birth date and gender are derived from the resident ID, never typed. Amounts
    are yuan stored as fen. Written only by `customers.services`.
    """

    # customer_no and id_number: collation "C" on PostgreSQL (migration 0016: their unique indexes serve prefixes).
    customer_no = models.CharField(_("customer number"), max_length=20, unique=True, editable=False)
    customer_type = models.CharField(_("customer type"), max_length=10, choices=CustomerType.choices)
    # No index on the name itself: a name is found through its search tokens (`customers.search`).
    name = models.CharField(_("name"), max_length=100)
    name_pinyin = models.CharField(max_length=100, blank=True, editable=False)  # indexed in Meta, as the next two
    name_initials = models.CharField(max_length=30, blank=True, editable=False)
    id_number = models.CharField(_("ID number"), max_length=18, unique=True)
    phone = models.CharField(_("mobile phone"), max_length=11, blank=True)
    phone_last4 = models.CharField(max_length=4, blank=True, editable=False)  # indexed in Meta
    # Database default too: the bulk importers insert with explicit column lists.
    email = models.EmailField(_("email"), max_length=254, blank=True, default="", db_default="")
    # No single-column indexes on org_unit and market: the composite indexes in Meta lead with them.
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), on_delete=models.PROTECT, related_name="customers",
                                 db_index=False)
    status = models.CharField(_("status"), max_length=10, choices=CustomerStatus.choices, default=CustomerStatus.PROSPECT)
    address = models.CharField(_("address"), max_length=200, blank=True)
    industry = models.CharField(_("industry"), max_length=5, blank=True, help_text=_("GB/T 4754 code, e.g. A or A0111"))
    market = models.CharField(_("market line"), max_length=10, choices=MarketLine.choices)
    birth_date = models.DateField(_("birth date"), null=True, blank=True, editable=False)
    gender = models.CharField(_("gender"), max_length=6, choices=Gender.choices, blank=True, editable=False)
    # Registration profile (客户信息采集登记表), used later for rating.
    annual_income = MoneyField(_("annual income"), null=True, blank=True)
    total_assets = MoneyField(_("total assets"), null=True, blank=True)
    total_liabilities = MoneyField(_("total liabilities"), null=True, blank=True)
    household_size = models.PositiveSmallIntegerField(_("household size"), null=True, blank=True)
    guarantee_type = models.CharField(_("guarantee type"), max_length=10, choices=GuaranteeType.choices, blank=True)
    notes = models.TextField(_("non-financial notes"), blank=True)
    # Current balances (kept current by the core-banking feed).
    deposit_balance = MoneyField(_("deposit balance"), default=0)
    loan_balance = MoneyField(_("loan balance"), default=0)
    balance_as_of = models.DateField(_("balances as of"), null=True, blank=True)
    products = models.CharField(_("products held"), max_length=200, blank=True,
                                help_text=_("product codes separated by ;"))
    loan_officer = models.ForeignKey(User, verbose_name=_("loan officer"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("registered at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    # Never queried by (users are deactivated, not deleted): no index to maintain on every write.
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
                                   db_index=False)
    # Set when this record was merged into another (`customers.duplicates.customer_merge`), cleared on revert.
    # Indexed only where set (see Meta): a plain index on a column that is NULL for nearly every row
    # tempts SQLite's planner into scanning it for `merged_into IS NULL` instead of a selective index.
    merged_into = models.ForeignKey("self", verbose_name=_("merged into"), null=True, blank=True, editable=False,
                                    on_delete=models.PROTECT, related_name="merged_from", db_index=False)
    merged_at = models.DateTimeField(_("merged at"), null=True, blank=True, editable=False)
    # Segmentation (市场细分 / 客户细分), written set-based by `segmentation.services` only.
    sub_market = models.CharField(_("sub-market"), max_length=40, blank=True, default="", db_default="",
                                  editable=False)  # indexed in Meta
    tier = models.CharField(_("tier"), max_length=10, choices=CustomerTier.choices, default=CustomerTier.GENERAL,
                            db_default=CustomerTier.GENERAL, editable=False)  # indexed in Meta
    # Database defaults too: the bulk importers insert with explicit column lists.
    is_deposit_customer = models.BooleanField(_("deposit customer"), default=False, db_default=False, editable=False)
    is_loan_customer = models.BooleanField(_("loan customer"), default=False, db_default=False, editable=False)
    is_intermediary_customer = models.BooleanField(_("intermediary business customer"), default=False,
                                                   db_default=False, editable=False)

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["customer_no"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [models.Index(fields=["org_unit", "customer_type"]), models.Index(fields=["market", "org_unit"]),
                   # Covers the segmentation tables (附件1/2): one GROUP BY reads only this index.
                   models.Index(fields=["org_unit", "market", "tier", "status", "deposit_balance", "loan_balance",
                                        "merged_into"], name="customer_segment_cover"),
                   models.Index(fields=["merged_into"], condition=Q(merged_into__isnull=False),
                                name="customer_merged_into_set"),
                   # Looked up by equality only: one B-tree each, without the pattern (LIKE) index that
                   # db_index=True adds to a CharField on PostgreSQL.
                   models.Index(fields=["phone_last4"], name="customer_phone_last4"),
                   models.Index(fields=["sub_market"], name="customer_sub_market"),
                   models.Index(fields=["tier"], name="customer_tier"),
                   # Looked up by prefix (LIKE 'zs%', `_starting_with`) and by equality: on PostgreSQL one
                   # pattern index serves both whatever the collation, where db_index=True made two
                   # (a plain one, unused, and the pattern one); SQLite ignores the operator class.
                   *[models.Index(fields=[field], name=f"customer_{field}", opclasses=["varchar_pattern_ops"])
                     for field in ("phone", "name_pinyin", "name_initials")]]
        constraints = [
            models.CheckConstraint(condition=Q(customer_type__in=CustomerType.values), name="customer_type_valid"),
            models.CheckConstraint(condition=Q(status__in=CustomerStatus.values), name="customer_status_valid"),
            models.CheckConstraint(condition=Q(tier__in=CustomerTier.values), name="customer_tier_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.customer_no})"

    @property
    def age(self) -> int | None:
        if not self.birth_date:
            return None
        today = timezone.localdate()
        born = self.birth_date
        return today.year - born.year - ((today.month, today.day) < (born.month, born.day))

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)

    @property
    def industry_section(self) -> str:
        return self.industry[:1]

    @property
    def net_assets(self):
        if self.total_assets is None or self.total_liabilities is None:
            return None
        return self.total_assets - self.total_liabilities


class HouseholdRelation(models.TextChoices):
    HEAD = "head", _("Head of household")
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    OTHER = "other", _("Other")


class HouseholdMember(models.Model):
    """A member of a farmer household (the customer is the household)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="members")
    name = models.CharField(_("name"), max_length=100)
    relation = models.CharField(_("relation"), max_length=10, choices=HouseholdRelation.choices)
    id_number = models.CharField(_("ID number"), max_length=18, blank=True)
    phone = models.CharField(_("mobile phone"), max_length=11, blank=True)
    is_labourer = models.BooleanField(_("labourer"), default=True)
    occupation = models.CharField(_("occupation"), max_length=100, blank=True)

    class Meta:
        ordering = ["customer", "id"]
        verbose_name = _("household member")
        verbose_name_plural = _("household members")

    def __str__(self) -> str:
        return self.name

    @property
    def birth_date(self) -> date | None:
        if len(self.id_number) == 18:
            try:
                return date(int(self.id_number[6:10]), int(self.id_number[10:12]), int(self.id_number[12:14]))
            except ValueError:
                return None
        return None

    @property
    def masked_id_number(self) -> str:
        return mask_id_number(self.id_number)

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


class BalanceSnapshot(models.Model):
    """One customer's balances on one date, from the core-banking feed (history).

    Unique per customer and date, so a feed imported twice changes nothing.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="balance_history")
    as_of = models.DateField(_("date"))
    deposit_balance = MoneyField(_("deposit balance"), default=0)
    loan_balance = MoneyField(_("loan balance"), default=0)
    products = models.CharField(_("products held"), max_length=200, blank=True)
    loan_officer = models.CharField(_("loan officer"), max_length=150, blank=True)

    class Meta:
        ordering = ["customer", "-as_of"]
        verbose_name = _("balance snapshot")
        verbose_name_plural = _("balance history")
        constraints = [models.UniqueConstraint(fields=["customer", "as_of"], name="one_snapshot_per_customer_and_day")]
        indexes = [models.Index(fields=["as_of"])]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.as_of}"


class ImportRun(models.Model):
    """One import of a file (registration or balance feed): who, what, progress and outcome."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("Customer registration")
        BALANCES = "balances", _("Balance feed")

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    file_name = models.CharField(_("file"), max_length=255)
    started_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.RUNNING)
    dry_run = models.BooleanField(_("dry run"), default=False)
    bytes_total = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0)
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    rows_created = models.PositiveIntegerField(_("created"), default=0)
    rows_updated = models.PositiveIntegerField(_("updated"), default=0)
    rows_unchanged = models.PositiveIntegerField(_("unchanged"), default=0)
    rows_rejected = models.PositiveIntegerField(_("rejected"), default=0)
    error_report = models.CharField(_("error report"), max_length=255, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("import")
        verbose_name_plural = _("imports")

    def __str__(self) -> str:
        return f"{self.kind} {self.file_name} {self.state}"

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return int(100 * self.bytes_read / self.bytes_total) if self.bytes_total else 0

    @property
    def finished(self) -> bool:
        return self.state in (self.State.DONE, self.State.FAILED)


class NameToken(models.Model):
    """A single character or character pair of a customer's name, for substring search (see `search`).

    Used on PostgreSQL; on SQLite the tokens live in an FTS5 table instead and this table stays empty.
    """

    pk = models.CompositePrimaryKey("token", "customer")
    # Collation "C" on PostgreSQL (migration 0015: byte comparisons for an equality-only column).
    token = models.CharField(max_length=8)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="name_tokens", db_index=True)

    class Meta:
        verbose_name = _("name token")

    def __str__(self) -> str:
        return self.token


class CustomerMerge(models.Model):
    """One merge of a suspected duplicate (`absorbed`) into the record that stays (`keep`).

    Written only by `customers.duplicates.customer_merge` / `customer_merge_revert`. It records
    exactly what the merge changed, so that it can be reverted: `moved` lists the related rows
    moved from the absorbed record to the kept one as `[model label, field name, pk]`;
    `left_with_absorbed` the rows that stayed because the kept record already had their
    unique counterpart (e.g. a balance snapshot of the same day); `filled` the kept record's
    blank fields that were filled, with their old value, and `filled_with` the value put
    in; `assignment` what happened to the absorbed record's active owner. Invariant (held by
    the database): a customer is absorbed by at most one merge that is not reverted.
    """

    keep = models.ForeignKey(Customer, verbose_name=_("kept customer"), on_delete=models.PROTECT,
                             related_name="merges_kept")
    absorbed = models.ForeignKey(Customer, verbose_name=_("absorbed customer"), on_delete=models.PROTECT,
                                 related_name="merges_absorbed")
    merged_by = models.ForeignKey(User, verbose_name=_("merged by"), on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=500)
    created_at = models.DateTimeField(_("merged at"), default=timezone.now)
    moved = models.JSONField(_("moved rows"), default=list, blank=True)
    left_with_absorbed = models.JSONField(_("rows kept with the absorbed record"), default=list, blank=True)
    filled = models.JSONField(_("filled fields (old values)"), default=dict, blank=True)
    filled_with = models.JSONField(_("filled fields (new values)"), default=dict, blank=True)
    assignment = models.JSONField(_("owner handling"), default=dict, blank=True)
    reverted_at = models.DateTimeField(_("reverted at"), null=True, blank=True)
    reverted_by = models.ForeignKey(User, verbose_name=_("reverted by"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("customer merge")
        verbose_name_plural = _("customer merges")
        constraints = [
            models.CheckConstraint(condition=~Q(keep=models.F("absorbed")), name="merge_keeps_another_customer"),
            models.UniqueConstraint(fields=["absorbed"], condition=Q(reverted_at__isnull=True),
                                    name="one_open_merge_per_absorbed_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.absorbed_id} → {self.keep_id}"

    @property
    def reverted(self) -> bool:
        return self.reverted_at is not None

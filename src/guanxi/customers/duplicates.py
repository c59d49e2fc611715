"""Suspected duplicate customers, and merging two records of one party into one, reversibly.

Exact duplicates cannot exist: `Customer.id_number` is unique, and every entry path (form, API,
registration import) converts an old 15-digit resident ID to its 18-digit form before storing
it, so both forms are one identifier and the import upserts them. What remains are records
that are *probably* the same party under different identifiers; staff review them here:

- `same_name_phone`: the same name (ignoring case and spaces) and the same mobile phone under
  different ID numbers — usually an ID number mistyped on one of two registrations;
- `same_phone`: one mobile phone shared by customers with different names — sometimes one
  party registered under two names, often a family phone (review, do not merge blindly);
- `same_person_id_body`: two person or farmer records whose resident IDs agree in county code,
  birth date and sequence number (the first 17 characters) and differ only in the check
  character. None of Guanxi's own entry paths can produce such a pair, because each one
  validates the check digit; but data loaded directly into the database by a legacy migration
  (from before validation existed) can hold a mistyped check digit next to the correct number.
  The same key also pairs a raw 15-digit number loaded that way with its 18-digit form
  (the 15 digits with "19" inserted before the 2-digit birth year are the first 17).

Detection runs as GROUP BY queries in the database within the user's data scope, one page of
groups at a time and never counting all of them. Merged-away customers take no part. Each
reason first finds the keys that more than one record shares, from an index alone (the
phones, the ID bodies), and groups only the customers holding one of those: a bank's book
has few, and grouping every customer in the scope took seconds at a million.

`customer_merge` keeps everything of both records on the one that stays and records exactly
what it changed in a `CustomerMerge`, so that `customer_merge_revert` can put it all back.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Value, Window
from django.db.models.functions import Concat, Length, Lower, Replace, RowNumber, Substr
from django.db.models.lookups import Exact
from django.db.models.query import EmptyQuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core import audit
from guanxi.core.models import User
from guanxi.core.roles import OWN_SCOPE_ROLES, Role
from guanxi.core.validators import normalize_text
from guanxi.customers.models import Customer, CustomerMerge, CustomerType
from guanxi.customers.search import derived_fields, write_tokens

# How many customers of one group a page shows (a shared "phone" can belong to hundreds).
MEMBERS_SHOWN = 10
MAX_PAGE_SIZE = 100
REASON_MAX_LENGTH = 500
# Roles that may merge, within their scope: a manager only customers they own both of.
MERGER_ROLES = frozenset({Role.MANAGER, Role.BRANCH_HEAD, Role.LINE_DEPT})
# The kept record's fields that a merge fills from the absorbed one when they are blank.
FILLED_FIELDS = ("phone", "address", "industry", "annual_income", "total_assets", "total_liabilities",
                 "household_size", "guarantee_type", "notes")
# Related rows a merge does not move: search tokens are rebuilt, merge history stays where it is.
NOT_MOVED = frozenset({"customers.nametoken", "customers.customermerge", "customers.customer"})
# Unique constraints the merge resolves itself rather than leaving the row behind (see `_owner_plan`).
RESOLVED_CONSTRAINTS = frozenset({"one_active_owner_per_customer"})
_CHUNK = 500


class DuplicateReason(models.TextChoices):
    SAME_NAME_PHONE = "same_name_phone", gettext_lazy("Same name and mobile phone, different ID numbers")
    SAME_PHONE = "same_phone", gettext_lazy("Same mobile phone, different names")
    SAME_PERSON_ID_BODY = "same_person_id_body", gettext_lazy("ID numbers differ only in the check character")


_RANK = {DuplicateReason.SAME_NAME_PHONE: 1, DuplicateReason.SAME_PHONE: 2, DuplicateReason.SAME_PERSON_ID_BODY: 3}
_REASON_OF_RANK = {rank: reason for reason, rank in _RANK.items()}


# --- detection ------------------------------------------------------------------------------------------------


@dataclass
class DuplicateGroup:
    """Customers suspected to be one party: the first `MEMBERS_SHOWN` of `size`, by customer number."""

    reason: str
    size: int
    customers: list[Customer]

    @property
    def reason_label(self) -> str:
        return str(DuplicateReason(self.reason).label)

    @property
    def more(self) -> int:
        return max(0, self.size - len(self.customers))


def _normalised_name() -> models.Expression:
    return Lower(Replace(F("name"), Value(" "), Value("")))


def _id_body() -> models.Expression:
    """The first 17 characters of an 18-character resident ID; for a raw 15-digit one, the 17 it converts to."""
    return models.Case(
        models.When(Exact(Length("id_number"), 15),
                    then=Concat(Substr("id_number", 1, 6), Value("19"), Substr("id_number", 7, 9))),
        default=Substr("id_number", 1, 17),
        output_field=models.CharField(),
    )


def _candidates(user: User) -> QuerySet[Customer]:
    # visible_to already hides merged customers from everyone but the auditor; they take no part for her either.
    return Customer.objects.visible_to(user).filter(merged_into__isnull=True).order_by()


# More shared keys than this (a legacy load full of them) are not listed: the grouping is narrowed by a
# subquery instead (phones), or not at all (ID bodies).
KEYS_LISTED = 2000


class _SharedKeys:
    """The keys that more than one customer record holds, in the whole table, each read once per page: the
    only keys a group can have, whatever the scope (a group of the user's customers is one of these).
    Counted from an index alone, without reading a customer's row, they narrow the grouping to the few
    customers that share a key: at 1,000,000 customers, an auditor's first page of every reason took 0.9 s
    instead of 10.3 s on SQLite, 1.3 s instead of 4.3 s on PostgreSQL. (Not a data scope: they only filter
    the user's scoped candidates.) Not read for a user who sees only the customers assigned to them (`narrow`
    false): grouping those few directly costs less than reading the whole table's keys.

    Each is None where the grouping is not narrowed, [] where no key is shared."""

    def __init__(self, *, narrow: bool):
        self.narrow = narrow

    @functools.cached_property
    def phones(self) -> list[str] | QuerySet | None:
        """Listed, or as a subquery when there are too many to list."""
        if not self.narrow:
            return None
        shared = (Customer.objects.order_by().exclude(phone="").values("phone")
                  .annotate(records=Count("*")).filter(records__gt=1).values_list("phone", flat=True))
        listed = _listed(shared)
        return shared if listed is None else listed

    @functools.cached_property
    def id_bodies(self) -> list[str] | None:
        """Usually none at all (only data loaded around Guanxi's validation makes one); too many to list are
        not narrowed by."""
        if not self.narrow:
            return None
        return _listed(Customer.objects.order_by().annotate(body=_id_body()).values("body")
                       .annotate(records=Count("*")).filter(records__gt=1).values_list("body", flat=True))


def _listed(keys: QuerySet) -> list[str] | None:
    """The keys, or None if there are more than KEYS_LISTED."""
    listed = list(keys[:KEYS_LISTED + 1])
    return listed if len(listed) <= KEYS_LISTED else None


def _near_bodies(bodies: Iterable[str]) -> Q:
    """Customers whose ID has one of these bodies: prefix ranges on the unique index of id_number, plus the raw
    15-digit form of each body."""
    near = Q()
    for body in bodies:
        near |= Q(id_number__startswith=body)
        if body[6:8] == "19":
            near |= Q(id_number=body[:6] + body[8:])
    return near


def _group_query(candidates: QuerySet[Customer], reason: str, shared: _SharedKeys) -> QuerySet | None:
    """One row (rank, key, key2, n) per group of `reason`: a GROUP BY ... HAVING in the database, over the
    candidates whose key another customer record shares (`_SharedKeys`); None when no key is shared."""
    empty = Value("", output_field=models.CharField())
    if reason in (DuplicateReason.SAME_NAME_PHONE, DuplicateReason.SAME_PHONE):
        phones = shared.phones
        if phones == []:
            return None
        rows = candidates.exclude(phone="") if phones is None else candidates.filter(phone__in=phones)
        if reason == DuplicateReason.SAME_NAME_PHONE:
            rows = rows.annotate(rank=Value(1), key=F("phone"), key2=_normalised_name())
        else:
            rows = rows.annotate(rank=Value(2), key=F("phone"), key2=empty)
    else:
        bodies = shared.id_bodies
        if bodies == []:
            return None
        rows = candidates.filter(customer_type__in=[CustomerType.PERSON, CustomerType.FARMER])
        if bodies is not None:
            rows = rows.filter(_near_bodies(bodies))
        rows = rows.annotate(rank=Value(3), key=_id_body(), key2=empty)
    groups = rows.values("rank", "key", "key2").annotate(n=Count("pk")).filter(n__gt=1)
    if reason == DuplicateReason.SAME_PHONE:
        groups = groups.annotate(names=Count(_normalised_name(), distinct=True)).filter(names__gt=1)
    return groups.values("rank", "key", "key2", "n")


def _members(candidates: QuerySet[Customer], reason: str, keys: list[tuple[str, str]]) -> dict[tuple, list]:
    """The first MEMBERS_SHOWN customers of each group on the page, one windowed query per reason."""
    if reason == DuplicateReason.SAME_NAME_PHONE:
        rows = candidates.annotate(key=F("phone"), key2=_normalised_name()).filter(
            phone__in={k for k, _k2 in keys}, key2__in={k2 for _k, k2 in keys})
        partition = [F("phone"), F("key2")]
    elif reason == DuplicateReason.SAME_PHONE:
        rows = candidates.filter(phone__in={k for k, _k2 in keys}).annotate(
            key=F("phone"), key2=Value("", output_field=models.CharField()))
        partition = [F("phone")]
    else:
        rows = candidates.filter(_near_bodies(body for body, _k2 in keys),
                                 customer_type__in=[CustomerType.PERSON, CustomerType.FARMER]).annotate(
            key=_id_body(), key2=Value("", output_field=models.CharField()))
        partition = [F("key")]
    rows = rows.annotate(
        position=Window(RowNumber(), partition_by=partition, order_by=[F("customer_no").asc()]),
    ).filter(position__lte=MEMBERS_SHOWN).select_related("org_unit").order_by("customer_no")
    wanted = set(keys)
    members: dict[tuple, list] = defaultdict(list)
    for customer in rows:
        if (customer.key, customer.key2) in wanted:
            members[(customer.key, customer.key2)].append(customer)
    return members


def _prefetch_owners(customers: list[Customer]) -> None:
    """The active assignment of each, as `customer.active_assignments` (read by `selectors.customer_owner`)."""
    if not customers or not apps.is_installed("guanxi.relationships"):
        return
    assignment = apps.get_model("relationships", "Assignment")
    active = assignment.objects.filter(active=True).select_related("owner")
    models.prefetch_related_objects(customers, Prefetch("assignments", queryset=active, to_attr="active_assignments"))


def duplicate_groups(
    *, user: User, reason: str = "", offset: int = 0, limit: int = 25,
) -> tuple[list[DuplicateGroup], bool]:
    """One page of suspected duplicate groups in the user's data scope, and whether there is a next page.

    Groups are ordered by reason, then key; `reason` narrows to one reason code. The groups are
    found by one aggregate query (a UNION of one GROUP BY per reason), fetched a page plus one row
    at a time; their members by at most one query per reason on the page, and their owners by one.
    """
    if reason and reason not in DuplicateReason.values:
        raise ValidationError({"reason": _("%(value)s is not a known reason; use one of %(codes)s")
                               % {"value": reason, "codes": ", ".join(DuplicateReason.values)}})
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    offset = max(0, int(offset))
    candidates = _candidates(user)
    if isinstance(candidates, EmptyQuerySet):  # a role that sees no customer
        return [], False
    reasons = [reason] if reason else list(DuplicateReason.values)
    shared = _SharedKeys(narrow=user.role not in OWN_SCOPE_ROLES)
    queries = [query for query in (_group_query(candidates, r, shared) for r in reasons) if query is not None]
    if not queries:
        return [], False
    query = queries[0].union(*queries[1:], all=True) if len(queries) > 1 else queries[0]
    rows = list(query.order_by("rank", "key", "key2")[offset : offset + limit + 1])
    has_next = len(rows) > limit
    rows = rows[:limit]

    keys_by_reason: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        keys_by_reason[_REASON_OF_RANK[row["rank"]]].append((row["key"], row["key2"]))
    members = {r: _members(candidates, r, keys) for r, keys in keys_by_reason.items()}
    groups = [
        DuplicateGroup(reason=_REASON_OF_RANK[row["rank"]], size=row["n"],
                       customers=members[_REASON_OF_RANK[row["rank"]]].get((row["key"], row["key2"]), []))
        for row in rows
    ]
    _prefetch_owners([customer for group in groups for customer in group.customers])
    return groups, has_next


# --- merging: who, what -------------------------------------------------------------------------------------


def can_merge_customers(user: User) -> bool:
    """Whether the user's role may merge customers at all (each merge still needs both in their scope)."""
    return bool(getattr(user, "is_authenticated", False)) and user.can_write_customers and user.role in MERGER_ROLES


def _require_merger(user: User) -> None:
    if not can_merge_customers(user):
        raise PermissionDenied(_("your role may not merge customers"))


@dataclass
class RelatedRows:
    """The rows of one model that point at the absorbed customer through one foreign key."""

    model: type[models.Model]
    field: models.ForeignKey
    moving: list = field(default_factory=list)
    staying: list = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name_plural)


@dataclass
class MergePlan:
    """What merging `absorb` into `keep` would do; the confirmation page shows it and the merge carries it out."""

    keep: Customer
    absorb: Customer
    related: list[RelatedRows]
    fills: dict[str, tuple[Any, Any]]  # field → (keep's blank value, absorb's value)
    owner: dict[str, Any]  # see `_owner_plan`

    @property
    def fill_rows(self) -> list[tuple[str, Any]]:
        """(field label, value shown) of the fields to fill, ID numbers and phones masked."""
        return [(str(Customer._meta.get_field(name).verbose_name), _display(name, new))
                for name, (_old, new) in self.fills.items()]

    @property
    def owner_outcome(self) -> str:
        if not self.owner:
            return ""
        if self.owner["deactivated"]:
            return _("The absorbed customer's owner becomes part of the kept customer's ownership history.")
        return _("The absorbed customer's owner becomes the kept customer's owner (it has none).")


def _display(name: str, value: Any) -> Any:
    return audit.diff({}, {name: value})[name][1]


def customer_foreign_keys() -> list[tuple[type[models.Model], models.ForeignKey]]:
    """Every (model, foreign key) that points at Customer, in every installed app, except `NOT_MOVED`.

    Found through the model registry rather than a list, so that the rows of apps added later
    (interactions, ratings, complaints …) move with a merge too. Hidden relations count as well:
    a foreign key declared with `related_name="+"` and the tables of many-to-many fields.
    """
    found = []
    for relation in Customer._meta.get_fields(include_hidden=True):
        if not relation.auto_created or relation.concrete or relation.many_to_many:
            continue  # forward fields, and many-to-many (its table's own foreign key is listed instead)
        model = relation.related_model
        if model._meta.label_lower in NOT_MOVED:
            continue
        fk = relation.field
        if fk.primary_key or fk.name in getattr(model._meta.pk, "field_names", ()):
            raise ImproperlyConfigured(
                f"{model._meta.label}.{fk.name} is part of the primary key; teach customers.duplicates to move it")
        found.append((model, fk))
    return found


def _unique_sets(model: type[models.Model], fk: models.ForeignKey) -> list[tuple[list[str], Q | None]]:
    """The unique rules a row keyed by `fk` must keep on its new customer: [(other fields, condition)]."""
    sets: list[tuple[list[str], Q | None]] = []
    if fk.unique:
        sets.append(([], None))
    for together in model._meta.unique_together:
        if fk.name in together:
            sets.append(([name for name in together if name != fk.name], None))
    for constraint in model._meta.constraints:
        if (isinstance(constraint, models.UniqueConstraint) and fk.name in constraint.fields
                and constraint.name not in RESOLVED_CONSTRAINTS):
            sets.append(([name for name in constraint.fields if name != fk.name], constraint.condition))
    return sets


def _customer_value(customer: Customer, fk: models.ForeignKey) -> Any:
    return getattr(customer, fk.target_field.attname)


def _related_rows(keep: Customer, absorb: Customer) -> list[RelatedRows]:
    """The absorbed customer's related rows, split into those that can move and those that must stay.

    A row stays with the absorbed record when moving it would break a unique rule on the kept one
    (a balance snapshot for a day the kept customer already has, a one-to-one profile it already has).
    """
    plan = []
    for model, fk in customer_foreign_keys():
        manager = model._base_manager
        mine = manager.filter(**{fk.attname: _customer_value(absorb, fk)}).order_by()
        pks = list(mine.order_by("pk").values_list("pk", flat=True))
        if not pks:
            continue
        staying: set = set()
        for others, condition in _unique_sets(model, fk):
            theirs = manager.filter(**{fk.attname: _customer_value(keep, fk)})
            candidates = mine
            if condition is not None:
                theirs, candidates = theirs.filter(condition), candidates.filter(condition)
            if others:
                clashing = candidates.filter(Exists(theirs.filter(**{name: OuterRef(name) for name in others})))
                staying.update(clashing.values_list("pk", flat=True))
            elif theirs.exists():
                staying.update(candidates.values_list("pk", flat=True))
        plan.append(RelatedRows(model=model, field=fk, moving=[pk for pk in pks if pk not in staying],
                                staying=[pk for pk in pks if pk in staying]))
    return plan


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _fills(keep: Customer, absorb: Customer) -> dict[str, tuple[Any, Any]]:
    return {name: (getattr(keep, name), getattr(absorb, name)) for name in FILLED_FIELDS
            if _blank(getattr(keep, name)) and not _blank(getattr(absorb, name))}


def _assignment_model() -> type[models.Model] | None:
    # The one-active-owner rule is the customers' own invariant (DESIGN: every customer has exactly
    # one responsible manager); relationships only stores it. Looked up, not imported, to keep the
    # dependency pointing one way.
    return apps.get_model("relationships", "Assignment") if apps.is_installed("guanxi.relationships") else None


def _owner_plan(keep: Customer, absorb: Customer) -> dict[str, Any]:
    """What happens to the absorbed customer's active owner: history on the kept one, or its owner.

    The kept customer has an owner: the absorbed one's active assignment ends and moves over as
    history (`deactivated`). It has none: the assignment moves over still active and becomes its
    owner. Either way one active owner per customer holds (a partial unique constraint).
    """
    assignment = _assignment_model()
    if assignment is None:
        return {}
    active_pk = assignment.objects.filter(customer=absorb, active=True).values_list("pk", flat=True).first()
    if active_pk is None:
        return {}
    keep_has_owner = assignment.objects.filter(customer=keep, active=True).exists()
    return {"pk": active_pk, "was_active": True, "deactivated": keep_has_owner}


def _clean_reason(reason: str) -> str:
    reason = normalize_text(reason)
    if not reason:
        raise ValidationError({"reason": _("give the reason for merging these customers")})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": _("the reason may have at most %(n)d characters") % {"n": REASON_MAX_LENGTH}})
    return reason


def _check_pair(acting_user: User, keep: Customer, absorb: Customer) -> None:
    """Both customers current, in the user's scope and of compatible types; raises otherwise."""
    if keep.pk == absorb.pk:
        raise ValidationError({"absorb_id": _("a customer cannot be merged into itself")})
    if keep.merged_into_id is not None:
        raise ValidationError({"keep_id": _("%(customer)s has already been merged into another customer")
                               % {"customer": keep.customer_no}})
    if absorb.merged_into_id is not None:
        raise ValidationError({"absorb_id": _("%(customer)s has already been merged into another customer")
                               % {"customer": absorb.customer_no}})
    visible = set(Customer.objects.visible_to(acting_user).filter(pk__in=[keep.pk, absorb.pk])
                  .values_list("pk", flat=True))
    if visible != {keep.pk, absorb.pk}:
        raise PermissionDenied(_("both customers must be in your data scope"))
    if (keep.customer_type == CustomerType.COMPANY) != (absorb.customer_type == CustomerType.COMPANY):
        raise ValidationError({"absorb_id": _("a company cannot be merged with a person or a farmer household")})


def customer_merge_preview(*, acting_user: User, keep: Customer, absorb: Customer) -> MergePlan:
    """What `customer_merge` would do, for the confirmation page. Reads only; same checks as the merge."""
    _require_merger(acting_user)
    _check_pair(acting_user, keep, absorb)
    return MergePlan(keep=keep, absorb=absorb, related=_related_rows(keep, absorb), fills=_fills(keep, absorb),
                     owner=_owner_plan(keep, absorb))


# --- merging: the operations ----------------------------------------------------------------------------------


def _chunks(values: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _json_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)  # Decimal yuan, dates


def _move(model: type[models.Model], fk: models.ForeignKey, pks: Iterable, *, source: Customer,
          target: Customer) -> int:
    """Point these rows (still on `source`) at `target`: one UPDATE per chunk. Returns how many moved."""
    moved = 0
    for chunk in _chunks(list(pks)):
        moved += model._base_manager.filter(pk__in=chunk, **{fk.attname: _customer_value(source, fk)}).update(
            **{fk.attname: _customer_value(target, fk)})
    return moved


def _lock(*customers: Customer) -> None:
    """Lock the customers' rows for this transaction (in primary-key order, so two merges cannot deadlock)."""
    pks = sorted(customer.pk for customer in customers)
    list(Customer.objects.select_for_update().filter(pk__in=pks).order_by("pk").values_list("pk", flat=True))
    for customer in customers:
        customer.refresh_from_db()


def _verify_visible(acting_user: User, *customers: Customer) -> None:
    pks = {customer.pk for customer in customers}
    if set(Customer.objects.visible_to(acting_user).filter(pk__in=pks).values_list("pk", flat=True)) != pks:
        raise PermissionDenied(_("the change would take a customer outside your data scope"))


def _set_fields(customer: Customer, values: dict[str, Any], now) -> None:
    for name, value in values.items():
        setattr(customer, name, value)
    changed = list(values)
    if "phone" in values:
        customer.phone_last4 = derived_fields(phone=customer.phone)["phone_last4"]
        changed.append("phone_last4")
    customer.updated_at = now
    customer.save(update_fields=[*changed, "updated_at"])


def customer_merge(*, acting_user: User, keep: Customer, absorb: Customer, reason: str) -> CustomerMerge:
    """Merge `absorb` into `keep`: everything of both ends up on `keep`, and `absorb` is marked merged.

    Who: a manager, branch head or line department whose data scope holds both customers
    (a manager therefore owns both). In one transaction, with both rows locked:

    - every row of every model with a foreign key to Customer moves from `absorb` to `keep`,
      except search tokens (rebuilt) and rows that would break a unique rule on `keep` (they
      stay with `absorb` and are listed in `left_with_absorbed`); the absorbed customer's active
      owner becomes history on `keep`, or its owner when `keep` has none;
    - `keep`'s blank fields (FILLED_FIELDS) are filled from `absorb`, never overwritten;
    - `absorb.merged_into` is set: from now on only the auditor sees it;
    - a `CustomerMerge` records all of it, and the audit entry `customer.merge` names the counts
      and the filled fields (ID numbers and phones masked).

    Raises PermissionDenied (role, scope) and ValidationError naming the field (`keep_id`,
    `absorb_id`, `reason`).
    """
    _require_merger(acting_user)
    reason = _clean_reason(reason)
    if keep.pk == absorb.pk:
        raise ValidationError({"absorb_id": _("a customer cannot be merged into itself")})
    try:
        with transaction.atomic():
            _lock(keep, absorb)
            _check_pair(acting_user, keep, absorb)
            now = timezone.now()
            owner = _owner_plan(keep, absorb)
            if owner.get("deactivated"):
                _assignment_model()._base_manager.filter(pk=owner["pk"]).update(active=False, ended_at=now)
            moved, left = [], []
            for rows in _related_rows(keep, absorb):
                _move(rows.model, rows.field, rows.moving, source=absorb, target=keep)
                moved += [[rows.label, rows.field.name, _json_value(pk)] for pk in rows.moving]
                left += [[rows.label, rows.field.name, _json_value(pk)] for pk in rows.staying]
            fills = _fills(keep, absorb)
            if fills:
                _set_fields(keep, {name: new for name, (_old, new) in fills.items()}, now)
            write_tokens([(keep.pk, keep.name)], replace=True)
            absorb.merged_into, absorb.merged_at = keep, now
            absorb.save(update_fields=["merged_into", "merged_at"])
            merge = CustomerMerge.objects.create(
                keep=keep, absorbed=absorb, merged_by=acting_user, reason=reason, created_at=now,
                moved=moved, left_with_absorbed=left,
                filled={name: _json_value(old) for name, (old, _new) in fills.items()},
                filled_with={name: _json_value(new) for name, (_old, new) in fills.items()},
                assignment=owner,
            )
            changes: dict[str, Any] = {
                "merge": merge.pk, "keep": keep.customer_no, "absorbed": absorb.customer_no, "reason": reason,
                "moved": dict(Counter(label for label, _name, _pk in moved)),
                "left_with_absorbed": dict(Counter(label for label, _name, _pk in left)),
                "filled": audit.diff({name: old for name, (old, _new) in fills.items()},
                                     {name: new for name, (_old, new) in fills.items()}),
            }
            if owner:
                changes["absorbed_owner"] = "history" if owner["deactivated"] else "owner"
            audit.record(actor=acting_user, action="customer.merge", obj=keep, changes=changes)
            _verify_visible(acting_user, keep)
    except IntegrityError as exc:
        # Another request changed one of the two customers at the same moment (or a unique rule
        # the plan could not see, such as one on an expression, would break).
        raise ValidationError({"absorb_id": _("the merge clashed with another change; try again")}) from exc
    return merge


def customer_merge_revert(*, acting_user: User, merge: CustomerMerge) -> CustomerMerge:
    """Undo a merge: exactly the recorded rows move back, filled fields empty again, the absorbed customer returns.

    Who: as for `customer_merge`, with the kept customer in scope; afterwards both customers must
    be in the user's scope. A filled field changed since the merge keeps its newer value (the
    audit entry `customer.merge_revert` says which). The absorbed customer's owner is moved
    back and active again if it was active before and the customer has no other. Recorded rows
    deleted or moved elsewhere since are reported as `missing`. Refused (ValidationError on
    `merge`) when already reverted, or while the kept customer is itself merged into another
    (revert that later merge first).
    """
    _require_merger(acting_user)
    with transaction.atomic():
        merge = CustomerMerge.objects.select_for_update().get(pk=merge.pk)
        if merge.reverted_at is not None:
            raise ValidationError({"merge": _("this merge was already reverted on %(when)s by %(user)s")
                                   % {"when": timezone.localtime(merge.reverted_at).strftime("%Y-%m-%d %H:%M"),
                                      "user": merge.reverted_by.username if merge.reverted_by else "?"}})
        keep, absorb = merge.keep, merge.absorbed
        _lock(keep, absorb)
        if keep.merged_into_id is not None:
            raise ValidationError({"merge": _("%(customer)s has since been merged into another customer; "
                                              "revert that merge first") % {"customer": keep.customer_no}})
        if absorb.merged_into_id != keep.pk:
            raise ValidationError({"merge": _("%(customer)s is no longer merged into %(keep)s")
                                   % {"customer": absorb.customer_no, "keep": keep.customer_no}})
        _verify_visible(acting_user, keep)
        now = timezone.now()

        groups: dict[tuple[str, str], list] = defaultdict(list)
        for label, name, pk in merge.moved:
            groups[(label, name)].append(pk)
        moved_back: Counter = Counter()
        missing: Counter = Counter()
        try:
            with transaction.atomic():
                for (label, name), pks in groups.items():
                    model = apps.get_model(label)
                    count = _move(model, model._meta.get_field(name), pks, source=keep, target=absorb)
                    moved_back[label] += count
                    if count < len(pks):
                        missing[label] += len(pks) - count
        except IntegrityError as exc:
            raise ValidationError({"merge": _("rows added to %(customer)s since the merge clash with the rows to "
                                              "move back") % {"customer": absorb.customer_no}}) from exc

        owner = merge.assignment
        assignment = _assignment_model()
        if owner and assignment is not None and owner.get("was_active"):
            has_owner = assignment.objects.filter(customer=absorb, active=True).exclude(pk=owner["pk"]).exists()
            if not has_owner:
                assignment._base_manager.filter(pk=owner["pk"], customer=absorb).update(active=True, ended_at=None)

        restore, kept_newer = {}, {}
        for name, old in merge.filled.items():
            current = getattr(keep, name)
            if _json_value(current) == merge.filled_with.get(name):
                restore[name] = Customer._meta.get_field(name).to_python(old) if old is not None else None
            else:
                kept_newer[name] = current
        before = {name: getattr(keep, name) for name in restore}
        if restore:
            _set_fields(keep, restore, now)
        write_tokens([(keep.pk, keep.name), (absorb.pk, absorb.name)], replace=True)
        absorb.merged_into, absorb.merged_at = None, None
        absorb.save(update_fields=["merged_into", "merged_at"])
        merge.reverted_at, merge.reverted_by = now, acting_user
        merge.save(update_fields=["reverted_at", "reverted_by"])
        changes: dict[str, Any] = {
            "merge": merge.pk, "keep": keep.customer_no, "absorbed": absorb.customer_no,
            "moved_back": dict(moved_back), "missing": dict(missing),
            "restored": audit.diff(before, restore),
            "kept_newer": audit.diff({name: merge.filled_with.get(name) for name in kept_newer}, kept_newer),
        }
        audit.record(actor=acting_user, action="customer.merge_revert", obj=keep, changes=changes)
        _verify_visible(acting_user, keep, absorb)
    return merge


# --- merge history --------------------------------------------------------------------------------------------


def merge_list(*, user: User) -> QuerySet[CustomerMerge]:
    """Merges whose kept customer the user may see, newest first."""
    visible = Customer.objects.visible_to(user).values("pk")
    return (CustomerMerge.objects.filter(keep__in=visible)
            .select_related("keep", "absorbed", "merged_by", "reverted_by").order_by("-created_at", "-id"))


def merge_get(*, user: User, pk: int) -> CustomerMerge:
    """One merge of a kept customer in the user's scope; 404 otherwise."""
    return get_object_or_404(merge_list(user=user), pk=pk)


def moved_counts(entries: list) -> list[tuple[str, int]]:
    """[(model's plural name, rows)] of a merge's `moved` or `left_with_absorbed` list."""
    counts = Counter(label for label, _name, _pk in entries)
    out = []
    for label, count in sorted(counts.items()):
        try:
            name = str(apps.get_model(label)._meta.verbose_name_plural)
        except LookupError:
            name = label
        out.append((name, count))
    return out

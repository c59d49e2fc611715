"""Assignments: one active owner per customer (1对N) — setting, rules, transfers.

Every writer here runs in one transaction and writes its audit entry in it. Bulk paths
(rules, transfers) are set-based: one UPDATE that ends the old assignments and one bulk
INSERT of the new ones; the partial unique constraint `one_active_owner_per_customer`
keeps "never two owners" true even against concurrent writers.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import Role
from guanxi.customers.models import Customer, CustomerType
from guanxi.relationships.models import Assignment, AssignmentRule, RuleKind

OWNER_ROLES = frozenset({Role.MANAGER, Role.TELLER, Role.BRANCH_HEAD})
# Who may configure and run rules, transfer and reassign: heads for their subtree, line departments for their line.
ASSIGNER_ROLES = frozenset({Role.BRANCH_HEAD, Role.LINE_DEPT})
HIGH_DEPOSIT_YUAN = Decimal("1000000")
HIGH_LOAN_YUAN = Decimal("2000000")
BATCH = 2000


def _raced() -> ValidationError:
    return ValidationError(_("The customer was just assigned by someone else; reload and try again."),
                           code="assignment_race")


def _check_owner(owner: User) -> None:
    if owner.role not in OWNER_ROLES or not owner.is_active:
        raise ValidationError({"owner": _("%(user)s cannot own customers") % {"user": owner.display_name}})


UNSET: Any = object()


def assignment_set(*, acting_user: User | None, customer: Customer, owner: User, reason: str = "",
                   expected_owner: User | None = UNSET) -> Assignment:
    """Make `owner` the customer's one active owner, ending any previous assignment.

    No permission check (callers decide: the registration receiver, `assignment_change`).
    `expected_owner` (None: "it had no owner") is the owner the caller saw; if someone changed
    it meanwhile the call is refused rather than silently overwriting their decision.
    The partial unique constraint guarantees a single active owner even when two requests
    race; the loser's transaction is rolled back whole, and either way the loser gets the
    ValidationError "the customer was just assigned by someone else".
    """
    _check_owner(owner)
    try:
        with transaction.atomic():
            now = timezone.now()
            previous = (Assignment.objects.select_for_update().filter(customer=customer, active=True)
                        .select_related("owner").first())
            if expected_owner is not UNSET and (previous.owner_id if previous else None) != (
                    expected_owner.pk if expected_owner else None):
                raise _raced()
            if previous is not None:
                if previous.owner_id == owner.pk:
                    return previous
                Assignment.objects.filter(pk=previous.pk).update(active=False, ended_at=now, end_reason=reason[:200])
            assignment = Assignment.objects.create(
                customer=customer, owner=owner, started_at=now, reason=reason[:200], assigned_by=acting_user
            )
            audit.record(
                actor=acting_user, action="assignment.set", obj=customer,
                changes={"owner": [previous.owner.username if previous else None, owner.username], "reason": reason},
            )
    except IntegrityError as exc:
        raise _raced() from exc
    return assignment


def current_owner(customer: Customer) -> User | None:
    assignment = Assignment.objects.filter(customer=customer, active=True).select_related("owner").first()
    return assignment.owner if assignment else None


# --- scope --------------------------------------------------------------------------------------------------------

def assignable_customers(user: User | None) -> QuerySet[Customer]:
    """Customers whose owner `user` may decide: a head's subtree, a line department's line; None = the system."""
    current = Customer.objects.filter(merged_into__isnull=True)
    if user is None:
        return current
    if not user.is_active or user.role not in ASSIGNER_ROLES:
        raise PermissionDenied(_("Only branch heads and line departments assign customers."))
    if user.role == Role.BRANCH_HEAD:
        return current.filter(org_unit__path__startswith=user.org_unit.path) if user.org_unit_id else current.none()
    return current.filter(market=user.market_line) if user.market_line else current.none()


def assignable_owners(user: User | None) -> QuerySet[User]:
    """Staff `user` may make owners: active owner roles in a head's subtree; anyone for a line department."""
    staff = User.objects.filter(is_active=True, role__in=OWNER_ROLES)
    if user is not None and user.role == Role.BRANCH_HEAD:
        return staff.filter(org_unit__path__startswith=user.org_unit.path) if user.org_unit_id else staff.none()
    return staff


def assignment_change(*, acting_user: User, customer: Customer, owner: User, reason: str,
                      expected_owner: User | None = UNSET) -> Assignment:
    """A head (or the line department) sets the owner of one customer in their scope, with a reason.

    The customer must be assignable by the acting user (else 404 from the caller's fetch, or
    PermissionDenied here); the owner must be staff the acting user may give customers to.
    """
    if not reason.strip():
        raise ValidationError({"reason": _("Give a reason for the change.")})
    if not assignable_customers(acting_user).filter(pk=customer.pk).exists():
        raise PermissionDenied(_("This customer is outside your scope."))
    if not assignable_owners(acting_user).filter(pk=owner.pk).exists():
        raise ValidationError({"owner": _("%(user)s cannot own customers in your scope")
                               % {"user": owner.display_name}})
    return assignment_set(acting_user=acting_user, customer=customer, owner=owner, reason=reason.strip(),
                          expected_owner=expected_owner)


# --- rules --------------------------------------------------------------------------------------------------------

def _amount(parameters: dict, key: str, default: Decimal | None = None) -> Decimal | None:
    value = parameters.get(key)
    if value in (None, ""):
        return default
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationError({key: _("%(value)s is not an amount in yuan") % {"value": value}}) from exc
    if amount < 0:
        raise ValidationError({key: _("The amount cannot be negative.")})
    return amount


def _has_tier() -> bool:
    return any(f.name == "tier" for f in Customer._meta.get_fields())


def _high_tier_q(parameters: dict) -> Q:
    """High tier: `Customer.tier` once segmentation provides it, balance thresholds until then."""
    if _has_tier():
        return Q(tier="high")
    return (Q(deposit_balance__gte=_amount(parameters, "deposit_threshold", HIGH_DEPOSIT_YUAN))
            | Q(loan_balance__gte=_amount(parameters, "loan_threshold", HIGH_LOAN_YUAN)))


def _leader_q(parameters: dict) -> Q:
    """High-value (optional thresholds) or group customers (company with a big loan, or listed numbers)."""
    query = Q(pk__in=[])
    deposit, loan = _amount(parameters, "deposit_threshold"), _amount(parameters, "loan_threshold")
    if deposit is not None:
        query |= Q(deposit_balance__gte=deposit)
    if loan is not None:
        query |= Q(loan_balance__gte=loan)
    group_loan = _amount(parameters, "group_loan_threshold")
    if group_loan is not None:
        query |= Q(customer_type=CustomerType.COMPANY, loan_balance__gte=group_loan)
    numbers = [str(n).strip() for n in parameters.get("group_customer_nos") or [] if str(n).strip()]
    if numbers:
        query |= Q(customer_no__in=numbers)
    return query


def assignment_rule_validate(*, kind: str, parameters: dict) -> dict:
    """Check and normalise a rule's parameters; raises ValidationError naming the parameter."""
    if kind not in RuleKind.values:
        raise ValidationError({"kind": _("Unknown rule kind %(kind)s") % {"kind": kind}})
    parameters = {k: v for k, v in (parameters or {}).items() if v not in (None, "", [])}
    for key in ("deposit_threshold", "loan_threshold", "group_loan_threshold"):
        if key in parameters:
            parameters[key] = str(_amount(parameters, key))
    if isinstance(parameters.get("group_customer_nos"), str):
        parameters["group_customer_nos"] = [n for n in parameters["group_customer_nos"].replace(";", ",")
                                            .replace("\n", ",").split(",") if n.strip()]
    if "group_customer_nos" in parameters:
        parameters["group_customer_nos"] = [str(n).strip() for n in parameters["group_customer_nos"]]
    if kind == RuleKind.HEAD_OFFICE_LEADER:
        username = parameters.get("username", "")
        leader = User.objects.filter(username=username).first()
        if leader is None:
            raise ValidationError({"username": _("No staff member is named %(username)s") % {"username": username}})
        _check_owner(leader)
    if kind == RuleKind.DEPOSIT_TELLER:
        if parameters.setdefault("strategy", "least_loaded") not in ("least_loaded", "round_robin"):
            raise ValidationError({"strategy": _("Choose least_loaded or round_robin.")})
        parameters["include_remaining"] = parameters.get("include_remaining") in (True, "true", "on", "1", 1)
    return parameters


def assignment_rule_save(*, acting_user: User, rule: AssignmentRule | None = None, name: str, kind: str,
                         priority: int = 100, active: bool = True, parameters: dict | None = None,
                         org_unit: OrgUnit | None = None) -> AssignmentRule:
    """Create or change a rule. Heads configure rules for their subtree, line departments any rule; audited."""
    if acting_user.role not in ASSIGNER_ROLES or not acting_user.is_active:
        raise PermissionDenied(_("Only branch heads and line departments configure assignment rules."))
    if acting_user.role == Role.BRANCH_HEAD:
        org_unit = org_unit or acting_user.org_unit
        if acting_user.org_unit_id is None or not org_unit.is_within(acting_user.org_unit):
            raise PermissionDenied(_("Rules you configure apply within your org unit."))
        if rule is not None and (rule.org_unit is None or not rule.org_unit.is_within(acting_user.org_unit)):
            raise PermissionDenied(_("This rule is outside your org unit."))
    if not name.strip():
        raise ValidationError({"name": _("Give the rule a name.")})
    parameters = assignment_rule_validate(kind=kind, parameters=parameters or {})
    with transaction.atomic():
        before = {} if rule is None else {"name": rule.name, "kind": rule.kind, "priority": rule.priority,
                                          "active": rule.active, "parameters": rule.parameters}
        rule = rule or AssignmentRule(created_by=acting_user)
        rule.name, rule.kind, rule.priority, rule.active = name.strip(), kind, int(priority), bool(active)
        rule.parameters, rule.org_unit, rule.updated_at = parameters, org_unit, timezone.now()
        rule.full_clean()
        rule.save()
        after = {"name": rule.name, "kind": rule.kind, "priority": rule.priority, "active": rule.active,
                 "parameters": rule.parameters}
        audit.record(actor=acting_user, action="assignment_rule.save", obj=rule,
                     changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v})
    return rule


@dataclass
class RunSummary:
    """What a run of the rules did (or would do, on a dry run)."""

    scope: str
    dry_run: bool
    considered: int = 0
    per_rule: dict[str, int] = field(default_factory=dict)
    unchanged: int = 0
    unmatched: int = 0
    changed: int = 0
    # A sample of the proposals for the preview: (customer_id, old owner id, new owner id, rule name).
    sample: list[tuple[int, int | None, int, str]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"scope": self.scope, "dry_run": self.dry_run, "considered": self.considered,
                "per_rule": self.per_rule, "changed": self.changed, "unchanged": self.unchanged,
                "unmatched": self.unmatched}


def _spread(rows: list[tuple[int, int]], staff_by_unit: dict[int, list[int]], load: Counter, strategy: str
            ) -> dict[int, int]:
    """Give each (customer, unit) one of the unit's staff: least loaded first, or in turn."""
    proposals: dict[int, int] = {}
    heaps: dict[int, list[tuple[int, int]]] = {}
    turns: dict[int, itertools.cycle] = {}
    for customer_id, unit_id in rows:
        staff = staff_by_unit.get(unit_id)
        if not staff:
            continue
        if strategy == "round_robin":
            turn = turns.setdefault(unit_id, itertools.cycle(staff))
            proposals[customer_id] = next(turn)
            continue
        heap = heaps.get(unit_id)
        if heap is None:
            heap = heaps[unit_id] = [(load[s], s) for s in staff]
            heapq.heapify(heap)
        count, owner_id = heapq.heappop(heap)
        proposals[customer_id] = owner_id
        heapq.heappush(heap, (count + 1, owner_id))
    return proposals


def _staff_by_unit(unit_ids: set[int], role: str) -> dict[int, list[int]]:
    by_unit: dict[int, list[int]] = defaultdict(list)
    for pk, unit_id in (User.objects.filter(role=role, is_active=True, org_unit_id__in=unit_ids)
                        .order_by("pk").values_list("pk", "org_unit_id")):
        by_unit[unit_id].append(pk)
    return by_unit


def _propose(rule: AssignmentRule, candidates: QuerySet[Customer], decided: set[int], load: Counter
             ) -> dict[int, int]:
    """One rule's proposals {customer id: owner id} for candidates no earlier rule decided."""
    params = rule.parameters or {}
    if rule.org_unit_id:
        candidates = candidates.filter(org_unit__path__startswith=rule.org_unit.path)
    if rule.kind == RuleKind.LOAN_OFFICER:
        rows = candidates.filter(loan_balance__gt=0, loan_officer__is_active=True,
                                 loan_officer__role=Role.MANAGER).values_list("pk", "loan_officer_id")
        return {pk: officer for pk, officer in rows.iterator(chunk_size=BATCH) if pk not in decided}
    if rule.kind == RuleKind.HIGH_TIER_HEAD:
        rows = [(pk, unit) for pk, unit in candidates.filter(_high_tier_q(params)).values_list("pk", "org_unit_id")
                .iterator(chunk_size=BATCH) if pk not in decided]
        heads = _staff_by_unit({unit for _pk, unit in rows}, Role.BRANCH_HEAD)
        return {pk: heads[unit][0] for pk, unit in rows if heads.get(unit)}
    if rule.kind == RuleKind.HEAD_OFFICE_LEADER:
        leader = User.objects.filter(username=params.get("username", ""), is_active=True,
                                     role__in=OWNER_ROLES).values_list("pk", flat=True).first()
        if leader is None:
            return {}
        rows = candidates.filter(_leader_q(params)).values_list("pk", flat=True)
        return {pk: leader for pk in rows.iterator(chunk_size=BATCH) if pk not in decided}
    if rule.kind == RuleKind.DEPOSIT_TELLER:
        matching = candidates if params.get("include_remaining") else candidates.filter(deposit_balance__gt=0)
        rows = [(pk, unit) for pk, unit in matching.order_by("pk").values_list("pk", "org_unit_id")
                .iterator(chunk_size=BATCH) if pk not in decided]
        units = {unit for _pk, unit in rows}
        tellers = _staff_by_unit(units, Role.TELLER)
        # A unit without tellers falls back to its relationship managers.
        missing = units - set(tellers)
        if missing:
            tellers.update(_staff_by_unit(missing, Role.MANAGER))
        staff_ids = {s for ids in tellers.values() for s in ids}
        if params.get("strategy", "least_loaded") == "least_loaded":
            fresh = {s for s in staff_ids if s not in load}
            if fresh:
                counts = (Assignment.objects.filter(active=True, owner_id__in=fresh).values("owner_id")
                          .annotate(n=Count("pk")).values_list("owner_id", "n"))
                load.update(dict(counts))
                for s in fresh:
                    load.setdefault(s, 0)
        return _spread(rows, tellers, load, params.get("strategy", "least_loaded"))
    return {}


def _chunks(items: list, size: int = BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def rule_reason(name: str) -> str:
    """The reason stored on assignments made by a rule, in the bank's language whoever runs it."""
    from django.conf import settings
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        return _("rule: %(name)s") % {"name": name}


def assignment_rules_run(*, acting_user: User | None, scope: str = "unassigned", org_unit: OrgUnit | None = None,
                         dry_run: bool = False) -> RunSummary:
    """Run the active rules over the unassigned customers (or all) of the acting user's scope.

    `acting_user` None is the system principal (every customer). Heads run over their subtree,
    line departments over their line; `org_unit` narrows further. The first rule (by priority)
    that matches a customer and finds an owner decides; with scope "all" a customer whose owner
    is already the proposed one is left alone, and a customer no rule matches keeps its owner.
    Applies everything in one transaction: ends the previous assignments (end reason names the
    rule), inserts the new ones, writes one audit entry with the counts. Idempotent.
    """
    if scope not in ("unassigned", "all"):
        raise ValidationError({"scope": _("Scope is unassigned or all.")})
    candidates = assignable_customers(acting_user)
    if org_unit is not None:
        if acting_user is not None and acting_user.role == Role.BRANCH_HEAD and not org_unit.is_within(
                acting_user.org_unit):
            raise PermissionDenied(_("This org unit is outside your scope."))
        candidates = candidates.filter(org_unit__path__startswith=org_unit.path)
    active_of = Assignment.objects.filter(customer=OuterRef("pk"), active=True)
    if scope == "unassigned":
        candidates = candidates.filter(~Exists(active_of))
    summary = RunSummary(scope=scope, dry_run=dry_run)
    rules = list(AssignmentRule.objects.filter(active=True).select_related("org_unit"))

    with transaction.atomic():
        current: dict[int, int] = {}
        if scope == "all":
            current = dict(Assignment.objects.filter(active=True, customer__in=candidates)
                           .values_list("customer_id", "owner_id").iterator(chunk_size=BATCH))
        decided: dict[int, tuple[int, AssignmentRule]] = {}
        load: Counter = Counter()
        for rule in rules:
            proposals = _propose(rule, candidates, decided.keys(), load)
            for pk, owner_id in proposals.items():
                decided[pk] = (owner_id, rule)
        changes = {pk: (owner_id, rule) for pk, (owner_id, rule) in decided.items() if current.get(pk) != owner_id}
        summary.considered = candidates.count()
        summary.unmatched = summary.considered - len(decided)
        summary.unchanged = len(decided) - len(changes)
        summary.changed = len(changes)
        by_rule: dict[int, list[int]] = defaultdict(list)
        for pk, (_owner, rule) in changes.items():
            by_rule[rule.pk].append(pk)
        summary.per_rule = {rule.name: len(by_rule.get(rule.pk, [])) for rule in rules}
        summary.sample = [(pk, current.get(pk), owner_id, rule.name)
                          for pk, (owner_id, rule) in itertools.islice(sorted(changes.items()), 50)]
        if dry_run:
            return summary
        now = timezone.now()
        try:
            with transaction.atomic():
                for rule in rules:
                    reason = rule_reason(rule.name)
                    ids = by_rule.get(rule.pk, [])
                    for chunk in _chunks(sorted(ids)):
                        Assignment.objects.filter(customer_id__in=chunk, active=True).update(
                            active=False, ended_at=now, end_reason=reason[:200])
                    Assignment.objects.bulk_create(
                        [Assignment(customer_id=pk, owner_id=changes[pk][0], started_at=now, reason=reason[:200],
                                    assigned_by=acting_user) for pk in ids],
                        batch_size=BATCH,
                    )
                audit.record(actor=acting_user, action="assignment.rules_run", object_type="relationships.assignment",
                             object_repr=_("assignment rules"),
                             changes={**summary.as_dict(), "org_unit": org_unit.code if org_unit else None})
        except IntegrityError as exc:
            raise _raced() from exc
    return summary


# --- transfer -----------------------------------------------------------------------------------------------------

def assignment_transfer(*, acting_user: User, from_user: User, to_users: list[User], reason: str,
                        customers: Iterable[Customer | int] | None = None, strategy: str = "balanced") -> dict:
    """Move all (or the given) active customers of `from_user` to one or several colleagues.

    Only a head whose subtree holds every one of those customers, or the line department of
    their line, may do it (else PermissionDenied). Recipients are spread `balanced` (fewest
    customers after the move first) or `round_robin`. One transaction: one UPDATE ending the
    old assignments, one bulk INSERT of the new ones, and ONE audit entry with the count and
    per-recipient numbers. Returns {"count": n, "to": {username: n}}.
    """
    if acting_user.role not in ASSIGNER_ROLES or not acting_user.is_active:
        raise PermissionDenied(_("Only branch heads and line departments transfer customers."))
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Give a reason for the transfer.")})
    if strategy not in ("balanced", "round_robin"):
        raise ValidationError({"strategy": _("Choose balanced or round_robin.")})
    recipients = list(dict.fromkeys(to_users))
    if not recipients:
        raise ValidationError({"to_users": _("Choose at least one colleague to receive the customers.")})
    allowed = set(assignable_owners(acting_user).filter(pk__in=[u.pk for u in recipients]).values_list("pk", flat=True))
    for user in recipients:
        if user.pk == from_user.pk:
            raise ValidationError({"to_users": _("The customers cannot be transferred to their own owner.")})
        if user.pk not in allowed:
            raise ValidationError({"to_users": _("%(user)s cannot own customers in your scope")
                                   % {"user": user.display_name}})
    with transaction.atomic():
        owned = Assignment.objects.filter(owner=from_user, active=True)
        if customers is not None:
            wanted = {c if isinstance(c, int) else c.pk for c in customers}
            owned = owned.filter(customer_id__in=wanted) if len(wanted) <= BATCH else owned
        rows = list(owned.select_for_update().order_by("customer_id").values_list("pk", "customer_id"))
        if customers is not None:
            rows = [row for row in rows if row[1] in wanted]
            if len(rows) != len(wanted):
                raise ValidationError({"customers": _("Some of these customers are not owned by %(user)s.")
                                       % {"user": from_user.display_name}})
        customer_ids = [customer_id for _pk, customer_id in rows]
        scope = assignable_customers(acting_user)
        outside = 0
        for chunk in _chunks(customer_ids):
            outside += len(chunk) - scope.filter(pk__in=chunk).count()
        if outside:
            raise PermissionDenied(_("%(count)d of these customers are outside your scope.") % {"count": outside})
        if not rows:
            return {"count": 0, "to": {}}
        if strategy == "round_robin":
            turn = itertools.cycle(recipients)
            plan = [(customer_id, next(turn)) for customer_id in customer_ids]
        else:
            counts = dict(Assignment.objects.filter(active=True, owner__in=recipients).values("owner_id")
                          .annotate(n=Count("pk")).values_list("owner_id", "n"))
            heap = [(counts.get(u.pk, 0), i, u) for i, u in enumerate(recipients)]
            heapq.heapify(heap)
            plan = []
            for customer_id in customer_ids:
                count, i, user = heapq.heappop(heap)
                plan.append((customer_id, user))
                heapq.heappush(heap, (count + 1, i, user))
        now = timezone.now()
        try:
            with transaction.atomic():
                for chunk in _chunks([pk for pk, _customer in rows]):
                    Assignment.objects.filter(pk__in=chunk).update(active=False, ended_at=now, end_reason=reason[:200])
                Assignment.objects.bulk_create(
                    [Assignment(customer_id=customer_id, owner=user, started_at=now, reason=reason[:200],
                                assigned_by=acting_user) for customer_id, user in plan],
                    batch_size=BATCH,
                )
        except IntegrityError as exc:
            raise _raced() from exc
        per_recipient = Counter(user.username for _customer, user in plan)
        result = {"count": len(plan), "to": dict(per_recipient)}
        audit.record(actor=acting_user, action="assignment.transfer", obj=from_user,
                     object_repr=from_user.display_name,
                     changes={"from": from_user.username, "count": len(plan), "to": dict(per_recipient),
                              "strategy": strategy, "reason": reason})
    return result

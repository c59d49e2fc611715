"""Territories (划片包干): keep them, and route the prospects living in them to their org unit and team.

Routing is set-based: one query places every candidate prospect in its territory (the correlated
`selectors.best_territory` subquery), then one UPDATE per territory and chunk moves the prospects
whose org unit differs, and their audit rows go in with one bulk insert. Owners come from the
relationships app's `assignment_set` (one customer at a time: it locks, ends and audits), and only
for prospects of a territory with a team and without an owner.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import AuditEntry, OrgUnit, User
from guanxi.core.roles import SUBTREE_SCOPE_ROLES, Role
from guanxi.core.validators import normalize_text
from guanxi.customers.models import Customer, CustomerStatus
from guanxi.relationships.models import Assignment
from guanxi.relationships.services import OWNER_ROLES, assignment_set
from guanxi.segmentation.models import Territory, TerritoryKeyword, TerritoryKind
from guanxi.segmentation.selectors import best_territory

CHUNK = 900  # ids per statement (SQLite's parameter limit)


def territory_units(user: User) -> QuerySet[OrgUnit]:
    """Org units whose territories `user` administers: a head's subtree, every unit for line departments and
    the system administrator, none for anyone else."""
    if not user.is_authenticated or not user.is_active:
        return OrgUnit.objects.none()
    if user.role in (Role.SYSADMIN, Role.LINE_DEPT):
        return OrgUnit.objects.all()
    if user.role == Role.BRANCH_HEAD and user.org_unit_id:
        return OrgUnit.objects.subtree(user.org_unit)
    return OrgUnit.objects.none()


def can_administer_territories(user: User) -> bool:
    return territory_units(user).exists()


def parse_keywords(text: str | Iterable[str]) -> list[str]:
    """Keywords from text (one per line) or a list: normalised, blanks dropped, duplicates removed, in order."""
    lines = text.splitlines() if isinstance(text, str) else list(text)
    return list(dict.fromkeys(keyword for keyword in (normalize_text(line) for line in lines) if keyword))


def _snapshot(territory: Territory, keywords: list[str], team: list[User]) -> dict[str, Any]:
    return {"name": territory.name, "kind": territory.kind,
            "org_unit": territory.org_unit.code if territory.org_unit_id else None,
            "keywords": "\n".join(keywords), "team": ", ".join(sorted(user.username for user in team))}


def territory_save(*, acting_user: User, territory: Territory | None = None, name: str, kind: str,
                   org_unit: OrgUnit, keywords: str | Iterable[str], team: Iterable[User] = ()) -> Territory:
    """Create or change a territory with its keywords and team.

    A branch head administers the territories of their subtree, line departments and the system
    administrator all of them (PermissionDenied otherwise, also for moving one out of the head's
    subtree). Keywords are normalised like addresses (at least one, at most 100 characters each);
    team members are active managers, tellers or heads of the territory's unit's subtree. The name is
    unique within the unit. Audited (`segments.territory_create` / `segments.territory_update`).
    Existing customers are not moved: routing (`territory_route`) does that.
    """
    units = territory_units(acting_user)
    if not units.filter(pk=org_unit.pk).exists() or (
            territory is not None and not units.filter(pk=territory.org_unit_id).exists()):
        raise PermissionDenied(_("You may only keep the territories of your own org unit's subtree."))
    errors: dict[str, list[str]] = {}
    name = normalize_text(name)
    if not name:
        errors["name"] = [_("Give the territory a name.")]
    elif Territory.objects.filter(org_unit=org_unit, name=name).exclude(pk=territory.pk if territory else None).exists():
        errors["name"] = [_("This org unit already has a territory of this name.")]
    if kind not in TerritoryKind.values:
        errors["kind"] = [_("Choose street, residential community or administrative village.")]
    words = parse_keywords(keywords)
    if not words:
        errors["keywords"] = [_("Enter at least one address or keyword, one per line.")]
    elif any(len(word) > 100 for word in words):
        errors["keywords"] = [_("A keyword may have at most 100 characters.")]
    members = list(dict.fromkeys(team))
    for member in members:
        if (not member.is_active or member.role not in OWNER_ROLES or member.org_unit_id is None
                or not member.org_unit.is_within(org_unit)):
            errors.setdefault("team", []).append(
                _("%(user)s is not a manager, teller or head of %(unit)s or below.")
                % {"user": member.display_name, "unit": org_unit.name})
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        creating = territory is None
        before: dict[str, Any] = {}
        if not creating:
            before = _snapshot(territory, list(territory.keywords.values_list("keyword", flat=True)),
                               list(territory.team.all()))
        territory = territory or Territory()
        territory.name, territory.kind, territory.org_unit = name, kind, org_unit
        territory.updated_at = timezone.now()
        territory.save()
        TerritoryKeyword.objects.filter(territory=territory).exclude(keyword__in=words).delete()
        present = set(TerritoryKeyword.objects.filter(territory=territory).values_list("keyword", flat=True))
        TerritoryKeyword.objects.bulk_create([TerritoryKeyword(territory=territory, keyword=word)
                                              for word in words if word not in present])
        territory.team.set(members)
        audit.record(actor=acting_user, action="segments.territory_create" if creating else "segments.territory_update",
                     obj=territory, changes=audit.diff(before, _snapshot(territory, words, members)))
    return territory


def territory_delete(*, acting_user: User, territory: Territory) -> None:
    """Remove a territory (its keywords and team go with it); customers keep their unit. Audited."""
    if not territory_units(acting_user).filter(pk=territory.org_unit_id).exists():
        raise PermissionDenied(_("You may only keep the territories of your own org unit's subtree."))
    with transaction.atomic():
        before = _snapshot(territory, list(territory.keywords.values_list("keyword", flat=True)),
                           list(territory.team.all()))
        audit.record(actor=acting_user, action="segments.territory_delete", obj=territory,
                     changes=audit.diff(before, {}))
        territory.delete()


# --- routing ------------------------------------------------------------------------------------------------------


@dataclass
class TerritoryRouted:
    """What one routing did in one territory."""

    territory_id: int
    name: str
    org_code: str
    routed: int = 0  # prospects whose org unit became the territory's
    assigned: int = 0  # prospects given an owner from the territory's team


@dataclass
class RouteResult:
    territories: list[TerritoryRouted] = field(default_factory=list)

    @property
    def routed(self) -> int:
        return sum(t.routed for t in self.territories)

    @property
    def assigned(self) -> int:
        return sum(t.assigned for t in self.territories)

    def as_dict(self) -> dict[str, Any]:
        return {"routed": self.routed, "assigned": self.assigned,
                "territories": {t.name: {"routed": t.routed, "assigned": t.assigned}
                                for t in self.territories if t.routed or t.assigned}}


def _prospects() -> QuerySet[Customer]:
    return Customer.objects.filter(status=CustomerStatus.PROSPECT, merged_into__isnull=True)


def route_scope(user: User | None) -> tuple[QuerySet[Territory], QuerySet[Customer]]:
    """(territories, prospects) a routing run by `user` covers; None is the system (everything).

    The system administrator routes every prospect (it moves, it reads nothing), a line department
    the prospects of its market line into any territory, a branch head its subtree's prospects into
    its subtree's territories. Anyone else: PermissionDenied.
    """
    if user is None or (user.is_active and user.role == Role.SYSADMIN):
        return Territory.objects.all(), _prospects()
    if not user.is_active or user.role not in (Role.BRANCH_HEAD, Role.LINE_DEPT):
        raise PermissionDenied(_("Only branch heads, line departments and the system administrator route "
                                 "prospects to territories."))
    if user.role == Role.LINE_DEPT:
        prospects = _prospects().filter(market=user.market_line) if user.market_line else _prospects().none()
        return Territory.objects.all(), prospects
    if user.org_unit_id is None:
        return Territory.objects.none(), _prospects().none()
    path = user.org_unit.path
    return (Territory.objects.filter(org_unit__path__startswith=path),
            _prospects().filter(org_unit__path__startswith=path))


def territory_reason(name: str) -> str:
    """The reason stored on an assignment made by routing, in the bank's language whoever runs it."""
    with translation.override(settings.LANGUAGE_CODE):
        return _("territory: %(name)s") % {"name": name}


def _chunks(items: list, size: int = CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _route(*, actor: User | None, territories: QuerySet[Territory], candidates: QuerySet[Customer]) -> RouteResult:
    """Route `candidates` whose best territory (among all) is one of `territories`. One transaction; the
    caller writes the run's summary audit entry (`_audit_run`)."""
    allowed = {t.pk: t for t in territories.select_related("org_unit").order_by("org_unit__path", "name", "id")}
    result = RouteResult(territories=[TerritoryRouted(territory_id=t.pk, name=t.name, org_code=t.org_unit.code)
                                      for t in allowed.values()])
    if not allowed:
        return result
    per_territory = {t.territory_id: t for t in result.territories}
    with transaction.atomic():
        # Placed against every territory (longest keyword wins bank-wide), kept if the winner is one of ours.
        placed = (candidates.exclude(address="").annotate(in_territory=best_territory())
                  .filter(in_territory__in=list(allowed)).order_by("pk")
                  .values_list("pk", "org_unit_id", "in_territory", "name", "customer_no"))
        rows = list(placed.iterator(chunk_size=2000))
        moving: dict[int, list[tuple]] = defaultdict(list)
        for row in rows:
            if row[1] != allowed[row[2]].org_unit_id:
                moving[row[2]].append(row)
        now = timezone.now()
        codes = dict(OrgUnit.objects.filter(pk__in={row[1] for items in moving.values() for row in items})
                     .values_list("pk", "code"))
        audit_rows = []
        for territory_id, items in moving.items():
            territory = allowed[territory_id]
            for chunk in _chunks(items):
                Customer.objects.filter(pk__in=[row[0] for row in chunk]).update(
                    org_unit_id=territory.org_unit_id, updated_at=now)
            per_territory[territory_id].routed = len(items)
            audit_rows += [AuditEntry(actor=actor, actor_username=actor.username if actor else "system",
                                      action="customer.route", object_type="customers.customer",
                                      object_id=str(pk), object_repr=f"{name} ({number})"[:200], created_at=now,
                                      changes={"org_unit": [codes.get(old_unit), territory.org_unit.code],
                                               "territory": territory.name},
                                      ip_address=audit._client_ip.get())
                           for pk, old_unit, _t, name, number in items]
        AuditEntry.objects.bulk_create(audit_rows, batch_size=500)
        _assign_from_teams(actor=actor, allowed=allowed, rows=rows, per_territory=per_territory)
    return result


def _audit_run(actor: User | None, result: RouteResult) -> None:
    audit.record(actor=actor, action="segments.territory_route", object_type="segmentation.territory",
                 object_repr=_("territory routing"), changes=result.as_dict())


def _assign_from_teams(*, actor: User | None, allowed: dict[int, Territory], rows: list[tuple],
                       per_territory: dict[int, TerritoryRouted]) -> None:
    """Give each placed prospect without an active owner a member of its territory's team, in turn.

    In turn, stably: the team ordered by user id, the prospect takes member number (customer id mod
    team size), so the same prospect always goes to the same member whatever else is routed with it.
    """
    links = Territory.team.through.objects
    team: dict[int, list[User]] = defaultdict(list)
    for link in (links.filter(territory_id__in=list(allowed), user__is_active=True,
                                     user__role__in=list(OWNER_ROLES)).select_related("user").order_by("user_id")):
        team[link.territory_id].append(link.user)
    wanted = [(pk, territory_id) for pk, _unit, territory_id, _n, _c in rows if team.get(territory_id)]
    owned = Exists(Assignment.objects.filter(customer=OuterRef("pk"), active=True))
    for chunk in _chunks(wanted):
        territory_of = dict(chunk)
        unowned = Customer.objects.filter(pk__in=list(territory_of)).filter(~owned).only("pk", "name", "customer_no")
        for customer in unowned.order_by("pk"):
            territory_id = territory_of[customer.pk]
            members = team[territory_id]
            owner = members[customer.pk % len(members)]
            try:
                assignment_set(acting_user=actor, customer=customer, owner=owner,
                               reason=territory_reason(allowed[territory_id].name), expected_owner=None)
            except ValidationError:
                continue  # someone gave it an owner meanwhile: theirs stands
            per_territory[territory_id].assigned += 1


def territory_route(*, user: User | None, customers: Iterable[Customer | int] | QuerySet[Customer] | None = None
                    ) -> RouteResult:
    """Route the prospects in territories to the territory's org unit, and give the unowned ones an owner.

    Every prospect (`status == prospect`) of the user's routing scope (`route_scope`; `user` None is
    the system) whose address falls in one of the user's territories gets that territory's unit;
    if the territory has a team and the prospect has no active owner, a team member becomes its owner
    (`relationships.services.assignment_set`, in turn by customer id). Existing customers are never
    touched. `customers` narrows the run to those customers. One transaction; each moved customer
    gets a `customer.route` audit row and the run one `segments.territory_route` entry with the
    numbers per territory. Idempotent: a second run changes nothing.
    """
    territories, candidates = route_scope(user)
    with transaction.atomic():
        if customers is None or isinstance(customers, QuerySet):
            if customers is not None:
                candidates = candidates.filter(pk__in=customers.values("pk"))
            result = _route(actor=user, territories=territories, candidates=candidates)
        else:
            result = RouteResult()
            for chunk in _chunks([c if isinstance(c, int) else c.pk for c in customers]):
                _merge(result, _route(actor=user, territories=territories, candidates=candidates.filter(pk__in=chunk)))
        _audit_run(user, result)
    return result


def _merge(total: RouteResult, part: RouteResult) -> None:
    if not total.territories:
        total.territories = part.territories
        return
    by_id = {t.territory_id: t for t in total.territories}
    for item in part.territories:
        if item.territory_id in by_id:
            by_id[item.territory_id].routed += item.routed
            by_id[item.territory_id].assigned += item.assigned
        else:
            total.territories.append(item)


def territory_route_registered(*, acting_user: User | None, customer_ids: Sequence[int]) -> RouteResult:
    """Route newly registered prospects (the registration receivers call this; no permission check).

    Into any territory, except for a registering head (or other subtree-scoped role), whose new
    customers are only routed within their own subtree, so that registering never takes a customer
    out of its registrar's sight. A few statements per chunk of ids; audited only when it moved or
    assigned something.
    """
    territories = Territory.objects.all()
    if acting_user is not None and acting_user.role in SUBTREE_SCOPE_ROLES:
        territories = (territories.filter(org_unit__path__startswith=acting_user.org_unit.path)
                       if acting_user.org_unit_id else territories.none())
    total = RouteResult()
    with transaction.atomic():
        if isinstance(customer_ids, range) and customer_ids.step == 1:
            # An import batch: consecutive ids, one placing query for all of them.
            parts = [_prospects().filter(pk__range=(customer_ids[0], customer_ids[-1]))] if customer_ids else []
        else:
            parts = [_prospects().filter(pk__in=chunk) for chunk in _chunks(list(customer_ids))]
        for candidates in parts:
            _merge(total, _route(actor=acting_user, territories=territories, candidates=candidates))
        if total.routed or total.assigned:
            _audit_run(acting_user, total)
    return total

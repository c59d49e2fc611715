"""Target lists (名单制管理): build them from filters or a file, hand out and work their entries.

Building from filters is one INSERT … SELECT over the builder's visible customers (the owner of
each entry is the customer's active owner, else the chosen default owner); an uploaded file is
read as a stream and looked up in batches. Every change of an entry by its owner writes a
`TargetListEntryUpdate` (the follow-up report counts those) and an audit entry, in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import BigIntegerField, Exists, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.masking import mask_value
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import MarketLine, Role
from guanxi.core.validators import convert_15_to_18, normalize_identifier, normalize_text
from guanxi.customers.importing.readers import open_tabular
from guanxi.customers.models import Customer, CustomerStatus, CustomerTier
from guanxi.relationships.models import Assignment
from guanxi.relationships.services import assignable_owners
from guanxi.segmentation.models import (
    LIST_BUILDER_ROLES,
    EntryStatus,
    SubMarket,
    TargetList,
    TargetListEntry,
    TargetListEntryUpdate,
    TargetListStatus,
)

BATCH = 500
# Headers of the column holding the customers in an uploaded file (Chinese or English, any case).
CUSTOMER_NO_HEADERS = frozenset({"客户号", "客户编号", "customer_no", "customer number", "customer no"})
ID_NUMBER_HEADERS = frozenset({"证件号码", "身份证号码", "身份证号", "id_number", "id number"})


def can_build_lists(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role in LIST_BUILDER_ROLES)


def _require_manager(user: User, target_list: TargetList) -> None:
    if not TargetList.objects.managed_by(user).filter(pk=target_list.pk).exists():
        raise PermissionDenied(_("Only the branch head or line department in charge of this list may change it."))


def _require_open(target_list: TargetList) -> None:
    if not target_list.is_open:
        raise ValidationError({"status": [_("This list is closed.")]})


def list_units(user: User) -> QuerySet[OrgUnit]:
    """Org units a builder may scope a list to: a head's subtree, every unit for a line department."""
    if not can_build_lists(user):
        return OrgUnit.objects.none()
    if user.role == Role.BRANCH_HEAD:
        return OrgUnit.objects.subtree(user.org_unit) if user.org_unit_id else OrgUnit.objects.none()
    return OrgUnit.objects.all()


def _list_snapshot(target_list: TargetList) -> dict[str, Any]:
    return {"name": target_list.name, "description": target_list.description, "market": target_list.market,
            "org_unit": target_list.org_unit.code if target_list.org_unit_id else None,
            "due_on": target_list.due_on, "status": target_list.status}


def target_list_create(*, acting_user: User, name: str, description: str = "", market: str = "",
                       org_unit: OrgUnit | None = None, due_on: date | None = None) -> TargetList:
    """Start an empty, open target list scoped to an org unit's subtree (and a market line, optional).

    Branch heads (for their subtree; default their own unit) and line departments (any unit; the
    list is of their own market line) build lists; anyone else gets PermissionDenied. Audited
    (`segments.target_list_create`).
    """
    if not can_build_lists(acting_user):
        raise PermissionDenied(_("Only branch heads and line departments build target lists."))
    errors: dict[str, list[str]] = {}
    name = normalize_text(name)
    if not name:
        errors["name"] = [_("Give the list a name.")]
    elif len(name) > 100:
        errors["name"] = [_("A name may have at most 100 characters.")]
    if market and market not in MarketLine.values:
        errors["market"] = [_("Unknown market line.")]
    if acting_user.role == Role.LINE_DEPT:
        if market and market != acting_user.market_line:
            errors["market"] = [_("A line department builds lists of its own market line only.")]
        market = acting_user.market_line
    org_unit = org_unit or acting_user.org_unit
    if org_unit is None or not list_units(acting_user).filter(pk=org_unit.pk).exists():
        errors["org_code"] = [_("Choose an org unit within your scope.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        target_list = TargetList.objects.create(name=name, description=(description or "").strip(), market=market,
                                                org_unit=org_unit, created_by=acting_user, due_on=due_on)
        audit.record(actor=acting_user, action="segments.target_list_create", obj=target_list,
                     changes=audit.diff({}, _list_snapshot(target_list)))
    return target_list


def target_list_update(*, acting_user: User, target_list: TargetList, name: str, description: str = "",
                       due_on: date | None = None, status: str = TargetListStatus.OPEN) -> TargetList:
    """Rename, describe, re-date, close or reopen a list (its manager only: see `TargetList.managed_by`)."""
    _require_manager(acting_user, target_list)
    name = normalize_text(name)
    if not name:
        raise ValidationError({"name": [_("Give the list a name.")]})
    if len(name) > 100:
        raise ValidationError({"name": [_("A name may have at most 100 characters.")]})
    if status not in TargetListStatus.values:
        raise ValidationError({"status": [_("Choose open or closed.")]})
    with transaction.atomic():
        before = _list_snapshot(target_list)
        target_list.name, target_list.description = name, (description or "").strip()
        target_list.due_on, target_list.status = due_on, status
        target_list.save(update_fields=["name", "description", "due_on", "status"])
        changes = audit.diff(before, _list_snapshot(target_list))
        if changes:
            audit.record(actor=acting_user, action="segments.target_list_update", obj=target_list, changes=changes)
    return target_list


# --- building -----------------------------------------------------------------------------------------------------


@dataclass
class BuildFilters:
    """Which customers a list is built from (every field optional; flags mean "holds this product")."""

    market: str = ""
    sub_market: str = ""
    tier: str = ""
    org_code: str = ""
    status: str = ""
    deposit: bool = False
    loan: bool = False
    intermediary: bool = False
    unassigned_only: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in ("", False)}


@dataclass
class BuildResult:
    """What a build or upload did: entries added, customers already on the list, customers left out."""

    added: int = 0
    already: int = 0
    without_owner: int = 0  # matching customers with no owner while no default owner was chosen
    rejected: list[tuple[int, str, str]] = field(default_factory=list)  # upload: (line, value, reason)

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "already": self.already, "without_owner": self.without_owner,
                "rejected": len(self.rejected)}


def _scope(acting_user: User, target_list: TargetList) -> QuerySet[Customer]:
    """Customers that may enter the list: visible to the builder, in the list's subtree (and line)."""
    customers = Customer.objects.visible_to(acting_user).filter(
        merged_into__isnull=True, org_unit__path__startswith=target_list.org_unit.path)
    return customers.filter(market=target_list.market) if target_list.market else customers


def build_candidates(*, acting_user: User, target_list: TargetList, filters: BuildFilters) -> QuerySet[Customer]:
    """The customers `filters` select within the list's scope; ValidationError names a bad filter."""
    errors: dict[str, list[str]] = {}
    customers = _scope(acting_user, target_list)
    if filters.market:
        if filters.market not in MarketLine.values:
            errors["market"] = [_("Unknown market line.")]
        customers = customers.filter(market=filters.market)
    if filters.sub_market:
        if not SubMarket.objects.filter(code=filters.sub_market).exists():
            errors["sub_market"] = [_("Unknown sub-market.")]
        customers = customers.filter(sub_market=filters.sub_market)
    if filters.tier:
        if filters.tier not in CustomerTier.values:
            errors["tier"] = [_("Choose high-end, mid-range or general.")]
        customers = customers.filter(tier=filters.tier)
    if filters.status:
        if filters.status not in CustomerStatus.values:
            errors["status"] = [_("Choose existing or prospect.")]
        customers = customers.filter(status=filters.status)
    if filters.org_code:
        unit = OrgUnit.objects.filter(code=filters.org_code).first()
        if unit is None:
            errors["org_code"] = [_("No org unit has this code.")]
        else:
            customers = customers.filter(org_unit__path__startswith=unit.path)
    if filters.deposit:
        customers = customers.filter(is_deposit_customer=True)
    if filters.loan:
        customers = customers.filter(is_loan_customer=True)
    if filters.intermediary:
        customers = customers.filter(is_intermediary_customer=True)
    if filters.unassigned_only:
        customers = customers.filter(~Exists(Assignment.objects.filter(customer=OuterRef("pk"), active=True)))
    if errors:
        raise ValidationError(errors)
    return customers


def _check_default_owner(acting_user: User, owner: User | None) -> None:
    if owner is not None and not assignable_owners(acting_user).filter(pk=owner.pk).exists():
        raise ValidationError({"owner": [_("%(user)s cannot work entries in your scope.")
                                         % {"user": owner.display_name}]})


def _active_owner() -> Subquery:
    return Subquery(Assignment.objects.filter(customer=OuterRef("pk"), active=True).values("owner_id")[:1])


def _raced() -> ValidationError:
    return ValidationError(_("Someone else added customers to this list at the same time; try again."))


def target_list_build(*, acting_user: User, target_list: TargetList, filters: BuildFilters,
                      default_owner: User | None = None) -> BuildResult:
    """Add every customer `filters` select (within the builder's data scope and the list's) to the list.

    Set-based: one INSERT … SELECT. Each entry's owner is the customer's active owner, else
    `default_owner` (a member of staff the builder may give customers to); customers with neither
    are left out and counted. Customers already on the list stay as they are. The list's manager
    only, on an open list. Audited (`segments.target_list_build`, with the filters and the counts).
    """
    _require_manager(acting_user, target_list)
    _require_open(target_list)
    _check_default_owner(acting_user, default_owner)
    candidates = build_candidates(acting_user=acting_user, target_list=target_list, filters=filters)
    on_list = Exists(TargetListEntry.objects.filter(target_list=target_list, customer=OuterRef("pk")))
    result = BuildResult()
    owner = _active_owner()
    if default_owner is not None:
        owner = Coalesce(owner, Value(default_owner.pk), output_field=BigIntegerField())
    try:
        with transaction.atomic():
            result.already = candidates.filter(on_list).count()
            fresh = candidates.filter(~on_list).annotate(entry_owner=owner)
            if default_owner is None:
                result.without_owner = fresh.filter(entry_owner__isnull=True).count()
            rows = fresh.filter(entry_owner__isnull=False).order_by().values_list("pk", "entry_owner")
            select_sql, select_params = rows.query.sql_with_params()
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            table = TargetListEntry._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"INSERT INTO {table} (target_list_id, status, next_step, status_changed_at, created_at, "  # noqa: S608
                    f"customer_id, owner_id) SELECT %s, %s, %s, %s, %s, q.* FROM ({select_sql}) q",
                    [target_list.pk, EntryStatus.TO_CONTACT.value, "", now, now, *select_params])
                result.added = max(cursor.rowcount or 0, 0)
            audit.record(actor=acting_user, action="segments.target_list_build", obj=target_list,
                         changes={"filters": filters.as_dict(), **result.as_dict(),
                                  "default_owner": default_owner.username if default_owner else None})
    except IntegrityError as exc:
        raise _raced() from exc
    return result


def _column(header: list[str]) -> tuple[int, bool]:
    """(index of the customer column, whether the first row is a header)."""
    for index, title in enumerate(header):
        if title.strip().lower() in CUSTOMER_NO_HEADERS | ID_NUMBER_HEADERS:
            return index, True
    return 0, False


def _identifier(value: str) -> tuple[str, str] | None:
    """("customer_no" | "id_number", normalised value) of a cell, or None when it is neither."""
    ident = normalize_identifier(value)
    if not ident:
        return None
    if ident[:2].isalpha() and ident[2:].isdigit() and len(ident) > 2:
        return "customer_no", ident
    if len(ident) == 15 and ident.isdigit():
        return "id_number", convert_15_to_18(ident)
    if len(ident) == 18 and ident.isalnum() and ident.isascii():
        return "id_number", ident
    return None


def target_list_upload(*, acting_user: User, target_list: TargetList, path: Path, default_owner: User | None = None,
                       file_name: str = "") -> BuildResult:
    """Add the customers named in a CSV/XLSX file (customer numbers or ID numbers) to the list.

    The column is the one headed 客户号/customer_no or 证件号码/id_number; without such a header the
    first column is read and the first row counts as data. Every row that names no customer the
    builder may put on this list is reported with its line number (`rejected`); rows already on
    the list are counted, not reported. Read as a stream, looked up and inserted per batch of
    rows, in one transaction. Owner rule as in `target_list_build`. Audited
    (`segments.target_list_upload`).
    """
    _require_manager(acting_user, target_list)
    _require_open(target_list)
    _check_default_owner(acting_user, default_owner)
    result = BuildResult()
    tabular = open_tabular(path)
    try:
        column, has_header = _column(tabular.header)
        rows: Iterable[tuple[int, list[str]]] = tabular.rows()
        if not has_header:
            rows = _with_first(tabular.header, rows)
        with transaction.atomic():
            seen: set[int] = set()
            batch: list[tuple[int, str, tuple[str, str] | None]] = []
            for line, cells in rows:
                value = cells[column].strip() if column < len(cells) else ""
                batch.append((line, value, _identifier(value)))
                if len(batch) >= BATCH:
                    _upload_batch(acting_user, target_list, default_owner, batch, seen, result)
                    batch = []
            if batch:
                _upload_batch(acting_user, target_list, default_owner, batch, seen, result)
            audit.record(actor=acting_user, action="segments.target_list_upload", obj=target_list,
                         changes={"file": file_name or path.name, **result.as_dict(),
                                  "default_owner": default_owner.username if default_owner else None})
    except IntegrityError as exc:
        raise _raced() from exc
    finally:
        tabular.close()
    return result


def _with_first(header: list[str], rows: Iterable[tuple[int, list[str]]]) -> Iterable[tuple[int, list[str]]]:
    if any(cell.strip() for cell in header):
        yield 1, header
    yield from rows


def _shown(kind: str, value: str) -> str:
    return mask_value("id_number", value) if kind == "id_number" else value


def _upload_batch(acting_user: User, target_list: TargetList, default_owner: User | None,
                  batch: list[tuple[int, str, tuple[str, str] | None]], seen: set[int], result: BuildResult) -> None:
    """Look up one batch of rows (two queries), report the misses, insert the entries (one bulk insert)."""
    def reject(line: int, value: str, reason: str) -> None:
        result.rejected.append((line, value, reason))

    numbers = {ident[1] for _l, _v, ident in batch if ident and ident[0] == "customer_no"}
    id_numbers = {ident[1] for _l, _v, ident in batch if ident and ident[0] == "id_number"}
    visible = Customer.objects.visible_to(acting_user).filter(merged_into__isnull=True)
    found = {}
    if numbers or id_numbers:
        for pk, number, id_number in visible.filter(Q(customer_no__in=numbers) | Q(id_number__in=id_numbers)
                                                    ).values_list("pk", "customer_no", "id_number"):
            found[("customer_no", number)] = pk
            found[("id_number", id_number)] = pk
    in_scope = set(_scope(acting_user, target_list).filter(pk__in=set(found.values())).values_list("pk", flat=True))
    pks = list(in_scope)
    on_list = set(TargetListEntry.objects.filter(target_list=target_list, customer_id__in=pks)
                  .values_list("customer_id", flat=True))
    owners = dict(Assignment.objects.filter(customer_id__in=pks, active=True).values_list("customer_id", "owner_id"))
    now = timezone.now()
    new: list[TargetListEntry] = []
    for line, value, ident in batch:
        if ident is None:
            reject(line, value, _("not a customer number or ID number") if value else _("empty"))
            continue
        pk = found.get(ident)
        shown = _shown(*ident)
        if pk is None:
            reject(line, shown, _("no customer with this number in your data scope"))
            continue
        if pk not in in_scope:
            reject(line, shown, _("outside this list's org unit or market line"))
            continue
        if pk in on_list or pk in seen:
            result.already += 1
            continue
        owner_id = owners.get(pk) or (default_owner.pk if default_owner else None)
        if owner_id is None:
            result.without_owner += 1
            reject(line, shown, _("the customer has no owner; choose a default owner"))
            continue
        seen.add(pk)
        new.append(TargetListEntry(target_list=target_list, customer_id=pk, owner_id=owner_id,
                                   status_changed_at=now, created_at=now))
    TargetListEntry.objects.bulk_create(new, batch_size=BATCH)
    result.added += len(new)


# --- owners and work ----------------------------------------------------------------------------------------------


def target_list_entries_reassign(*, acting_user: User, target_list: TargetList, entry_ids: Iterable[int],
                                 owner: User) -> int:
    """Give the chosen entries of a list (visible to the acting user) to another owner; returns how many.

    The list's manager only; the owner must be staff the acting user may give customers to
    (`relationships.services.assignable_owners`). One UPDATE; audited with the count. The
    customers' own owners (Assignment) do not change.
    """
    _require_manager(acting_user, target_list)
    ids = sorted({int(pk) for pk in entry_ids})
    if not ids:
        raise ValidationError({"entry_ids": [_("Choose at least one entry.")]})
    _check_default_owner(acting_user, owner)
    with transaction.atomic():
        entries = TargetListEntry.objects.visible_to(acting_user).filter(target_list=target_list, pk__in=ids)
        found = list(entries.select_for_update().values_list("pk", "owner__username"))
        if len(found) != len(ids):
            raise ValidationError({"entry_ids": [_("Some of these entries are not on this list or not in your "
                                                   "scope.")]})
        count = TargetListEntry.objects.filter(pk__in=ids).exclude(owner=owner).update(owner=owner)
        audit.record(actor=acting_user, action="segments.target_list_reassign", obj=target_list,
                     changes={"owner": owner.username, "count": count,
                              "from": sorted({username for _pk, username in found if username != owner.username})})
    return count


def _entry_snapshot(entry: TargetListEntry) -> dict[str, Any]:
    return {"status": entry.status, "next_step": entry.next_step, "next_step_on": entry.next_step_on}


def target_list_entry_update(*, acting_user: User, entry: TargetListEntry, status: str, next_step: str = "",
                             next_step_on: date | None = None, note: str = "") -> TargetListEntryUpdate:
    """The entry's owner records their work: new status, next step and its date, and a note.

    Only the owner (PermissionDenied for anyone else) and only on an open list. Something must
    change, or a note be written. Writes a `TargetListEntryUpdate` (old and new status, the note)
    and an audit entry (`segments.target_list_entry_update`) in one transaction; `status_changed_at`
    moves only when the status changes.
    """
    if entry.owner_id != acting_user.pk or not acting_user.is_active:
        raise PermissionDenied(_("Only the owner of this entry may work it."))
    _require_open(entry.target_list)
    if status not in EntryStatus.values:
        raise ValidationError({"status": [_("Unknown follow-up status.")]})
    next_step, note = (next_step or "").strip(), (note or "").strip()
    with transaction.atomic():
        entry = TargetListEntry.objects.select_for_update().select_related("customer", "target_list").get(pk=entry.pk)
        before = _entry_snapshot(entry)
        now = timezone.now()
        old_status = entry.status
        entry.status, entry.next_step, entry.next_step_on = status, next_step, next_step_on
        changes = audit.diff(before, _entry_snapshot(entry))
        if not changes and not note:
            raise ValidationError({"note": [_("Change the status or the next step, or write a note.")]})
        if status != old_status:
            entry.status_changed_at = now
        entry.save(update_fields=["status", "next_step", "next_step_on", "status_changed_at"])
        update = TargetListEntryUpdate.objects.create(entry=entry, updated_by=acting_user, updated_at=now,
                                                      old_status=old_status, new_status=status, note=note)
        audit.record(actor=acting_user, action="segments.target_list_entry_update", obj=entry,
                     object_repr=f"{entry.target_list.name}: {entry.customer}",
                     changes={**changes, **({"note": note} if note else {})})
    return update


UPLOAD_SUFFIXES = (".csv", ".xlsx")


def target_list_upload_file(*, acting_user: User, target_list: TargetList, uploaded_file,
                            default_owner: User | None = None) -> BuildResult:
    """`target_list_upload` for a file sent by the page or the API: kept in a temporary folder while read."""
    import tempfile

    name = Path(uploaded_file.name or "").name
    if not name.lower().endswith(UPLOAD_SUFFIXES):
        raise ValidationError({"file": [_("Only .csv and .xlsx files can be read.")]})
    with tempfile.TemporaryDirectory(prefix="guanxi-list-") as folder:
        path = Path(folder) / ("upload" + Path(name).suffix.lower())
        with path.open("wb") as handle:
            for chunk in uploaded_file.chunks():
                handle.write(chunk)
        return target_list_upload(acting_user=acting_user, target_list=target_list, path=path,
                                  default_owner=default_owner, file_name=name)

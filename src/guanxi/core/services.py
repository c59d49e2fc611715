"""Business operations of the core app: org units, staff, tokens, sequences."""

from __future__ import annotations

import csv
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import ApiToken, OrgUnit, OrgUnitKind, Sequence, User
from guanxi.core.roles import MarketLine, Role


def sequence_take(*, name: str, count: int = 1) -> range:
    """Reserve `count` consecutive numbers of the named sequence and return them.

    Atomic on both databases: the increment is one UPDATE, so two importers never get
    the same numbers.
    """
    with transaction.atomic():
        Sequence.objects.get_or_create(name=name)
        Sequence.objects.filter(name=name).update(last_value=F("last_value") + count)
        last = Sequence.objects.values_list("last_value", flat=True).get(name=name)
    return range(last - count + 1, last + 1)


def _set_path(unit: OrgUnit) -> None:
    parent_path = unit.parent.path if unit.parent_id else "/"
    new_path = f"{parent_path}{unit.pk}/"
    old_path = unit.path
    if old_path == new_path:
        return
    if unit.parent_id and unit.parent.path.startswith(old_path or "\0"):
        raise ValidationError({"parent_code": _("an org unit cannot be placed under its own subtree")})
    OrgUnit.objects.filter(pk=unit.pk).update(path=new_path)
    if old_path:
        # Move the whole subtree with one pass over the descendants.
        for child in OrgUnit.objects.filter(path__startswith=old_path).exclude(pk=unit.pk):
            OrgUnit.objects.filter(pk=child.pk).update(path=new_path + child.path[len(old_path) :])
    unit.path = new_path


def orgunit_save(
    *, acting_user: User | None, code: str, name: str, kind: str, parent: OrgUnit | None
) -> tuple[OrgUnit, bool]:
    """Create or update the org unit with this code; returns (unit, changed)."""
    if kind not in OrgUnitKind.values:
        raise ValidationError({"kind": _("unknown kind %(kind)s; use one of %(kinds)s")
                               % {"kind": kind, "kinds": ", ".join(OrgUnitKind.values)}})
    with transaction.atomic():
        unit = OrgUnit.objects.filter(code=code).select_related("parent").first()
        if unit is None:
            unit = OrgUnit(code=code, name=name, kind=kind, parent=parent)
            unit.full_clean(exclude=["path"])
            unit.save()
            _set_path(unit)
            audit.record(actor=acting_user, action="orgunit.create", obj=unit,
                         changes={"code": [None, code], "name": [None, name], "kind": [None, kind]})
            return unit, True
        before = {"name": unit.name, "kind": unit.kind, "parent": unit.parent.code if unit.parent else None}
        after = {"name": name, "kind": kind, "parent": parent.code if parent else None}
        changes = audit.diff(before, after)
        if not changes:
            return unit, False
        unit.name, unit.kind, unit.parent = name, kind, parent
        unit.full_clean(exclude=["path"])
        unit.save()
        _set_path(unit)
        audit.record(actor=acting_user, action="orgunit.update", obj=unit, changes=changes)
        return unit, True


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return self.created + self.updated


def _read_csv(path: Path, required: list[str]) -> list[dict[str, str]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ValidationError(_("%(file)s is neither UTF-8 nor GB18030 text") % {"file": path.name})
    reader = csv.DictReader(text.splitlines())
    missing = [column for column in required if column not in (reader.fieldnames or [])]
    if missing:
        raise ValidationError(_("%(file)s lacks the column(s) %(columns)s")
                              % {"file": path.name, "columns": ", ".join(missing)})
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


def orgunits_import(*, acting_user: User | None, path: Path) -> ImportResult:
    """Import `code,name,kind,parent_code` rows; parents may come after their children.

    Idempotent: a second run of the same file changes nothing. All or nothing: any bad row
    and no unit is written.
    """
    rows = _read_csv(path, ["code", "name", "kind", "parent_code"])
    result = ImportResult()
    by_code = {}
    for line, row in enumerate(rows, start=2):
        if not row["code"] or not row["name"]:
            result.errors.append(_("line %(line)d: code and name are required") % {"line": line})
            continue
        if row["code"] in by_code:
            result.errors.append(_("line %(line)d: code %(code)s appears twice") % {"line": line, "code": row["code"]})
            continue
        if row["kind"] not in OrgUnitKind.values:
            result.errors.append(_("line %(line)d: kind %(kind)s is not one of %(kinds)s")
                                 % {"line": line, "kind": row["kind"], "kinds": ", ".join(OrgUnitKind.values)})
            continue
        by_code[row["code"]] = (line, row)
    known = set(OrgUnit.objects.values_list("code", flat=True))
    for line, row in by_code.values():
        parent_code = row["parent_code"]
        if parent_code and parent_code not in by_code and parent_code not in known:
            result.errors.append(_("line %(line)d: parent_code %(parent)s is not a known org unit")
                                 % {"line": line, "parent": parent_code})
    if result.errors:
        return result

    # Order parents before children (a topological pass), and catch cycles.
    ordered: list[str] = []
    state: dict[str, int] = {}

    def visit(code: str, trail: tuple[str, ...]) -> None:
        if state.get(code) == 2:
            return
        if state.get(code) == 1:
            result.errors.append(_("org units form a cycle: %(codes)s") % {"codes": " → ".join(trail + (code,))})
            return
        state[code] = 1
        parent_code = by_code[code][1]["parent_code"]
        if parent_code in by_code:
            visit(parent_code, trail + (code,))
        state[code] = 2
        ordered.append(code)

    for code in by_code:
        visit(code, ())
    if result.errors:
        return result

    with transaction.atomic():
        for code in ordered:
            row = by_code[code][1]
            parent = OrgUnit.objects.get(code=row["parent_code"]) if row["parent_code"] else None
            existed = OrgUnit.objects.filter(code=code).exists()
            _unit, changed = orgunit_save(
                acting_user=acting_user, code=code, name=row["name"], kind=row["kind"], parent=parent
            )
            if not changed:
                result.unchanged += 1
            elif existed:
                result.updated += 1
            else:
                result.created += 1
    return result


def staff_save(
    *, acting_user: User | None, username: str, name: str, role: str, org_unit: OrgUnit, market_line: str = ""
) -> tuple[User, bool]:
    """Create or update a member of staff; role and org changes are audit-logged."""
    if role not in Role.values:
        raise ValidationError({"role": _("unknown role %(role)s; use one of %(roles)s")
                               % {"role": role, "roles": ", ".join(Role.values)}})
    if market_line and market_line not in MarketLine.values:
        raise ValidationError({"market_line": _("unknown market line %(line)s") % {"line": market_line}})
    if role == Role.LINE_DEPT and not market_line:
        raise ValidationError({"market_line": _("a line department needs its market line (agri, company or personal)")})
    with transaction.atomic():
        user = User.objects.filter(username=username).first()
        after = {"name": name, "role": role, "org_unit": org_unit.code, "market_line": market_line}
        if user is None:
            user = User(username=username, name=name, role=role, org_unit=org_unit, market_line=market_line)
            user.set_unusable_password()
            user.full_clean(exclude=["password"])
            user.save()
            audit.record(actor=acting_user, action="user.create", obj=user, changes=audit.diff({}, after))
            return user, True
        before = {"name": user.name, "role": user.role,
                  "org_unit": user.org_unit.code if user.org_unit else None, "market_line": user.market_line}
        changes = audit.diff(before, after)
        if not changes:
            return user, False
        user.name, user.role, user.org_unit, user.market_line = name, role, org_unit, market_line
        user.save()
        action = "user.role_change" if "role" in changes else "user.update"
        audit.record(actor=acting_user, action=action, obj=user, changes=changes)
        return user, True


def staff_import(*, acting_user: User | None, path: Path) -> ImportResult:
    """Import `username,name,role,org_code[,market_line]` rows; idempotent, all or nothing."""
    rows = _read_csv(path, ["username", "name", "role", "org_code"])
    result = ImportResult()
    units = {unit.code: unit for unit in OrgUnit.objects.all()}
    prepared = []
    for line, row in enumerate(rows, start=2):
        if not row["username"]:
            result.errors.append(_("line %(line)d: username is required") % {"line": line})
            continue
        unit = units.get(row["org_code"])
        if unit is None:
            result.errors.append(_("line %(line)d: org_code %(code)s is not a known org unit")
                                 % {"line": line, "code": row["org_code"]})
            continue
        if row["role"] not in Role.values:
            result.errors.append(_("line %(line)d: role %(role)s is not one of %(roles)s")
                                 % {"line": line, "role": row["role"], "roles": ", ".join(Role.values)})
            continue
        prepared.append((line, row, unit))
    if result.errors:
        return result
    try:
        with transaction.atomic():
            for line, row, unit in prepared:
                existed = User.objects.filter(username=row["username"]).exists()
                try:
                    _user, changed = staff_save(
                        acting_user=acting_user, username=row["username"], name=row["name"], role=row["role"],
                        org_unit=unit, market_line=row.get("market_line", ""),
                    )
                except ValidationError as exc:
                    messages = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
                    result.errors.append(_("line %(line)d: %(messages)s") % {"line": line, "messages": messages})
                    continue
                if not changed:
                    result.unchanged += 1
                elif existed:
                    result.updated += 1
                else:
                    result.created += 1
            if result.errors:
                raise _Rollback
    except _Rollback:
        result.created = result.updated = result.unchanged = 0
    return result


class _Rollback(Exception):
    pass


def token_create(*, acting_user: User | None, user: User, name: str = "") -> str:
    """Create an API token for `user` and return the secret; only its hash is kept."""
    key = "gx_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(user=user, name=name, prefix=key[:10], key_hash=ApiToken.hash_key(key))
        audit.record(actor=acting_user, action="token.create", obj=user, object_repr=f"{user.username} {token.prefix}…")
    return key


def token_authenticate(key: str) -> User | None:
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=ApiToken.hash_key(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def _require_secadmin(acting_user: User) -> None:
    from django.core.exceptions import PermissionDenied

    if acting_user is None or acting_user.role != Role.SECADMIN or not acting_user.is_active:
        raise PermissionDenied(_("only the security administrator manages staff and roles"))


def staff_manage(
    *, acting_user: User, username: str, name: str, role: str, org_code: str, market_line: str = "",
    is_active: bool = True,
) -> tuple[User, bool]:
    """The security administrator creates or changes a member of staff (audited via staff_save)."""
    _require_secadmin(acting_user)
    unit = OrgUnit.objects.filter(code=org_code).first()
    if unit is None:
        raise ValidationError({"org_code": _("%(code)s is not a known org unit code") % {"code": org_code}})
    if not username or not username.replace("_", "").replace(".", "").isalnum():
        raise ValidationError({"username": _("letters, digits, dots and underscores only")})
    with transaction.atomic():
        user, changed = staff_save(acting_user=acting_user, username=username, name=name, role=role,
                                   org_unit=unit, market_line=market_line)
        if user.is_active != is_active:
            if user.pk == acting_user.pk:
                raise ValidationError({"is_active": _("you cannot deactivate your own account")})
            user.is_active = is_active
            user.save(update_fields=["is_active"])
            audit.record(actor=acting_user, action="user.activate" if is_active else "user.deactivate", obj=user,
                         changes={"is_active": [not is_active, is_active]})
            changed = True
    return user, changed


def staff_set_password(*, acting_user: User, user: User, password: str) -> None:
    """Set a staff member's password (checked by the password validators); audited, never logged."""
    from django.contrib.auth.password_validation import validate_password

    _require_secadmin(acting_user)
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit.record(actor=acting_user, action="user.password_set", obj=user)

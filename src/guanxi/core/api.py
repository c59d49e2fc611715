"""API for org units and the caller's own identity."""

from __future__ import annotations

from ninja import Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from guanxi.core.models import OrgUnit

router = Router(tags=["core"])


class OrgUnitOut(Schema):
    code: str
    name: str
    kind: str
    parent_code: str | None

    @staticmethod
    def resolve_parent_code(obj: OrgUnit) -> str | None:
        return obj.parent.code if obj.parent_id else None


class MeOut(Schema):
    username: str
    name: str
    role: str
    org_code: str | None
    market_line: str
    can_write_customers: bool
    can_reveal: bool


@router.get("/me", response=MeOut)
def me(request):
    user = request.user
    return {
        "username": user.username, "name": user.name, "role": user.role,
        "org_code": user.org_unit.code if user.org_unit_id else None, "market_line": user.market_line,
        "can_write_customers": user.can_write_customers, "can_reveal": user.can_reveal,
    }


@router.get("/orgunits", response=list[OrgUnitOut])
@paginate(LimitOffsetPagination)
def orgunit_list(request, kind: str | None = None, within: str | None = None):
    """The bank's org units (not personal data: every signed-in user may read the tree)."""
    units = OrgUnit.objects.select_related("parent")
    if kind:
        units = units.filter(kind=kind)
    if within:
        root = OrgUnit.objects.filter(code=within).first()
        units = units.subtree(root) if root else units.none()
    return units

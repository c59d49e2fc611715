"""Demo data of segmentation: a few territories (划片包干) and two target lists (名单制管理) being worked.

Called by `guanxi.site.demo.load_demo` once the demo customers and their segments exist.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from guanxi.core.models import OrgUnit, User
from guanxi.segmentation.models import EntryStatus, TargetListEntry
from guanxi.segmentation.services.target_lists import (
    BuildFilters,
    target_list_build,
    target_list_create,
    target_list_entry_update,
)
from guanxi.segmentation.services.territories import territory_route, territory_save

# (name, kind, org code, keywords, team usernames); the keywords match the synthetic addresses.
# The village's longer keyword wins over the town's for its residents.
TERRITORIES = [
    ("城关镇街道", "street", "B0101", ["城关镇"], ["manager1", "manager2"]),
    ("城关镇红旗村", "village", "B0101", ["城关镇红旗村", "城关镇向阳村"], ["manager2"]),
    ("兴隆镇工业园区", "street", "C0102", ["兴隆镇工业园区"], ["m_c0102_1"]),
    ("五常镇幸福村", "village", "B0201", ["五常镇幸福村", "五常镇和平村"], []),
]
# How the first entries of the demo list have been worked, in turn: (status, days to the next step, note).
WORK = [
    (EntryStatus.TO_CONTACT, None, ""),
    (EntryStatus.CONTACTED, -3, "电话联系，约定上门"),
    (EntryStatus.INTERESTED, 5, "有春耕贷款意向"),
    (EntryStatus.WON, None, "已办理存款开户"),
    (EntryStatus.LOST, None, "已在他行贷款"),
    (EntryStatus.CONTACTED, 2, "需补充家庭收入情况"),
]


def load_demo_segments(*, worked: int = 30) -> dict[str, int]:
    """Territories, a routing run, and two lists (one branch head's, one line department's) with entries in
    every follow-up status. Skipped quietly when the named demo staff are missing."""
    staff = {user.username: user for user in User.objects.filter(
        username__in=["head1", "agri_dept", *{name for *_rest, team in TERRITORIES for name in team}])}
    if "head1" not in staff or "agri_dept" not in staff:
        return {}
    units = {unit.code: unit for unit in OrgUnit.objects.filter(code__in=["HQ", *{t[2] for t in TERRITORIES}])}
    sysadmin = User.objects.filter(role="sysadmin", is_active=True).first()
    for name, kind, code, keywords, team in TERRITORIES:
        territory_save(acting_user=sysadmin or staff["agri_dept"], name=name, kind=kind, org_unit=units[code],
                       keywords=keywords, team=[staff[u] for u in team if u in staff])
    routed = territory_route(user=None)

    today = timezone.localdate()
    spring = target_list_create(acting_user=staff["head1"], name="春季农户走访名单", market="agri",
                                description="城关支行三农目标客户，春耕前走访一遍。", due_on=today + timedelta(days=30))
    target_list_build(acting_user=staff["head1"], target_list=spring,
                      filters=BuildFilters(market="agri"), default_owner=User.objects.get(username="manager1"))
    entries = list(TargetListEntry.objects.filter(target_list=spring).select_related("owner", "target_list")
                   .order_by("id")[:worked])
    for index, entry in enumerate(entries):
        status, days, note = WORK[index % len(WORK)]
        if status == EntryStatus.TO_CONTACT and days is None:
            continue
        target_list_entry_update(acting_user=entry.owner, entry=entry, status=status,
                                 next_step="回访" if days is not None else "",
                                 next_step_on=today + timedelta(days=days) if days is not None else None, note=note)
    high = target_list_create(acting_user=staff["agri_dept"], name="三农高端客户维护名单", org_unit=units["HQ"],
                              description="全行三农高端客户，逐户落实维护措施。")
    target_list_build(acting_user=staff["agri_dept"], target_list=high, filters=BuildFilters(tier="high"))
    return {"territories": len(TERRITORIES), "routed": routed.routed, "lists": 2, "worked": len(entries)}

"""The top navigation: which pages each role reaches from every page, grouped into a few menus.

One table (`NAVIGATION`) says what is shown to whom; the base template only draws it. A menu
with a single page for the user is drawn as that page's link. Showing a link never grants
anything: each view checks its own permission (a test opens every shown link as each role).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from guanxi.core.roles import Role


@dataclass(frozen=True)
class Page:
    label: Any
    url_name: str
    shown: Callable[[Any], bool]


@dataclass(frozen=True)
class Menu:
    label: Any
    pages: tuple[Page, ...]


def _roles(*roles: str) -> Callable[[Any], bool]:
    return lambda user: user.role in roles


def _everyone(user) -> bool:
    return True


_PLANNERS = (Role.BRANCH_HEAD, Role.LINE_DEPT)
_FRONT_LINE = (Role.MANAGER, Role.TELLER)

NAVIGATION: tuple[Page | Menu, ...] = (
    Page(_("Home"), "home", _everyone),
    Page(_("Customers"), "customers:list", _everyone),
    Menu(_("Markets and ownership"), (
        Page(_("Segments"), "segmentation:stats", _everyone),
        Page(_("Target lists"), "segmentation:target_lists", _roles(*_PLANNERS)),
        Page(_("My list"), "segmentation:my_entries", _roles(*_FRONT_LINE)),
        Page(_("Ownership"), "relationships:unassigned", _roles(*_PLANNERS)),
    )),
    Menu(_("Customer service"), (
        Page(_("Contacts"), "engagement:interactions", lambda user: bool(user.role) and not user.is_administrator),
        Page(_("My visit tasks"), "engagement:tasks", _roles(*_FRONT_LINE, Role.BRANCH_HEAD)),
        Page(_("Care plans"), "engagement:care_plans", _roles(*_PLANNERS, Role.AUDITOR)),
        Page(_("Follow-up tracking"), "relationships:tracking", _roles(*_FRONT_LINE, *_PLANNERS, Role.AUDITOR)),
    )),
    Page(_("Credit rating"), "credit:assessments",
         lambda user: bool(user.role) and user.role not in (Role.TELLER, Role.SECADMIN, Role.AUDITADMIN)),
    Menu(_("Administration"), (
        Page(_("Staff"), "staff_list", _roles(Role.SECADMIN)),
        Page(_("Background jobs"), "site:jobs", _roles(Role.SYSADMIN, Role.AUDITOR)),
        Page(_("Audit log"), "audit_log", lambda user: user.can_read_audit_log),
    )),
)


@dataclass(frozen=True)
class Entry:
    """One thing drawn in the bar: a link (`url`) or a menu (`pages`), `current` when the page is in it."""

    label: Any
    url: str = ""
    current: bool = False
    pages: tuple[Entry, ...] = ()


def navigation_for(user, path: str) -> list[Entry]:
    """What the bar shows `user` on the page at `path`; the link whose address starts the path the
    longest is the current one (a target list's page is under Target lists, not Segments)."""
    if not getattr(user, "is_authenticated", False):
        return []
    shown = [(item, [(page, reverse(page.url_name)) for page in
                     (item.pages if isinstance(item, Menu) else (item,)) if page.shown(user)])
             for item in NAVIGATION]
    urls = [url for _item, pages in shown for _page, url in pages]
    matching = [url for url in urls if path == url or (url != "/" and path.startswith(url))]
    here = max(matching, key=len, default=None)
    entries = []
    for item, pages in shown:
        links = [Entry(page.label, url, url == here) for page, url in pages]
        if len(links) == 1:
            entries.append(links[0])
        elif links:
            entries.append(Entry(item.label, current=any(link.current for link in links), pages=tuple(links)))
    return entries


def navigation(request) -> dict[str, Any]:
    """Context processor: `navigation`, the bar for the signed-in user (computed when the page draws it)."""
    from django.utils.functional import SimpleLazyObject

    return {"navigation": SimpleLazyObject(lambda: navigation_for(request.user, request.path))}

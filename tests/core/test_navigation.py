"""The top bar: each role's pages, grouped into menus, every one of them a page that role may open."""

from __future__ import annotations

import pytest
from django.utils import translation

from guanxi.core.navigation import navigation_for

ROLES = ["alice", "tina", "hank", "lena", "cora", "audrey", "sam", "sec", "ada"]


def _bar(user, path="/"):
    with translation.override("zh-hans"):
        return [(str(entry.label), [str(page.label) for page in entry.pages])
                for entry in navigation_for(user, path)]


@pytest.mark.parametrize("username", ROLES)
def test_every_page_in_a_roles_bar_opens_for_that_role(client, bank, username):
    user = getattr(bank, username)
    client.force_login(user)
    html = client.get("/").content.decode()
    links = [link for entry in navigation_for(user, "/") for link in (entry.pages or (entry,))]
    assert len(links) >= 4
    for link in links:
        assert f'href="{link.url}"' in html
        assert client.get(link.url).status_code == 200, (username, link.url)


def test_a_manager_sees_the_front_line_pages_in_two_menus(bank):
    assert _bar(bank.alice) == [
        ("首页", []), ("客户", []), ("市场与管户", ["市场细分", "我的名单"]),
        ("客户服务", ["联系记录", "我的回访任务", "跟踪问效"]), ("信用评级", [])]


def test_a_branch_head_and_the_auditor_see_their_own_menus(bank):
    assert _bar(bank.hank) == [
        ("首页", []), ("客户", []), ("市场与管户", ["市场细分", "目标客户名单", "维护责任人"]),
        ("客户服务", ["联系记录", "我的回访任务", "关怀计划", "跟踪问效"]), ("信用评级", [])]
    assert _bar(bank.audrey)[-1] == ("管理", ["后台任务", "审计日志"])


def test_a_menu_of_one_page_is_that_pages_link(bank):
    """The security administrator has one page of administration: it is a plain link, not a menu of one."""
    assert _bar(bank.sec) == [("首页", []), ("客户", []), ("市场细分", []), ("员工", [])]


def test_the_current_page_and_its_menu_are_marked(client, bank):
    client.force_login(bank.hank)
    html = client.get("/segments/target-lists/").content.decode()
    assert '<a href="/segments/target-lists/" aria-current="page">目标客户名单</a>' in html
    assert '<a href="/segments/" aria-current="page">' not in html  # the longest matching address wins
    assert '<details class="menu current"><summary>市场与管户</summary>' in html
    html = client.get("/").content.decode()
    assert '<a href="/" aria-current="page">首页</a>' in html and "menu current" not in html


def test_no_bar_for_a_visitor(client):
    assert "<nav>" not in client.get("/login/").content.decode()

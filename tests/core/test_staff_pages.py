"""The security administrator manages staff and roles; every change is in the audit log."""

from guanxi.core.models import AuditEntry, User


def test_only_the_security_administrator_sees_the_staff_pages(login, bank):
    assert login(bank.sec).get("/staff/").status_code == 200
    for persona in (bank.sam, bank.ada, bank.hank, bank.audrey):
        assert login(persona).get("/staff/").status_code == 403


def test_a_role_change_is_saved_and_audited(login, bank):
    client = login(bank.sec)
    response = client.post("/staff/alice/", {"name": bank.alice.name, "role": "branch_head", "org_code": "B1",
                                             "market_line": "", "is_active": "on"})
    assert response.status_code == 302
    assert User.objects.get(username="alice").role == "branch_head"
    entry = AuditEntry.objects.get(action="user.role_change")
    assert entry.actor_username == "sec" and entry.changes["role"] == ["manager", "branch_head"]


def test_new_staff_and_deactivation(login, bank):
    client = login(bank.sec)
    client.post("/staff/new/", {"username": "zhao", "name": "赵六", "role": "teller", "org_code": "B2",
                                "market_line": "", "is_active": "on"})
    assert User.objects.get(username="zhao").org_unit == bank.b2
    client.post("/staff/zhao/", {"name": "赵六", "role": "teller", "org_code": "B2", "market_line": ""})
    assert not User.objects.get(username="zhao").is_active
    assert AuditEntry.objects.filter(action="user.deactivate", object_repr__contains="赵六").exists()


def test_a_line_department_needs_its_market_line(login, bank):
    response = login(bank.sec).post("/staff/new/", {"username": "dept", "name": "x", "role": "line_dept",
                                                    "org_code": "HQ", "market_line": "", "is_active": "on"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "条线" in page  # the reason names the market line (市场条线)
    assert not User.objects.filter(username="dept").exists()


def test_a_weak_password_is_refused_and_a_good_one_set(login, bank):
    client = login(bank.sec)
    weak = client.post("/staff/bob/", {"password": "123"})
    assert weak.status_code == 200 and not User.objects.get(username="bob").check_password("123")
    client.post("/staff/bob/", {"password": "a sturdy pass phrase 2026"})
    assert User.objects.get(username="bob").check_password("a sturdy pass phrase 2026")
    entry = AuditEntry.objects.get(action="user.password_set")
    assert "sturdy" not in str(entry.changes)

"""`guanxi import orgunits` and `guanxi import staff`: idempotent, all or nothing, clear errors."""

import pytest
from django.core.management import CommandError, call_command

from guanxi.core.models import AuditEntry, OrgUnit, User

ORG_CSV = """code,name,kind,parent_code
B11,城关支行,branch,U1
C12,兴隆信用社,coop,U1
U1,北城联社,union,HQ
HQ,总行,head_office,
"""


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("import", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_orgunits_import_accepts_children_before_parents(db, tmp_path):
    output = run("orgunits", str(write(tmp_path, "org.csv", ORG_CSV)))
    assert "4 created" in output
    hq = OrgUnit.objects.get(code="HQ")
    assert set(OrgUnit.objects.subtree(hq).values_list("code", flat=True)) == {"HQ", "U1", "B11", "C12"}
    assert OrgUnit.objects.get(code="B11").parent.code == "U1"


def test_a_second_orgunits_import_changes_nothing_and_says_so(db, tmp_path):
    path = write(tmp_path, "org.csv", ORG_CSV)
    run("orgunits", str(path))
    entries = AuditEntry.objects.count()
    output = run("orgunits", str(path))
    assert "Nothing changed" in output
    assert AuditEntry.objects.count() == entries


def test_orgunits_import_reads_gb18030(db, tmp_path):
    run("orgunits", str(write(tmp_path, "org.csv", ORG_CSV, encoding="gb18030")))
    assert OrgUnit.objects.get(code="C12").name == "兴隆信用社"


def test_moving_a_unit_moves_its_subtree(db, tmp_path):
    run("orgunits", str(write(tmp_path, "org.csv", ORG_CSV + "U2,南城联社,union,HQ\nB21,五常支行,branch,U1\n")))
    run("orgunits", str(write(tmp_path, "move.csv", "code,name,kind,parent_code\nU1,北城联社,union,U2\n")))
    u2 = OrgUnit.objects.get(code="U2")
    assert {"U1", "B11", "C12", "B21"} <= set(OrgUnit.objects.subtree(u2).values_list("code", flat=True))


@pytest.mark.parametrize(("text", "reason"), [
    ("code,name,kind,parent_code\nX1,某网点,shop,\n", "kind"),
    ("code,name,kind,parent_code\nX1,某网点,branch,NOWHERE\n", "NOWHERE"),
    ("code,name,kind,parent_code\nA,甲,branch,B\nB,乙,branch,A\n", "cycle"),
    ("code,name\nA,甲\n", "kind"),
])
def test_bad_orgunit_files_are_refused_whole(db, tmp_path, text, reason):
    with pytest.raises(CommandError) as excinfo:
        run("orgunits", str(write(tmp_path, "bad.csv", text)))
    assert OrgUnit.objects.count() == 0
    assert reason in str(excinfo.value) or excinfo.value.__class__ is CommandError


def test_staff_import_is_idempotent_and_audits_role_changes(db, tmp_path):
    run("orgunits", str(write(tmp_path, "org.csv", ORG_CSV)))
    staff = "username,name,role,org_code,market_line\nwang,王伟,manager,B11,\nyang,杨芳,line_dept,HQ,agri\n"
    assert "2 created" in run("staff", str(write(tmp_path, "staff.csv", staff)))
    assert "Nothing changed" in run("staff", str(write(tmp_path, "staff.csv", staff)))
    run("staff", str(write(tmp_path, "staff2.csv", staff.replace("wang,王伟,manager", "wang,王伟,branch_head"))))
    assert User.objects.get(username="wang").role == "branch_head"
    entry = AuditEntry.objects.get(action="user.role_change")
    assert entry.changes["role"] == ["manager", "branch_head"]


def test_staff_import_refuses_unknown_roles_and_units_naming_the_line(db, tmp_path):
    run("orgunits", str(write(tmp_path, "org.csv", ORG_CSV)))
    staff = "username,name,role,org_code\nwang,王伟,boss,B11\nli,李娜,manager,ZZ\n"
    with pytest.raises(CommandError):
        run("staff", str(write(tmp_path, "staff.csv", staff)))
    assert not User.objects.exists()

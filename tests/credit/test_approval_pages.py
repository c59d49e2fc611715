"""Approving lines in the pages and through the API: the inbox (待我审批), the approval page, decisions,
votes, the matrix page and the owner's notification on the home page."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.credit.approvals import approval_decide, committee_save, credit_line_submit
from guanxi.credit.models import Approval, CreditLine
from tests.credit.approval_helpers import proposed_line
from tests.factories import UserFactory


def test_a_manager_submits_a_line_from_its_page(bank, make_farmer, login):
    line = proposed_line(bank.alice, make_farmer())
    client = login(bank.alice)
    assert "提交审批" in client.get(f"/credit/lines/{line.pk}/").content.decode()
    response = client.post(f"/credit/lines/{line.pk}/submit/", {"comment": "春耕"})
    approval = Approval.objects.get()
    assert response.status_code == 302 and response.url == f"/credit/line-approvals/{approval.pk}/"
    page = client.get(response.url).content.decode()
    assert "网点" in page and "您是该授信的提议人" in page


def test_the_inbox_lists_what_waits_for_the_head(bank, make_farmer, login):
    farmer = make_farmer()
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, farmer))
    page = login(bank.hank).get("/credit/inbox/").content.decode()
    assert "待我审批" in page and farmer.name in page
    # Above the outlet: the head no longer sees it, the credit approver does.
    above = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_farmer(), amount="400000"))
    assert [a.pk for a in login(bank.hank).get("/credit/inbox/").context["page"]] == [approval.pk]
    assert [a.pk for a in login(bank.cora).get("/credit/inbox/").context["page"]] == [above.pk]


def test_the_inbox_is_for_approvers(bank, login):
    assert login(bank.alice).get("/credit/inbox/").status_code == 403


def test_the_head_approves_in_the_page_and_the_owner_sees_it_at_home(bank, make_farmer, login):
    farmer = make_farmer()
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, farmer))
    client = login(bank.hank)
    response = client.post(f"/credit/line-approvals/{approval.pk}/decide/", {"decision": "approve", "comment": ""})
    assert response.status_code == 302
    assert CreditLine.objects.get(pk=approval.line_id).status == "approved"
    home = login(bank.alice).get("/").content.decode()
    assert "授信审批" in home and farmer.name in home and "已批准" in home
    login(bank.alice).post("/credit/notifications/read/", {"next": "/"})
    assert "credit-notifications" in login(bank.alice).get("/").content.decode()  # still listed, now read


def test_a_rejection_without_a_comment_is_shown_not_saved(bank, make_farmer, login):
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_farmer()))
    response = login(bank.hank).post(f"/credit/line-approvals/{approval.pk}/decide/", {"decision": "reject"}, follow=True)
    assert "请说明拒绝或退回的理由" in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_a_committee_member_votes_in_the_page(bank, make_company, login):
    committee_save(acting_user=bank.cora, members=[bank.cora], majority_numerator=2, majority_denominator=3)
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_company(),
                                                                             amount="9000000"))
    client = login(bank.cora)
    assert [a.pk for a in client.get("/credit/inbox/").context["page"]] == [approval.pk]
    assert "您的表决" in client.get(f"/credit/line-approvals/{approval.pk}/").content.decode()
    client.post(f"/credit/line-approvals/{approval.pk}/vote/", {"vote": "agree"})
    approval.refresh_from_db()
    assert approval.status == "approved"


def test_an_approval_outside_the_scope_is_404(bank, make_farmer, login):
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_farmer()))
    assert login(bank.carol).get(f"/credit/line-approvals/{approval.pk}/").status_code == 404
    assert login(bank.bob).get(f"/credit/line-approvals/{approval.pk}/").status_code == 404


def test_the_matrix_page_is_read_by_all_and_changed_by_configurers(bank, login):
    page = login(bank.alice).get("/credit/authority/").content.decode()
    assert "审批权限" in page and "300,000.00" in page and "贷款审查委员会" in page
    assert login(bank.alice).post("/credit/authority/", {"action": "rule", "level": "outlet"}).status_code == 403
    response = login(bank.cora).post("/credit/authority/", {
        "action": "rule", "level": "outlet", "org_code": "B2", "customer_type": "farmer",
        "guarantee_class": "unsecured", "min_grade": "", "limit": "200000", "active": "on"})
    assert response.status_code == 302
    from guanxi.credit.models import AuthorityRule

    assert AuthorityRule.objects.get(org_unit=bank.b2).limit == 200000


def test_the_api_submits_lists_and_decides(bank, make_farmer, api):
    line = proposed_line(bank.alice, make_farmer())
    response = api(bank.alice, "post", f"/credit/lines/{line.pk}/submit", {"comment": "年审"})
    assert response.status_code == 201
    body = response.json()
    assert (body["level"], body["exposure"], body["status"], body["steps"][0]["action"]) == (
        "outlet", "160000.00", "pending", "submit")
    pending = api(bank.hank, "get", "/credit/approvals/pending").json()
    assert pending["count"] == 1 and pending["items"][0]["id"] == body["id"]
    assert api(bank.alice, "post", f"/credit/approvals/{body['id']}/decision",
               {"decision": "approve"}).status_code == 403
    bad = api(bank.hank, "post", f"/credit/approvals/{body['id']}/decision", {"decision": "return"})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "comment"
    assert api(bank.carol, "get", f"/credit/approvals/{body['id']}").status_code == 404
    done = api(bank.hank, "post", f"/credit/approvals/{body['id']}/decision", {"decision": "approve"}).json()
    assert done["status"] == "approved" and done["decided_by"] == "hank"
    notes = api(bank.alice, "get", "/credit/notifications?unread=true").json()
    assert notes["count"] == 1 and notes["items"][0]["status"] == "approved"


def test_the_api_votes(bank, make_company, api):
    member = UserFactory(username="mia", role="credit_approver", org_unit=bank.hq)
    committee_save(acting_user=bank.cora, members=[bank.cora, member], majority_numerator=2, majority_denominator=3)
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_company(),
                                                                             amount="8000000"))
    body = api(bank.cora, "post", f"/credit/approvals/{approval.pk}/votes", {"vote": "agree"}).json()
    assert body["tally"] == {"voters": 2, "needed": 2, "counts": {"agree": 1, "reject": 0, "reconsider": 0,
                                                                  "abstain": 0}, "remaining": 1}
    assert api(bank.cora, "post", f"/credit/approvals/{approval.pk}/votes", {"vote": "agree"}).status_code == 422
    assert api(member, "post", f"/credit/approvals/{approval.pk}/votes",
               {"vote": "maybe"}).json()["detail"][0]["field"] == "vote"
    assert api(member, "post", f"/credit/approvals/{approval.pk}/votes", {"vote": "agree"}).json()["status"] == "approved"


def test_the_pending_list_takes_the_same_queries_for_one_or_many(bank, make_farmer, api):
    credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_farmer()))
    api(bank.hank, "get", "/credit/approvals/pending")
    with CaptureQueriesContext(connection) as one:
        assert api(bank.hank, "get", "/credit/approvals/pending").json()["count"] == 1
    for _ in range(3):
        credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_farmer()))
    with CaptureQueriesContext(connection) as many:
        assert api(bank.hank, "get", "/credit/approvals/pending").json()["count"] == 4
    assert len(many) == len(one)


def test_the_authority_rules_are_listed(bank, api):
    body = api(bank.alice, "get", "/credit/authority-rules").json()
    assert body["count"] == 6 and {item["level"] for item in body["items"]} == {"outlet", "department", "committee"}


def test_decided_approvals_leave_the_inbox(bank, make_farmer, login):
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_farmer()))
    approval_decide(acting_user=bank.hank, approval=approval, decision="approve")
    assert list(login(bank.hank).get("/credit/inbox/").context["page"]) == []

"""Scorecards as data: drafts edited by credit approvers and the system administrator, a preview of the grade
moves, publishing with an effective date, immutable published versions."""

import copy
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from guanxi.core.models import AuditEntry
from guanxi.credit.engine import validate_definition
from guanxi.credit.models import Scorecard
from guanxi.credit.selectors import scorecard_preview
from guanxi.credit.services import (
    assessment_run,
    scorecard_draft_create,
    scorecard_draft_update,
    scorecard_publish,
)


@pytest.fixture
def farmer_card(db):
    return Scorecard.objects.get(customer_type="farmer", version=1)


def test_a_credit_approver_drafts_edits_and_publishes_a_new_version(bank, farmer_card, login, make_farmer):
    client = login(bank.cora)
    response = client.post(f"/credit/scorecards/{farmer_card.pk}/draft/")
    draft = Scorecard.objects.get(customer_type="farmer", status="draft")
    assert response.status_code == 302 and response["Location"] == f"/credit/scorecards/{draft.pk}/edit/"
    page = client.get(f"/credit/scorecards/{draft.pk}/edit/")
    form = page.context["values_form"]
    data = {field.html_name: field.value() for field in form}
    data.update({"action": "values", "q__bands__0__min": "98"})
    assert client.post(f"/credit/scorecards/{draft.pk}/edit/", data).status_code == 302
    draft.refresh_from_db()
    assert draft.definition["bands"][0] == {"grade": "AAA", "min": 98} and draft.version == 2
    entry = AuditEntry.objects.get(action="scorecard.draft_update")
    assert entry.actor == bank.cora and entry.changes["changed"] == ["bands[0].min"]
    today = timezone.localdate()
    assert client.post(f"/credit/scorecards/{draft.pk}/publish/",
                       {"effective_from": today.isoformat()}).status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.effective_from, draft.published_by) == ("published", today, bank.cora)
    assessment = assessment_run(acting_user=bank.alice, customer=make_farmer())
    assert (assessment.scorecard_id, assessment.model_score, assessment.model_grade) == (draft.pk, 97, "AA")


def test_the_system_administrator_edits_scorecards_too(bank, farmer_card):
    draft = scorecard_draft_create(acting_user=bank.sam, based_on=farmer_card)
    assert draft.created_by == bank.sam


@pytest.mark.parametrize("username", ["alice", "hank", "lena", "audrey", "sec"])
def test_other_roles_may_not_edit_scorecards(bank, farmer_card, login, username):
    user = getattr(bank, username)
    assert login(user).post(f"/credit/scorecards/{farmer_card.pk}/draft/").status_code == 403
    with pytest.raises(PermissionDenied):
        scorecard_draft_create(acting_user=user, based_on=farmer_card)
    assert login(user).get(f"/credit/scorecards/{farmer_card.pk}/").status_code == 200  # policy is readable


def test_a_published_version_cannot_be_changed(bank, farmer_card, login):
    definition = copy.deepcopy(farmer_card.definition)
    with pytest.raises(ValidationError):
        scorecard_draft_update(acting_user=bank.cora, scorecard=farmer_card, definition=definition)
    response = login(bank.cora).get(f"/credit/scorecards/{farmer_card.pk}/edit/")
    assert response.status_code == 302
    assert Scorecard.objects.get(pk=farmer_card.pk).definition == farmer_card.definition


def test_only_one_draft_per_customer_type(bank, farmer_card):
    scorecard_draft_create(acting_user=bank.cora, based_on=farmer_card)
    with pytest.raises(ValidationError):
        scorecard_draft_create(acting_user=bank.cora, based_on=farmer_card)


def test_a_version_effective_tomorrow_is_not_used_today(bank, farmer_card, make_farmer):
    draft = scorecard_draft_create(acting_user=bank.cora, based_on=farmer_card)
    scorecard_publish(acting_user=bank.cora, scorecard=draft, effective_from=timezone.localdate() + timedelta(days=1))
    assert assessment_run(acting_user=bank.alice, customer=make_farmer()).scorecard == farmer_card


def test_an_effective_date_in_the_past_is_refused(bank, farmer_card):
    draft = scorecard_draft_create(acting_user=bank.cora, based_on=farmer_card)
    with pytest.raises(ValidationError) as caught:
        scorecard_publish(acting_user=bank.cora, scorecard=draft, effective_from=timezone.localdate() - timedelta(1))
    assert "effective_from" in caught.value.message_dict


def test_the_json_editor_names_each_error(bank, farmer_card, login):
    draft = scorecard_draft_create(acting_user=bank.cora, based_on=farmer_card)
    broken = copy.deepcopy(draft.definition)
    broken["indicators"][0]["rule"]["bins"][1]["from"] = 1  # no longer increasing
    broken["indicators"][1]["fact"] = "shoe_size"
    import json

    response = login(bank.cora).post(f"/credit/scorecards/{draft.pk}/edit/",
                                     {"action": "json", "definition": json.dumps(broken)})
    assert response.status_code == 200
    errors = response.context["json_form"].errors["definition"]
    assert any(e.startswith("indicators[0].rule.bins[1].from") for e in errors)
    assert any(e.startswith("indicators[1].fact") for e in errors)


def test_the_preview_counts_grade_moves_in_the_editors_scope(bank, farmer_card, make_farmer, login):
    make_farmer()  # 97 points: AAA
    make_farmer(owner=bank.carol, org_unit=bank.b2)  # AAA too, another branch
    draft = scorecard_draft_create(acting_user=bank.cora, based_on=farmer_card)
    definition = copy.deepcopy(draft.definition)
    definition["bands"][0]["min"] = 98
    draft = scorecard_draft_update(acting_user=bank.cora, scorecard=draft, definition=definition)
    preview = scorecard_preview(user=bank.cora, draft=draft)
    assert (preview.moves, preview.customers, preview.changed) == ([("AAA", "AA", 2)], 2, 2)
    response = login(bank.cora).get(f"/credit/scorecards/{draft.pk}/preview/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "AAA" in response.content.decode()
    # The system administrator sees no customers: the preview is empty for him.
    assert scorecard_preview(user=bank.sam, draft=draft).customers == 0


def test_the_default_templates_are_valid(db):
    for scorecard in Scorecard.objects.all():
        validate_definition(scorecard.definition, scorecard.customer_type)


def test_validation_finds_points_above_the_maximum_and_a_wrong_total(farmer_card):
    definition = copy.deepcopy(farmer_card.definition)
    definition["indicators"][0]["max_points"] = 6
    with pytest.raises(ValidationError) as caught:
        validate_definition(definition, "farmer")
    messages = caught.value.message_dict["definition"]
    assert any(m.startswith("indicators[0].rule") for m in messages)
    assert any(m.startswith("indicators:") for m in messages)


def test_codes_that_are_not_identifiers_are_refused(farmer_card):
    definition = copy.deepcopy(farmer_card.definition)
    definition["indicators"][0]["code"] = "x'); import os; ('"
    definition["inputs"] = [{"key": "Bad Key", "kind": "count"}]
    with pytest.raises(ValidationError) as caught:
        validate_definition(definition, "farmer")
    assert any(m.startswith("inputs[0].key") for m in caught.value.message_dict["definition"])


def test_a_scorecard_may_declare_inputs_of_its_own(bank, farmer_card, make_farmer, api):
    definition = copy.deepcopy(farmer_card.definition)
    definition["inputs"] = [{"key": "cooperative_member", "kind": "bool", "label_zh": "合作社社员",
                             "label_en": "Member of a cooperative"}]
    definition["adjustments"] = [{"code": "cooperative_member", "kind": "bonus", "fact": "cooperative_member",
                                  "rule": {"kind": "categories", "points": {"true": 2}}}]
    draft = scorecard_draft_create(acting_user=bank.cora, based_on=farmer_card)
    scorecard_draft_update(acting_user=bank.cora, scorecard=draft, definition=definition)
    scorecard_publish(acting_user=bank.cora, scorecard=draft, effective_from=timezone.localdate())
    farmer = make_farmer()
    rows = {r["key"]: r for r in api(bank.alice, "get", f"/credit/customers/{farmer.pk}/inputs").json()}
    assert rows["cooperative_member"]["label"] == "合作社社员"
    api(bank.alice, "put", f"/credit/customers/{farmer.pk}/inputs", {"values": {"cooperative_member": "是"}})
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    assert assessment.model_score == 99 and assessment.breakdown["cooperative_member"] == [1, 2]

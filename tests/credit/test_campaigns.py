"""Rating campaigns (集中评级授信 / 整村授信): the target population, the batch over it, and coverage per org
unit that equals a direct count over the unit's customers; credit households and the credit village."""

import io
from datetime import timedelta

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.utils import timezone

from guanxi.core.models import AuditEntry
from guanxi.credit.approvals import approval_decide, credit_line_submit
from guanxi.credit.campaigns import campaign_applicant_add, campaign_create, campaign_population
from guanxi.credit.models import CampaignApplicant, CreditLine, RatingAssessment, RatingRun
from guanxi.credit.selectors import campaign_progress, is_credit_household
from guanxi.credit.services import assessment_confirm, assessment_run, assessments_run_batch
from tests.credit.approval_helpers import proposed_line
from tests.credit.conftest import FARMER_INPUTS
from tests.factories import OrgUnitFactory


def _campaign(bank, **fields):
    today = timezone.localdate()
    values = {"name": "2026年秋季集中评级授信", "starts_on": today - timedelta(days=1),
              "ends_on": today + timedelta(days=40), "org_units": [bank.union]}
    values.update(fields)
    return campaign_create(acting_user=bank.lena, **values)


@pytest.fixture
def spread(bank, make_farmer, make_person):
    """Customers of B1 and B2 at every stage: collected and confirmed with a line approved, confirmed only,
    assessed without confirmation, lacking inputs, a non credit household; a prospect who asked for credit
    and one who did not; a customer of a unit outside the campaign."""
    outside = OrgUnitFactory(code="U2", name="南城联社", kind="union", parent=bank.hq)
    approved = make_farmer()
    line = proposed_line(bank.alice, approved)
    approval_decide(acting_user=bank.hank, approval=credit_line_submit(acting_user=bank.alice, line=line),
                    decision="approve")
    confirmed = make_farmer()
    assessment_confirm(acting_user=bank.alice, assessment=assessment_run(acting_user=bank.alice, customer=confirmed))
    proposed = make_person()
    assessment_run(acting_user=bank.alice, customer=proposed)
    lacking = make_farmer(members=(), inputs={})
    assessment_run(acting_user=bank.alice, customer=lacking)
    not_credit = make_farmer(owner=bank.carol, org_unit=bank.b2, inputs={**FARMER_INPUTS, "credit_reference": "bad"})
    assessment_confirm(acting_user=bank.carol, assessment=assessment_run(acting_user=bank.carol, customer=not_credit))
    untouched = make_farmer(owner=bank.carol, org_unit=bank.b2)
    applicant = make_farmer(status="prospect")
    stranger = make_farmer(status="prospect")
    far = make_farmer(org_unit=outside)
    for customer in (approved, confirmed, proposed, lacking, not_credit, untouched, far):
        customer.status = "existing"
        customer.save(update_fields=["status"])
    return {"approved": approved, "confirmed": confirmed, "proposed": proposed, "lacking": lacking,
            "not_credit": not_credit, "untouched": untouched, "applicant": applicant, "stranger": stranger,
            "far": far}


def _direct(customers, start) -> dict:
    """Counts the slow way: one customer at a time."""
    out = {"population": 0, "collected": 0, "rated": 0, "approved": 0, "farmers": 0, "credit_households": 0}
    for customer in customers:
        assessments = RatingAssessment.objects.filter(customer=customer, created_at__gte=start)
        out["population"] += 1
        out["collected"] += any(a.model_score is not None for a in assessments)
        out["rated"] += any(a.status == "confirmed" for a in assessments)
        out["approved"] += CreditLine.objects.filter(customer=customer, status="approved",
                                                     created_at__gte=start).exists()
        out["farmers"] += customer.customer_type == "farmer"
        out["credit_households"] += is_credit_household(customer)
    return out


def test_coverage_per_org_unit_equals_a_direct_count(bank, spread):
    campaign = _campaign(bank)
    campaign_applicant_add(acting_user=bank.alice, campaign=campaign, customer=spread["applicant"])
    progress = campaign_progress(campaign=campaign, user=bank.cora)
    start = timezone.now() - timedelta(days=1)
    rows = {row.org_unit.code: row for row in progress.rows}
    assert set(rows) == {"B1", "B2"}
    population = list(campaign_population(campaign))
    assert spread["stranger"] not in population and spread["far"] not in population
    for code in ("B1", "B2"):
        direct = _direct([c for c in population if c.org_unit.code == code], start)
        assert {name: getattr(rows[code], name) for name in direct} == direct, code
    assert (progress.total.population, progress.total.collected, progress.total.rated, progress.total.approved) == (
        7, 4, 3, 1)
    assert (rows["B1"].farmers, rows["B1"].credit_households, rows["B2"].credit_households) == (4, 2, 0)


def test_coverage_is_within_the_viewers_scope(bank, spread):
    campaign = _campaign(bank)
    assert campaign_progress(campaign=campaign, user=bank.carol).total.population == 2
    assert campaign_progress(campaign=campaign, user=bank.hank).total.population == 4


def test_a_village_campaign_takes_everybody_of_the_village(bank, make_farmer):
    inside = [make_farmer(address="北城镇红星村三组", status=status) for status in ("existing", "prospect")]
    make_farmer(address="北城镇东风村一组", status="existing")
    campaign = _campaign(bank, include_existing=False, include_applicants=False, village="红星村",
                         customer_type="farmer", credit_village_share=50)
    assert set(campaign_population(campaign)) == set(inside)
    assessment_confirm(acting_user=bank.alice, assessment=assessment_run(acting_user=bank.alice, customer=inside[0]))
    progress = campaign_progress(campaign=campaign, user=bank.hank)
    assert (progress.total.farmers, progress.total.credit_households, progress.credit_village) == (2, 1, True)
    campaign.credit_village_share = 70
    assert campaign_progress(campaign=campaign, user=bank.hank).credit_village is False


def test_the_batch_rates_the_campaign_population(bank, spread):
    campaign = _campaign(bank)
    campaign_applicant_add(acting_user=bank.alice, campaign=campaign, customer=spread["applicant"])
    result = assessments_run_batch(acting_user=None, campaign=campaign)
    rated = set(RatingAssessment.objects.filter(run=result.run).values_list("customer_id", flat=True))
    assert rated == {c.pk for c in campaign_population(campaign)}
    assert spread["applicant"].pk in rated and spread["far"].pk not in rated
    assert result.run.campaign == campaign
    assert AuditEntry.objects.get(action="rating.batch").changes["campaign"] == campaign.pk


def test_guanxi_rate_campaign(bank, spread):
    campaign = _campaign(bank)
    out = io.StringIO()
    call_command("rate", "--campaign", str(campaign.pk), "--as", "hank", "--no-progress", stdout=out)
    run = RatingRun.objects.get()
    assert run.campaign == campaign and run.assessed == 4 and "4" in out.getvalue()
    call_command("rate", "--campaign", campaign.name, "--no-progress", stdout=io.StringIO())
    assert RatingRun.objects.filter(campaign=campaign).count() == 2
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("rate", "--campaign", "no such campaign", "--no-progress", stdout=io.StringIO())


def test_who_organises_campaigns(bank):
    with pytest.raises(PermissionDenied):
        campaign_create(acting_user=bank.alice, name="x", starts_on=timezone.localdate(),
                        ends_on=timezone.localdate(), org_units=[bank.b1])
    with pytest.raises(ValidationError) as caught:
        campaign_create(acting_user=bank.hank, name="x", starts_on=timezone.localdate(),
                        ends_on=timezone.localdate(), org_units=[bank.b2])
    assert "org_units" in caught.value.message_dict
    campaign = campaign_create(acting_user=bank.hank, name="城关支行整村授信", starts_on=timezone.localdate(),
                               ends_on=timezone.localdate(), org_units=[bank.b1])
    assert AuditEntry.objects.get(action="campaign.create").object_id == str(campaign.pk)


def test_a_campaign_needs_a_period_and_a_population(bank):
    today = timezone.localdate()
    with pytest.raises(ValidationError) as caught:
        campaign_create(acting_user=bank.lena, name="x", starts_on=today, ends_on=today - timedelta(days=1),
                        org_units=[bank.b1], include_existing=False, include_applicants=False)
    assert {"ends_on", "village"} <= set(caught.value.message_dict)


def test_applicants_come_from_the_units_taking_part(bank, make_farmer):
    campaign = _campaign(bank, org_units=[bank.b2])
    with pytest.raises(ValidationError):
        campaign_applicant_add(acting_user=bank.alice, campaign=campaign, customer=make_farmer(status="prospect"))
    assert not CampaignApplicant.objects.exists()


def test_the_progress_page_and_xlsx(bank, spread, login):
    campaign = _campaign(bank)
    client = login(bank.hank)
    page = client.get(f"/credit/campaigns/{campaign.pk}/").content.decode()
    assert campaign.name in page and "城关支行" in page and "100%" in page
    response = client.get(f"/credit/campaigns/{campaign.pk}/progress.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    b1 = next(row for row in rows if row[0] == "城关支行")
    assert b1[1:3] == [4, 3]  # population, collected
    assert rows[0][0].endswith(campaign.name)


def test_campaigns_are_created_and_rated_in_pages(bank, spread, login):
    today = timezone.localdate()
    response = login(bank.lena).post("/credit/campaigns/", {
        "name": "北城联社集中评级", "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=30)).isoformat(),
        "org_codes": "B1, B2", "customer_type": "", "include_existing": "on", "include_applicants": "on",
        "village": "", "credit_village_share": "70"})
    assert response.status_code == 302
    from guanxi.credit.models import RatingCampaign

    campaign = RatingCampaign.objects.get()
    assert {u.code for u in campaign.org_units.all()} == {"B1", "B2"}
    client = login(bank.alice)
    client.post(f"/credit/campaigns/{campaign.pk}/applicants/", {"customer_no": spread["applicant"].customer_no})
    assert CampaignApplicant.objects.filter(campaign=campaign, customer=spread["applicant"]).exists()
    client.post(f"/credit/campaigns/{campaign.pk}/rate/")
    assert RatingRun.objects.get(campaign=campaign).assessed == 5  # alice's four existing and the applicant


def test_the_campaign_api(bank, spread, api):
    today = timezone.localdate()
    created = api(bank.lena, "post", "/credit/campaigns", {
        "name": "秋季评级", "starts_on": (today - timedelta(days=1)).isoformat(),
        "ends_on": (today + timedelta(days=9)).isoformat(), "org_codes": ["U1"]})
    assert created.status_code == 201
    campaign_id = created.json()["id"]
    bad = api(bank.lena, "post", "/credit/campaigns", {"name": "x", "starts_on": today.isoformat(),
                                                        "ends_on": today.isoformat(), "org_codes": ["NOPE"]})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "org_codes"
    added = api(bank.alice, "post", f"/credit/campaigns/{campaign_id}/applicants",
                {"customer_id": spread["applicant"].pk})
    assert added.status_code == 201
    run = api(bank.hank, "post", f"/credit/campaigns/{campaign_id}/runs").json()
    assert run["state"] == "done" and run["assessed"] == 5
    progress = api(bank.hank, "get", f"/credit/campaigns/{campaign_id}/progress").json()
    assert progress["goal"] == 100 and progress["total"]["population"] == 5
    assert progress["total"]["collected"] == 4  # one household still lacks inputs
    assert {row["org_code"] for row in progress["rows"]} >= {"B1"}


def test_the_campaign_list_shows_every_campaign_and_the_form_to_organisers(bank, login):
    campaign = _campaign(bank)
    page = login(bank.lena).get("/credit/campaigns/").content.decode()
    assert campaign.name in page and "开展评级授信活动" in page and "北城联社" in page
    assert "开展评级授信活动" not in login(bank.alice).get("/credit/campaigns/").content.decode()
    assert login(bank.alice).post("/credit/campaigns/", {"name": "x"}).status_code == 403


def test_the_customer_page_shows_the_credit_household(bank, make_farmer, login):
    farmer = make_farmer()
    assessment_confirm(acting_user=bank.alice, assessment=assessment_run(acting_user=bank.alice, customer=farmer))
    page = login(bank.alice).get(f"/customers/{farmer.pk}/").content.decode()
    assert 'id="credit-panel"' in page and "信用户" in page

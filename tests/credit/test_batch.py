"""Batch assessment (`guanxi rate`): the same results as one customer at a time, scoped, counted."""

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from guanxi.core.models import AuditEntry
from guanxi.credit.models import RatingAssessment, RatingRun
from guanxi.credit.services import assessment_confirm, assessment_run, assessments_run_batch
from tests.credit.conftest import COMPANY_INPUTS, FARMER_INPUTS, PERSON_INPUTS


@pytest.fixture
def population(bank, make_farmer, make_person, make_company):
    """Customers of every type and outcome: rated, capped, ineligible, lacking inputs, another branch."""
    return [
        make_farmer(),
        make_farmer(household_size=2, members=(True,), inputs={**FARMER_INPUTS, "overall_judgement": "fair"}),
        make_farmer(inputs={**FARMER_INPUTS, "credit_reference": "minor"}),
        make_farmer(members=(), inputs={}),
        make_farmer(owner=bank.carol, org_unit=bank.b2, inputs={**FARMER_INPUTS, "credit_reference": "bad"}),
        make_person(),
        make_person(inputs={**PERSON_INPUTS, "payroll_with_us": "true", "occupation": "other"}),
        make_person(inputs={}),
        make_company(),
        make_company(inputs={**COMPANY_INPUTS, "operating_cash_flow": "-1"}),
    ]


def _model(assessment: RatingAssessment) -> tuple:
    return (assessment.scorecard_id, assessment.status, assessment.model_score, assessment.model_grade,
            assessment.eligible, assessment.breakdown, assessment.gates, assessment.missing)


def test_a_batch_gives_every_customer_what_the_single_path_gives(bank, population):
    result = assessments_run_batch(acting_user=None)
    batch = {a.customer_id: _model(a) for a in RatingAssessment.objects.filter(run=result.run)}
    assert set(batch) == {c.pk for c in population}
    for customer in population:
        single = assessment_run(acting_user=bank.hank if customer.org_unit == bank.b1 else bank.carol,
                                customer=customer)
        assert _model(single) == batch[customer.pk], customer
    assert result.incomplete == 2 and result.assessed == 10
    assert result.by_grade == {"AAA": 4, "AA": 2, "A": 1, "N": 1}


def test_the_batch_counts_by_grade_and_records_the_run(bank, population):
    result = assessments_run_batch(acting_user=None)
    grades = {}
    for a in RatingAssessment.objects.filter(run=result.run).exclude(model_grade=""):
        grades[a.model_grade] = grades.get(a.model_grade, 0) + 1
    assert dict(result.by_grade) == grades
    run = RatingRun.objects.get()
    assert (run.state, run.assessed, run.incomplete, run.by_grade) == ("done", 10, 2, dict(sorted(grades.items())))
    entry = AuditEntry.objects.get(action="rating.batch")
    assert entry.actor is None and entry.changes["assessed"] == 10


def test_a_branch_head_rates_his_subtree_and_a_manager_her_own(bank, population):
    assert assessments_run_batch(acting_user=bank.hank).assessed == 9
    assert assessments_run_batch(acting_user=bank.carol).assessed == 1
    assert assessments_run_batch(acting_user=bank.alice, customer_type="company").assessed == 2


def test_a_new_batch_supersedes_open_assessments_and_leaves_pending_ones(bank, population):
    first = assessments_run_batch(acting_user=None)
    waiting = RatingAssessment.objects.get(run=first.run, customer=population[0])
    assessment_confirm(acting_user=bank.alice, assessment=waiting, grade="AA", reason="偏高")
    second = assessments_run_batch(acting_user=None)
    assert second.assessed == 9
    statuses = dict(RatingAssessment.objects.filter(run=first.run).values_list("customer_id", "status"))
    assert statuses.pop(population[0].pk) == "pending"
    assert set(statuses.values()) == {"superseded"}


def test_prospects_are_not_in_the_batch(bank, make_farmer):
    make_farmer(status="prospect")
    assert assessments_run_batch(acting_user=None).assessed == 0


def test_the_rate_command_reports_counts_by_grade(bank, population):
    out = io.StringIO()
    call_command("rate", "--org", "B1", "--customer-type", "farmer", "--no-progress", stdout=out)
    text = out.getvalue()
    assert "AAA: 1" in text and "A: 1" in text and "缺少评级信息: 1" in text
    assert RatingAssessment.objects.count() == 4


def test_the_rate_command_refuses_unknown_names(bank):
    with pytest.raises(CommandError):
        call_command("rate", "--org", "NOPE", stdout=io.StringIO())
    with pytest.raises(CommandError):
        call_command("rate", "--as", "nobody", stdout=io.StringIO())
    with pytest.raises(CommandError):  # an auditor does not rate
        call_command("rate", "--as", "audrey", stdout=io.StringIO())


def test_breakdowns_written_in_bulk_are_valid_json(bank, population):
    assessments_run_batch(acting_user=None)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT breakdown, gates, missing FROM credit_ratingassessment")
        for row in cursor.fetchall():
            assert all(isinstance(json.loads(value), dict | list) for value in row)


def test_progress_is_reported_per_chunk(bank, population):
    calls = []
    assessments_run_batch(acting_user=None, customer_type="farmer", progress=lambda *a: calls.append(a), chunk=3)
    assert len(calls) >= 4 and calls[-1][0] == calls[-1][1] and calls[-1][2] == 5


def test_a_failed_run_leaves_nothing_but_its_record(bank, population, monkeypatch):
    from guanxi.credit import reader

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(reader.FactQuery, "rows", broken)
    with pytest.raises(RuntimeError):
        assessments_run_batch(acting_user=None)
    assert not RatingAssessment.objects.exists()
    assert RatingRun.objects.get().state == "failed"

"""The guarantee adjustment, the caps and the request on the calculation sheet; amounts exact in fen."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from guanxi.credit.models import CreditLine
from guanxi.credit.services import assessment_confirm, assessment_run, credit_line_calculate
from tests.credit.conftest import FARMER_INPUTS, PERSON_INPUTS


def confirmed(user, customer):
    return assessment_confirm(acting_user=user, assessment=assessment_run(acting_user=user, customer=customer))


def sheet(line):
    return {s.code: (s.formula, s.amount) for s in line.steps.all()}


@pytest.fixture
def person_aa(bank, make_person):
    """A person rated AA: 4 × 150,000 = 600,000 before guarantees."""
    return confirmed(bank.alice, make_person(
        annual_income=Decimal("150000"), total_assets=Decimal("800000"), total_liabilities=Decimal("300000"),
        deposit_balance=Decimal("100000"), products="DEP;CARD;EBANK", inputs={**PERSON_INPUTS, "occupation": "employee",
                                                                              "years_in_job": "3"}))


def test_mixed_guarantees_add_up_within_the_cap(bank, person_aa):
    line = credit_line_calculate(acting_user=bank.alice, assessment=person_aa, guarantees=[
        {"type": "guarantee", "guarantor_line": "300000"},
        {"type": "mortgage", "kind": "housing", "value": "1000000"},
        {"type": "pledge", "kind": "deposit", "value": "100000.01"}])
    steps = sheet(line)
    assert steps["guarantee:guarantee"] == ("min(70% × 600,000.00, 300,000.00)", Decimal("300000.00"))
    assert steps["guarantee:mortgage"] == ("65% × 1,000,000.00", Decimal("650000.00"))
    assert steps["guarantee:pledge"] == ("90% × 100,000.01", Decimal("90000.01"))  # 90,000.009 rounds half up
    assert steps["guarantee_total"] == ("300,000.00 + 650,000.00 + 90,000.01", Decimal("1040000.01"))
    assert "guarantee_cap" not in steps  # within 2 × 600,000
    assert line.amount == Decimal("1040000.01")


def test_the_guarantee_total_is_capped(bank, person_aa):
    line = credit_line_calculate(acting_user=bank.alice, assessment=person_aa, guarantees=[
        {"type": "credit"}, {"type": "mortgage", "kind": "land_use", "value": "2000000"}])
    steps = sheet(line)
    # 600,000 + 50% × 2,000,000 = 1,600,000 → at most 2 × 600,000; then the formula cap is not reached.
    assert steps["guarantee_cap"] == ("min(1,600,000.00, 2 × 600,000.00)", Decimal("1200000.00"))
    assert line.amount == Decimal("1200000.00")


def test_a_cap_of_the_policy_limits_the_line(bank, person_aa):
    scorecard = person_aa.scorecard
    scorecard.definition["line"]["caps"][0]["amount"] = 500000
    scorecard.save(update_fields=["definition"])
    line = credit_line_calculate(acting_user=bank.alice, assessment=person_aa)
    assert sheet(line)["cap:single_borrower"] == ("min(600,000.00, 500,000.00)", Decimal("500000.00"))
    assert line.amount == Decimal("500000.00")


def test_the_customers_guarantee_type_is_the_default(bank, make_farmer):
    assessment = confirmed(bank.alice, make_farmer(guarantee_type="guarantee"))
    line = credit_line_calculate(acting_user=bank.alice, assessment=assessment)
    assert line.guarantees == [{"type": "guarantee", "kind": "", "value": None, "guarantor_line": None}]
    assert line.amount == Decimal("112000.00")  # 70% × 160,000


def test_a_farmer_line_needs_the_business_income(bank, make_farmer):
    inputs = {k: v for k, v in FARMER_INPUTS.items() if k != "business_income"}
    assessment = confirmed(bank.alice, make_farmer(inputs=inputs))
    with pytest.raises(ValidationError) as caught:
        credit_line_calculate(acting_user=bank.alice, assessment=assessment)
    assert caught.value.message_dict["inputs"] == ["请先录入：家庭经营收入"]


def test_a_new_calculation_supersedes_the_proposed_line(bank, make_farmer):
    assessment = confirmed(bank.alice, make_farmer())
    first = credit_line_calculate(acting_user=bank.alice, assessment=assessment)
    second = credit_line_calculate(acting_user=bank.alice, assessment=assessment, requested_amount=Decimal("1000"))
    first.refresh_from_db()
    assert (first.status, second.status, second.amount) == ("superseded", "proposed", Decimal("1000.00"))


def test_line_amounts_sum_exactly(bank, make_farmer):
    from django.db.models import Sum

    for requested in ("1000.10", "2000.20", "0.70"):
        credit_line_calculate(acting_user=bank.alice, assessment=confirmed(bank.alice, make_farmer()),
                              requested_amount=Decimal(requested))
    assert CreditLine.objects.aggregate(total=Sum("amount"))["total"] == Decimal("3001.00")

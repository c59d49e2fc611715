"""The three default scorecards on hand-computed customers: score, grade, gates and line.

Local averages (union U1): household assets 300,000, net assets 250,000, net income 60,000 yuan.
"""

from decimal import Decimal

from guanxi.credit.models import AssessmentStatus, Scorecard
from guanxi.credit.services import assessment_confirm, assessment_run, credit_line_calculate
from tests.credit.conftest import COMPANY_INPUTS, FARMER_INPUTS, PERSON_INPUTS


def rate(user, customer, *, grade=None, reason=""):
    assessment = assessment_run(acting_user=user, customer=customer)
    if assessment.status == AssessmentStatus.PROPOSED:
        assessment_confirm(acting_user=user, assessment=assessment, grade=grade, reason=reason)
        assessment.refresh_from_db()
    return assessment


def steps(line):
    return [(s.code, s.formula, s.amount) for s in line.steps.order_by("position")]


def test_the_three_default_scorecards_are_published_as_version_one(db):
    cards = {s.customer_type: s for s in Scorecard.objects.all()}
    assert set(cards) == {"farmer", "person", "company"}
    assert all(s.version == 1 and s.status == "published" for s in cards.values())
    farmer = cards["farmer"].definition
    assert [(i["label_zh"], i["max_points"]) for i in farmer["indicators"]] == [
        ("人口数", 8), ("劳动力人数", 8), ("家庭资产总值", 13), ("家庭净资产", 13), ("股金", 4),
        ("家庭纯收入", 14), ("综合评价", 30), ("履约情况", 10)]
    assert [(b["grade"], b["min"]) for b in farmer["bands"]] == [("AAA", 80), ("AA", 70), ("A", 60), ("N", 0)]


# --- farmer households -----------------------------------------------------------------------------


def test_a_strong_farmer_household_is_aaa_with_the_published_line_formula(bank, make_farmer):
    farmer = make_farmer()
    assessment = rate(bank.alice, farmer)
    # 8 (4 people) + 8 (3 labourers) + 12 (assets 1.5×) + 12 (net assets 1.6×) + 4 (shares 12,000)
    # + 13 (income 1.5×) + 30 (excellent) + 10 (on time) = 97
    assert assessment.model_score == 97 and assessment.model_grade == "AAA" and assessment.final_grade == "AAA"
    assert assessment.breakdown["total_assets"] == [45000000, 12, 15000, 30000000]
    assert assessment.breakdown["labourers"] == [3, 8]
    assert assessment.gates == [] and assessment.eligible
    line = credit_line_calculate(acting_user=bank.alice, assessment=assessment, requested_amount=Decimal("150000"))
    # 100,000 + 10% × 450,000 + 30% × 50,000 = 160,000, then the 150,000 requested.
    assert line.amount == Decimal("150000.00") and line.model_amount == Decimal("150000.00")
    assert steps(line)[:4] == [
        ("base", "AAA", Decimal("100000.00")),
        ("asset_share", "10% × 450,000.00", Decimal("45000.00")),
        ("business_income_share", "30% × 50,000.00", Decimal("15000.00")),
        ("formula", "100,000.00 + 45,000.00 + 15,000.00", Decimal("160000.00")),
    ]
    assert steps(line)[-2:] == [("requested", "min(160,000.00, 150,000.00)", Decimal("150000.00")),
                                ("line", "150,000.00", Decimal("150000.00"))]
    assert line.steps.first().label == "AAA级基础额度"
    assert (line.valid_until.year - line.valid_from.year, line.review_on.year - line.valid_from.year) == (3, 1)


def test_a_middling_farmer_household_is_aa_and_a_guarantee_takes_seventy_percent(bank, make_farmer):
    farmer = make_farmer(household_size=2, members=(True, False), total_assets=Decimal("240000"),
                         total_liabilities=Decimal("40000"), annual_income=Decimal("48000"),
                         inputs={**FARMER_INPUTS, "member_shares": "3000", "overall_judgement": "good",
                                 "repayment_record": "no_history", "business_income": "20000"})
    assessment = rate(bank.alice, farmer)
    # 7 + 3 + 9 (0.8×) + 9 (0.8×) + 2 + 10 (0.8×) + 25 + 8 = 73
    assert (assessment.model_score, assessment.model_grade) == (73, "AA")
    line = credit_line_calculate(acting_user=bank.alice, assessment=assessment, guarantees=[{"type": "guarantee"}])
    # 80,000 + 24,000 + 6,000 = 110,000; guaranteed: 70% → 77,000.
    assert line.amount == Decimal("77000.00")
    assert ("guarantee:guarantee", "70% × 110,000.00", Decimal("77000.00")) in steps(line)


def test_the_line_formula_is_capped_at_200000(bank, make_farmer):
    farmer = make_farmer(total_assets=Decimal("1500000"), total_liabilities=Decimal("0"),
                         inputs={**FARMER_INPUTS, "business_income": "300000"})
    line = credit_line_calculate(acting_user=bank.alice, assessment=rate(bank.alice, farmer))
    # 100,000 + 150,000 + 90,000 = 340,000 → 200,000
    assert ("formula_cap", "min(340,000.00, 200,000.00)", Decimal("200000.00")) in steps(line)
    assert line.amount == Decimal("200000.00")


def test_a_minor_overdue_in_the_credit_reference_caps_a_farmer_at_a(bank, make_farmer):
    farmer = make_farmer(inputs={**FARMER_INPUTS, "credit_reference": "minor"})
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    assert (assessment.model_score, assessment.model_grade) == (97, "A")
    assert assessment.gates == ["minor_credit_record"]


def test_a_farmer_with_a_bad_credit_record_is_not_a_credit_household_and_gets_no_line(bank, make_farmer):
    farmer = make_farmer(inputs={**FARMER_INPUTS, "credit_reference": "bad"})
    assessment = rate(bank.alice, farmer)
    assert (assessment.model_score, assessment.model_grade, assessment.eligible) == (97, "N", False)
    assert assessment.gates == ["no_bad_credit_record"]
    line = credit_line_calculate(acting_user=bank.alice, assessment=assessment)
    assert line.amount == Decimal("0.00") and steps(line)[0][0] == "no_line"


def test_a_head_of_household_over_65_is_not_eligible(bank, make_farmer):
    from datetime import date

    assessment = assessment_run(acting_user=bank.alice, customer=make_farmer(birth_date=date(1950, 1, 1)))
    assert (assessment.model_grade, assessment.eligible, assessment.gates) == ("N", False, ["age"])


def test_a_farmer_lacking_inputs_gets_a_list_of_what_to_collect_not_a_score(bank, make_farmer):
    farmer = make_farmer(members=(), inputs={"member_shares": "0"})
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    assert assessment.status == AssessmentStatus.INCOMPLETE
    assert assessment.model_score is None and assessment.model_grade == ""
    assert assessment.missing == ["labourers", "overall_judgement", "repayment_record", "registered_in_area",
                                  "full_civil_capacity", "lawful_business", "credit_reference"]


def test_without_local_averages_the_configuration_is_named_as_missing(bank, make_farmer):
    from guanxi.credit.models import LocalAverage

    farmer = make_farmer()
    LocalAverage.objects.all().delete()
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    assert assessment.missing == ["average:household_assets", "average:net_assets", "average:net_income"]


def test_a_branch_average_overrides_the_unions(bank, make_farmer):
    from guanxi.credit.models import LocalAverage

    LocalAverage.objects.create(org_unit=bank.b1, key="household_assets", amount=Decimal("900000"))
    assessment = assessment_run(acting_user=bank.alice, customer=make_farmer())
    assert assessment.breakdown["total_assets"] == [45000000, 5, 5000, 90000000]  # 0.5× → 5 points


# --- persons -------------------------------------------------------------------------------------------


def test_a_well_placed_person_scores_full_marks(bank, make_person):
    assessment = rate(bank.alice, make_person())
    assert (assessment.model_score, assessment.model_grade) == (100, "AAA")
    assert assessment.breakdown["debt_ratio"] == [2000, 10] and assessment.breakdown["product_count"] == [4, 7]


def test_a_person_at_eighty_points_is_aa_and_the_bonus_adds(bank, make_person):
    person = make_person(annual_income=Decimal("150000"), total_assets=Decimal("800000"),
                         total_liabilities=Decimal("300000"), deposit_balance=Decimal("100000"),
                         products="DEP;CARD;EBANK",
                         inputs={**PERSON_INPUTS, "occupation": "employee", "years_in_job": "1"})
    assessment = assessment_run(acting_user=bank.alice, customer=person)
    # 12 + 5 + 16 + 6 (net 500,000) + 7 (37.5%) + 5 + 6 + 5 + 15 = 77
    assert (assessment.model_score, assessment.model_grade) == (77, "A")
    from tests.credit.conftest import put_inputs

    put_inputs(person, {"payroll_with_us": "true"})
    assessment = rate(bank.alice, person)
    assert (assessment.model_score, assessment.model_grade) == (80, "AA")
    assert assessment.breakdown["payroll_with_us"] == [1, 3]
    line = credit_line_calculate(acting_user=bank.alice, assessment=assessment, requested_amount=Decimal("300000"))
    # AA: 4 × 150,000 = 600,000, then the 300,000 requested.
    assert ("formula", "4 × 150,000.00", Decimal("600000.00")) in steps(line)
    assert line.amount == Decimal("300000.00")


def test_a_penalty_takes_points(bank, make_person):
    person = make_person(inputs={**PERSON_INPUTS, "guarantee_default": "true"})
    assessment = assessment_run(acting_user=bank.alice, customer=person)
    assert (assessment.model_score, assessment.model_grade) == (90, "AAA")
    assert assessment.breakdown["guarantee_default"] == [1, -10]


def test_a_person_over_65_is_c_without_a_line(bank, make_person):
    from datetime import date

    assessment = rate(bank.alice, make_person(birth_date=date(1955, 1, 1)))
    assert (assessment.model_grade, assessment.eligible) == ("C", False)
    assert credit_line_calculate(acting_user=bank.alice, assessment=assessment).amount == Decimal("0.00")


# --- small enterprises ---------------------------------------------------------------------------------


def test_a_sound_company_is_aaa_with_the_lower_of_the_two_line_methods(bank, make_company):
    company = make_company(inputs={**COMPANY_INPUTS, "annual_cash_inflow": "5000000"})
    assessment = rate(bank.alice, company)
    assert (assessment.model_score, assessment.model_grade, assessment.gates) == (100, "AAA", [])
    line = credit_line_calculate(acting_user=bank.alice, assessment=assessment)
    # net assets: ((6,000,000 + 0 + 0) / 2 − 0) × 1 = 3,000,000; cash flow: (5,000,000 × 0.5 − 0 − 0) × 1
    assert [s[2] for s in steps(line)[:3]] == [Decimal("3000000.00"), Decimal("2500000.00"), Decimal("2500000.00")]
    assert line.amount == Decimal("2500000.00")


def test_a_negative_operating_cash_flow_caps_aaa_at_aa(bank, make_company):
    company = make_company(inputs={**COMPANY_INPUTS, "operating_cash_flow": "-100000"})
    assessment = assessment_run(acting_user=bank.alice, customer=company)
    assert (assessment.model_score, assessment.model_grade) == (100, "AA")
    assert assessment.gates == ["aaa_requirements"]


def test_interest_coverage_short_of_full_marks_caps_at_a(bank, make_company):
    company = make_company(inputs={**COMPANY_INPUTS, "interest_coverage": "4"})
    assessment = assessment_run(acting_user=bank.alice, customer=company)
    assert (assessment.model_score, assessment.model_grade) == (98, "A")
    assert assessment.gates == ["aaa_requirements", "aa_requirements"]


def test_an_insolvent_company_is_c(bank, make_company):
    company = make_company(total_liabilities=Decimal("12000000"))
    assessment = assessment_run(acting_user=bank.alice, customer=company)
    # debt ratio 120% scores 0: 100 − 15 = 85, but liabilities exceed assets.
    assert (assessment.model_score, assessment.model_grade) == (85, "C")
    assert assessment.gates == ["aaa_requirements", "aa_requirements", "micro_debt_ratio_aa", "micro_debt_ratio_a",
                                "insolvent"]


def test_a_restricted_industry_caps_at_b(bank, make_company):
    company = make_company(inputs={**COMPANY_INPUTS, "industry_policy": "restricted"})
    assert assessment_run(acting_user=bank.alice, customer=company).model_grade == "B"

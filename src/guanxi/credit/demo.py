"""Demo data of credit: local averages, rating inputs collected for most existing customers, one batch
assessment over the whole bank, a few credit lines in every approval state, the credit committee and
two rating campaigns (a concentrated one and a whole village).

Called by `guanxi.site.demo.load_demo` once the demo customers exist; set-based where it is bulk.
"""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone

from guanxi.core.models import OrgUnit, User
from guanxi.credit import approvals, campaigns, services
from guanxi.credit.facts import CATALOGUE
from guanxi.credit.models import AssessmentStatus, RatingAssessment, RatingInput
from guanxi.customers.models import Customer, CustomerStatus

AVERAGES = {"household_assets": Decimal("600000"), "net_assets": Decimal("450000"), "net_income": Decimal("80000")}
# Plausible answers per input, drawn at random (the first is the most common).
CHOICES = {
    "member_shares": ["5000", "12000", "0", "20000"], "overall_judgement": ["good", "excellent", "fair", "poor"],
    "repayment_record": ["on_time", "on_time", "no_history", "interest_arrears"],
    "credit_reference": ["clean", "clean", "clean", "minor", "bad"], "registered_in_area": ["true"],
    "full_civil_capacity": ["true"], "lawful_business": ["true", "true", "false"],
    "business_income": ["30000", "60000", "120000", "15000"],
    "occupation": ["employee", "self_employed", "civil_servant", "farmer", "other"],
    "years_in_job": ["2", "5", "8", "12"], "housing": ["owned", "mortgaged", "rented"],
    "payroll_with_us": ["false", "true"], "guarantee_default": ["false"],
    "management": ["good", "excellent", "fair"], "market_position": ["stable", "leading", "weak"],
    "compliance": ["clean", "clean", "minor"], "current_ratio": ["1.5", "2.1", "0.9"],
    "interest_coverage": ["3", "6", "1.2"], "sales_growth": ["8", "25", "-5"], "profit_margin": ["6", "16", "2"],
    "operating_cash_flow": ["800000", "200000", "-50000"], "industry_policy": ["permitted", "encouraged"],
    "taxes_on_time": ["true"], "loans_performing": ["true", "true", "false"],
    "annual_cash_inflow": ["3000000", "6000000", "900000"],
}
INPUTS_BY_TYPE = {key: CATALOGUE[key].types for key in CHOICES}


def _collect_inputs(rng: random.Random, collector: User | None) -> int:
    """Rating inputs for nine in ten existing customers (the rest show what is left to collect)."""
    now = timezone.now()
    rows = []
    for pk, customer_type in Customer.objects.filter(status=CustomerStatus.EXISTING).values_list("pk", "customer_type"):
        if rng.random() < 0.1:
            continue
        for key, choices in CHOICES.items():
            if customer_type in INPUTS_BY_TYPE[key]:
                text, number = CATALOGUE[key].parse(rng.choice(choices))
                rows.append(RatingInput(customer_id=pk, key=key, value=text, number=number, collected_by=collector,
                                        collected_at=now))
    RatingInput.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def _lines(manager: User, head: User, approver: User) -> int:
    """Lines of the manager's rated customers in every state: proposed, awaiting the outlet, awaiting the
    credit department, approved, rejected, sent back."""
    proposed = list(RatingAssessment.objects.filter(
        status=AssessmentStatus.PROPOSED, customer__assignments__owner=manager, customer__assignments__active=True,
        customer__customer_type__in=("farmer", "person")).exclude(model_grade__in=("N", "C")).select_related(
        "customer").order_by("customer_id")[:20])
    lines = []
    for assessment in proposed:
        if len(lines) == 8:
            break
        confirmed = services.assessment_confirm(acting_user=manager, assessment=assessment)
        try:
            lines.append(services.credit_line_calculate(acting_user=manager, assessment=confirmed))
        except ValidationError:  # a customer lacking an input of the line policy stays rated only
            continue
    plan = ["outlet", "department", "approve", "reject", "return", "proposed", "approve", "outlet"]
    for line, step in zip(lines, plan, strict=False):
        if step == "proposed":
            continue
        if step == "department":
            line.amount = Decimal("1500000")  # above the outlet's authority, secured or not
            line.save(update_fields=["amount"])
        approval = approvals.credit_line_submit(acting_user=manager, line=line, comment="集中评级授信")
        if step in ("approve", "reject", "return"):
            comment = {"approve": "同意", "reject": "家庭收入证明不足", "return": "请补充担保材料"}[step]
            if approval.level == "committee":
                vote = {"approve": "agree", "reject": "reject", "return": "reconsider"}[step]
                approvals.approval_vote(acting_user=approver, approval=approval, vote=vote, comment=comment)
            else:
                approvals.approval_decide(acting_user=head if approval.level == "outlet" else approver,
                                          approval=approval, decision=step, comment=comment)
    return len(lines)


def load_demo_credit() -> dict[str, int]:
    rng = random.Random(20261130)  # noqa: S311 — reproducible demo data, not secrets
    users = {u.username: u for u in User.objects.filter(username__in=("manager1", "head1", "approver", "agri_dept"))}
    hq = OrgUnit.objects.get(code="HQ")
    for key, amount in AVERAGES.items():
        services.local_average_set(acting_user=users["approver"], org_unit=hq, key=key, amount=amount)
    approvals.committee_save(acting_user=users["approver"], members=[users["approver"]], majority_numerator=2,
                             majority_denominator=3)
    inputs = _collect_inputs(rng, users["manager1"])
    result = services.assessments_run_batch(acting_user=None)
    lines = _lines(users["manager1"], users["head1"], users["approver"])
    today = timezone.localdate()
    units = {u.code: u for u in OrgUnit.objects.filter(code__in=("U01", "U02", "B0101"))}
    campaigns.campaign_create(acting_user=users["agri_dept"], name="秋季集中评级授信", starts_on=today - timedelta(days=10),
                              ends_on=today + timedelta(days=30), org_units=[units["U01"], units["U02"]])
    campaigns.campaign_create(acting_user=users["agri_dept"], name="城关镇红旗村整村授信",
                              starts_on=today - timedelta(days=10), ends_on=today + timedelta(days=30),
                              org_units=[units["B0101"]], customer_type="farmer", include_existing=False,
                              include_applicants=False, village="城关镇红旗村")
    return {"rating_inputs": inputs, "assessed": result.assessed, "lines": lines}

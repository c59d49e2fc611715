"""The demo bank's credit data: rated by one batch, lines in every approval state, two campaigns."""

import pytest

from guanxi.credit.models import Approval, CreditLine, Notification, RatingCampaign, RatingRun
from guanxi.site.demo import load_demo

pytestmark = pytest.mark.django_db


def test_the_demo_bank_is_rated_and_has_lines_in_every_state():
    load_demo(customers=300)
    run = RatingRun.objects.get()
    assert run.state == "done" and run.assessed > 150 and run.by_grade
    statuses = set(CreditLine.objects.values_list("status", flat=True))
    assert {"proposed", "pending", "approved", "rejected"} <= statuses
    assert {"pending", "approved", "rejected", "returned"} <= set(Approval.objects.values_list("status", flat=True))
    assert {"outlet", "department"} <= set(Approval.objects.filter(status="pending").values_list("level", flat=True))
    assert Notification.objects.filter(recipient__username="manager1").exists()
    assert set(RatingCampaign.objects.values_list("name", flat=True)) == {"秋季集中评级授信", "城关镇红旗村整村授信"}

"""Background jobs of credit rating (run by the task queue's workers)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from guanxi.core.models import OrgUnit, User


@db_task()
def rating_batch_job(user_id: int | None, org_unit_id: int | None = None, customer_type: str | None = None,
                     campaign_id: int | None = None) -> int:
    """Assess the population of the user's scope, or of a rating campaign within it (see
    `services.assessments_run_batch`); returns how many."""
    from guanxi.credit.models import RatingCampaign
    from guanxi.credit.services import assessments_run_batch

    user = User.objects.select_related("org_unit").filter(pk=user_id).first() if user_id else None
    org_unit = OrgUnit.objects.filter(pk=org_unit_id).first() if org_unit_id else None
    campaign = RatingCampaign.objects.filter(pk=campaign_id).first() if campaign_id else None
    return assessments_run_batch(acting_user=user, org_unit=org_unit, customer_type=customer_type or None,
                                 campaign=campaign).assessed

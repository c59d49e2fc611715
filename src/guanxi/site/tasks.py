"""The nightly jobs, scheduled on the one task queue (`settings.JOB_SCHEDULES`, UTC) and recorded as JobRuns.

`guanxi serve` runs them in its embedded worker; `guanxi worker` runs them alone (with Redis, on
as many machines as needed: huey enqueues each periodic task once, whichever worker's scheduler runs).
"""

from __future__ import annotations

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from guanxi.site.jobs import JobResult, recorded_job

JOBS = dict(settings.JOB_SCHEDULES)


def schedule(job: str) -> crontab:
    minute, hour, day, month, day_of_week = settings.JOB_SCHEDULES[job].split()
    return crontab(minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week)


@db_periodic_task(schedule("care_plans_run"), name="care_plans_run")
@recorded_job("care_plans_run")
def care_plans_nightly() -> JobResult:
    """Birthday, holiday and custom greetings of the day, queued and sent."""
    from guanxi.engagement.services.care import care_plans_run

    outcome = care_plans_run()
    return JobResult(items=outcome.sending.sent, failures=outcome.sending.failed,
                     error="\n".join(outcome.sending.errors))


@db_periodic_task(schedule("followups_generate"), name="followups_generate")
@recorded_job("followups_generate")
def followups_nightly() -> JobResult:
    """Visit tasks coming due for every owner."""
    from guanxi.engagement.services.followups import followups_generate

    return JobResult(items=followups_generate().created)


@db_periodic_task(schedule("segments_recompute"), name="segments_recompute")
@recorded_job("segments_recompute")
def segments_nightly() -> JobResult:
    """Tiers, sub-markets and product flags: catch every change not made through the balance feed."""
    from guanxi.segmentation.services import segments_recompute

    return JobResult(items=segments_recompute(acting_user=None).total_moved)

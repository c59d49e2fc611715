"""The operator's page of background jobs: recent runs of each periodic job."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import render

from guanxi.core.roles import Role
from guanxi.site.models import JobRun

RUNS_PER_JOB = 10
# The system administrator runs the jobs; the auditor reads their record.
JOB_READER_ROLES = frozenset({Role.SYSADMIN, Role.AUDITOR})


@login_required
def job_runs(request):
    """The last runs of every job, newest first, with duration, items and failures (read-only)."""
    if not request.user.is_active or request.user.role not in JOB_READER_ROLES:
        raise PermissionDenied
    from guanxi.site import tasks

    names = sorted(set(JobRun.objects.order_by().values_list("name", flat=True).distinct()) | set(tasks.JOBS))
    jobs = [(name, list(JobRun.objects.filter(name=name).order_by("-started_at", "-id")[:RUNS_PER_JOB]))
            for name in names]
    return render(request, "site/jobs.html", {"jobs": jobs, "schedules": tasks.JOBS})

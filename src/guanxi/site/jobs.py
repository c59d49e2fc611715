"""`recorded_job`: run a periodic job and record it as a `JobRun` (when, how long, items, failures).

The job returns a `JobResult` (or an int: items processed); an exception marks the run failed with
its traceback and is raised again so that the task queue logs it too.
"""

from __future__ import annotations

import functools
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from guanxi.site.models import JobRun

log = logging.getLogger(__name__)


@dataclass
class JobResult:
    items: int = 0
    failures: int = 0
    error: str = ""


def recorded_job(name: str) -> Callable[[Callable[[], JobResult | int]], Callable[[], JobResult]]:
    def decorate(job: Callable[[], JobResult | int]) -> Callable[[], JobResult]:
        @functools.wraps(job)
        def run() -> JobResult:
            record = JobRun.objects.create(name=name, started_at=timezone.now())
            started = time.monotonic()
            try:
                result = job()
            except Exception:
                JobRun.objects.filter(pk=record.pk).update(
                    state=JobRun.State.FAILED, finished_at=timezone.now(), seconds=time.monotonic() - started,
                    error=traceback.format_exc()[-4000:])
                log.exception("job %s failed", name)
                raise
            if not isinstance(result, JobResult):
                result = JobResult(items=int(result or 0))
            JobRun.objects.filter(pk=record.pk).update(
                state=JobRun.State.DONE, finished_at=timezone.now(), seconds=time.monotonic() - started,
                items=result.items, failures=result.failures, error=result.error[:4000])
            return result

        return run

    return decorate

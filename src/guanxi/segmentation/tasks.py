"""Background jobs of segmentation (run by the task queue's workers)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task


@db_periodic_task(crontab(hour="18", minute="30"))  # 02:30 Asia/Shanghai (the schedule is UTC)
def segments_nightly_recompute() -> int:
    """Catch every change not made through the balance feed (edits, registration updates); returns moves."""
    from guanxi.segmentation.services import segments_recompute

    return segments_recompute(acting_user=None).total_moved

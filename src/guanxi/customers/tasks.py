"""Background jobs of the customers app (run by the task queue's workers)."""

from __future__ import annotations

from pathlib import Path

from huey.contrib.djhuey import db_task

from guanxi.core.models import User
from guanxi.customers.importing.customers import customers_import
from guanxi.customers.models import ImportRun


@db_task()
def customer_import_job(run_id: int, path: str, user_id: int | None, dry_run: bool = False) -> int:
    """Import an uploaded registration file, following the given ImportRun; returns rows taken."""
    run = ImportRun.objects.get(pk=run_id)
    user = User.objects.filter(pk=user_id).first() if user_id else None
    upload = Path(path)
    outcome = customers_import(acting_user=user, path=upload, dry_run=dry_run, run=run,
                               errors_path=upload.with_name(f"{upload.stem}.errors{upload.suffix.lower()}"))
    return outcome.taken

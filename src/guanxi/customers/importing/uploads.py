"""Imports started from the upload page or the API: store the file, queue the job, follow it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import User
from guanxi.core.roles import Role
from guanxi.customers.models import ImportRun

ALLOWED_SUFFIXES = (".csv", ".xlsx")


def _safe_name(name: str) -> str:
    stem = Path(name).name
    return re.sub(r"[^\w.\-\u3400-\u9fff]+", "_", stem)[:120] or "upload.csv"


def import_upload_start(*, acting_user: User, uploaded_file, dry_run: bool = False) -> ImportRun:
    """Keep the uploaded file in the data directory, record the run and queue the import job."""
    from guanxi.customers.tasks import customer_import_job

    if not acting_user.can_write_customers:
        raise PermissionDenied(_("your role may not import customers"))
    name = _safe_name(uploaded_file.name or "")
    if not name.lower().endswith(ALLOWED_SUFFIXES):
        raise ValidationError({"file": _("only .csv and .xlsx files can be imported")})
    folder = Path(settings.UPLOAD_DIR) / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    with path.open("wb") as handle:
        for chunk in uploaded_file.chunks():
            handle.write(chunk)
    with transaction.atomic():
        run = ImportRun.objects.create(kind=ImportRun.Kind.CUSTOMERS, file_name=name, started_by=acting_user,
                                       state=ImportRun.State.QUEUED, dry_run=dry_run,
                                       bytes_total=path.stat().st_size)
        audit.record(actor=acting_user, action="customer.import_upload", obj=run,
                     changes={"file": name, "bytes": run.bytes_total, "dry_run": dry_run})
    # Queued after the commit, so the worker always finds the run.
    customer_import_job(run.pk, str(path), acting_user.pk, dry_run)
    return run


def import_run_get(*, user: User, pk: int) -> ImportRun:
    """A run its starter may follow; heads and line departments see their staff's runs too."""
    run = ImportRun.objects.select_related("started_by").filter(pk=pk).first()
    if run is None:
        raise Http404
    if run.started_by_id == user.pk:
        return run
    starter = run.started_by
    if user.role == Role.AUDITOR:
        return run
    if (user.role == Role.BRANCH_HEAD and starter is not None and starter.org_unit_id and user.org_unit_id
            and starter.org_unit.path.startswith(user.org_unit.path)):
        return run
    raise Http404


def import_error_report(run: ImportRun) -> Path:
    path = Path(run.error_report) if run.error_report else None
    if path is None or not path.is_file() or Path(settings.UPLOAD_DIR) not in path.parents:
        raise Http404
    return path

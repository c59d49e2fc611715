"""Customer API: list with filters and search, detail, create, update, reveal, export."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.shortcuts import get_object_or_404
from ninja import File, Form, Router, Schema, Status, UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from guanxi.customers import exports, selectors, services
from guanxi.customers.importing.uploads import import_error_report, import_run_get, import_upload_start
from guanxi.customers.models import Customer

router = Router(tags=["customers"])


class MemberOut(Schema):
    name: str
    relation: str
    id_number: str
    phone: str
    is_labourer: bool

    @staticmethod
    def resolve_id_number(obj) -> str:
        return obj.masked_id_number

    @staticmethod
    def resolve_phone(obj) -> str:
        return obj.masked_phone


class CustomerSummaryOut(Schema):
    """The identifying fields of a customer: ID number and phone always masked (reveal is explicit)."""

    id: int
    customer_no: str
    customer_type: str
    name: str
    id_number: str
    phone: str
    org_code: str
    owner: str | None

    @staticmethod
    def resolve_id_number(obj: Customer) -> str:
        return obj.masked_id_number

    @staticmethod
    def resolve_phone(obj: Customer) -> str:
        return obj.masked_phone

    @staticmethod
    def resolve_org_code(obj: Customer) -> str:
        return obj.org_unit.code

    @staticmethod
    def resolve_owner(obj: Customer) -> str | None:
        owner = selectors.customer_owner(obj)
        return owner.username if owner else None


class CustomerOut(CustomerSummaryOut):
    """A customer as the API shows it."""

    email: str
    status: str
    address: str
    industry: str
    market: str
    birth_date: date | None
    age: int | None
    gender: str
    annual_income: Decimal | None
    total_assets: Decimal | None
    total_liabilities: Decimal | None
    household_size: int | None
    guarantee_type: str
    notes: str
    deposit_balance: Decimal
    loan_balance: Decimal
    created_at: datetime
    updated_at: datetime


class CustomerDetailOut(CustomerOut):
    members: list[MemberOut]

    @staticmethod
    def resolve_members(obj: Customer) -> list:
        return list(obj.members.all())


class CustomerIn(Schema):
    """Fields as in DESIGN.md; on update send only what changes."""

    customer_type: str | None = None
    name: str | None = None
    id_number: str | None = None
    phone: str | None = None
    email: str | None = None
    org_code: str | None = None
    status: str | None = None
    address: str | None = None
    industry: str | None = None
    annual_income: str | Decimal | None = None
    total_assets: str | Decimal | None = None
    total_liabilities: str | Decimal | None = None
    household_size: int | str | None = None
    guarantee_type: str | None = None
    notes: str | None = None
    deposit_balance: str | Decimal | None = None
    loan_balance: str | Decimal | None = None


class RevealOut(Schema):
    field: str
    value: str


@router.get("", response=list[CustomerOut])
@paginate(LimitOffsetPagination)
def customer_list(
    request, q: str = "", customer_type: str = "", status: str = "", org_code: str = "", market: str = "",
    owner: str = "",
):
    """Customers in the caller's data scope; `q` searches name, customer number, ID number, phone."""
    customers = selectors.customer_list(
        user=request.user, search=q, customer_type=customer_type, status=status, org_code=org_code,
        market=market, owner=owner,
    )
    return customers


@router.get("/{int:customer_id}", response=CustomerDetailOut)
def customer_detail(request, customer_id: int):
    return selectors.customer_get(user=request.user, pk=customer_id)


@router.post("", response={201: CustomerDetailOut})
def customer_create(request, payload: CustomerIn):
    data = payload.dict(exclude_unset=True)
    customer = services.customer_create(acting_user=request.user, data=data)
    return Status(201, selectors.customer_get(user=request.user, pk=customer.pk))


@router.patch("/{int:customer_id}", response=CustomerDetailOut)
def customer_update(request, customer_id: int, payload: CustomerIn):
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    services.customer_update(acting_user=request.user, customer=customer, data=payload.dict(exclude_unset=True))
    return selectors.customer_get(user=request.user, pk=customer_id)


@router.post("/{int:customer_id}/reveal", response=RevealOut)
def customer_reveal(request, customer_id: int, field: str):
    """Full ID number or phone; allowed roles only, and every call is audit-logged."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    value = services.customer_reveal(acting_user=request.user, customer=customer, field=field)
    return {"field": field, "value": value}


class MemberIn(Schema):
    name: str
    relation: str
    id_number: str = ""
    phone: str = ""
    is_labourer: bool = True
    occupation: str = ""


@router.post("/{int:customer_id}/members", response={201: MemberOut})
def member_add(request, customer_id: int, payload: MemberIn):
    """Add a member to a farmer household in the caller's scope."""
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    member = services.household_member_add(acting_user=request.user, customer=customer, **payload.dict())
    return Status(201, member)


@router.get("/export", openapi_extra={"responses": {200: {
    "description": "The file (Content-Disposition: attachment)",
    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
                    {"schema": {"type": "string", "format": "binary"}}},
}}})
def customer_export(
    request, format: str = "csv", q: str = "", customer_type: str = "", status: str = "", org_code: str = "",
    market: str = "", owner: str = "", unmasked: bool = False, english: bool = False,
):
    """The customers of the list's filters as a CSV (UTF-8 with BOM) or XLSX file; audit-logged.

    ID numbers and phones are masked unless `unmasked=true` from a role that may reveal them (else 403);
    `english=true` gives the English headers and codes the importer reads.
    """
    filters = {"search": q, "customer_type": customer_type, "status": status, "org_code": org_code,
               "market": market, "owner": owner}
    return exports.export_response(acting_user=request.user, filters=filters, fmt=format, unmasked=unmasked,
                                   english=english)


class ImportRunOut(Schema):
    id: int
    file_name: str
    state: str
    dry_run: bool
    percent: int
    rows_read: int
    rows_created: int
    rows_updated: int
    rows_unchanged: int
    rows_rejected: int
    message: str
    has_error_report: bool

    @staticmethod
    def resolve_has_error_report(obj) -> bool:
        return bool(obj.error_report)


@router.post("/imports", response={202: ImportRunOut})
def customer_import_start(request, file: UploadedFile = File(...), dry_run: bool = Form(False)):  # noqa: B008
    """Upload a registration file (CSV/XLSX); the import runs in the background. Follow it with GET /imports/{id}."""
    run = import_upload_start(acting_user=request.user, uploaded_file=file, dry_run=dry_run)
    return Status(202, import_run_get(user=request.user, pk=run.pk))


@router.get("/imports/{int:run_id}", response=ImportRunOut)
def customer_import_status(request, run_id: int):
    return import_run_get(user=request.user, pk=run_id)


@router.get("/imports/{int:run_id}/errors")
def customer_import_errors(request, run_id: int):
    """The refused rows in the file's own columns plus the reason (CSV or XLSX like the upload)."""
    from django.http import FileResponse

    path = import_error_report(import_run_get(user=request.user, pk=run_id))
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


# --- suspected duplicates and merges (customers.duplicates) ---

from guanxi.customers import duplicates  # noqa: E402  (this section was appended to the module)


def _row_counts(entries: list) -> dict[str, int]:
    """{model label: rows} of a merge's list of [model label, field, pk]."""
    counts: dict[str, int] = {}
    for label, *_rest in entries:
        counts[label] = counts.get(label, 0) + 1
    return counts


class DuplicateCustomerOut(CustomerSummaryOut):
    pass


class DuplicateGroupOut(Schema):
    reason: str
    reason_label: str
    size: int
    customers: list[DuplicateCustomerOut]


class DuplicatePageOut(Schema):
    """One page of groups; there is no total (counting every group would scan the whole scope)."""

    items: list[DuplicateGroupOut]
    limit: int
    offset: int
    next_offset: int | None


class MergeIn(Schema):
    absorb_id: int
    reason: str = ""


class MergeOut(Schema):
    id: int
    keep_id: int
    keep_customer_no: str
    absorbed_id: int
    absorbed_customer_no: str
    merged_by: str
    reason: str
    created_at: datetime
    moved: dict[str, int]
    left_with_absorbed: dict[str, int]
    filled: list[str]
    reverted_at: datetime | None
    reverted_by: str | None

    @staticmethod
    def resolve_keep_customer_no(obj) -> str:
        return obj.keep.customer_no

    @staticmethod
    def resolve_absorbed_customer_no(obj) -> str:
        return obj.absorbed.customer_no

    @staticmethod
    def resolve_merged_by(obj) -> str:
        return obj.merged_by.username

    @staticmethod
    def resolve_moved(obj) -> dict[str, int]:
        return _row_counts(obj.moved)

    @staticmethod
    def resolve_left_with_absorbed(obj) -> dict[str, int]:
        return _row_counts(obj.left_with_absorbed)

    @staticmethod
    def resolve_filled(obj) -> list[str]:
        return list(obj.filled)

    @staticmethod
    def resolve_reverted_by(obj) -> str | None:
        return obj.reverted_by.username if obj.reverted_by else None


@router.get("/duplicates", response=DuplicatePageOut)
def customer_duplicates(request, reason: str = "", limit: int = 25, offset: int = 0):
    """Suspected duplicate groups in the caller's scope (`reason`: same_name_phone, same_phone, same_person_id_body).

    Paged by `limit`/`offset` without a total; `next_offset` is null on the last page.
    """
    limit, offset = max(1, min(limit, duplicates.MAX_PAGE_SIZE)), max(0, offset)
    groups, has_next = duplicates.duplicate_groups(user=request.user, reason=reason, offset=offset, limit=limit)
    return {"items": groups, "limit": limit, "offset": offset, "next_offset": offset + limit if has_next else None}


@router.post("/{int:customer_id}/merge", response={201: MergeOut})
def customer_merge(request, customer_id: int, payload: MergeIn):
    """Merge customer `absorb_id` into this one (both in the caller's scope); audited and reversible."""
    keep = selectors.customer_get(user=request.user, pk=customer_id)
    absorb = selectors.customer_get(user=request.user, pk=payload.absorb_id)
    merge = duplicates.customer_merge(acting_user=request.user, keep=keep, absorb=absorb, reason=payload.reason)
    return Status(201, merge)


@router.get("/merges", response=list[MergeOut])
@paginate(LimitOffsetPagination)
def customer_merge_list(request):
    """Merges whose kept customer is in the caller's scope, newest first."""
    return duplicates.merge_list(user=request.user)


@router.get("/merges/{int:merge_id}", response=MergeOut)
def customer_merge_detail(request, merge_id: int):
    return duplicates.merge_get(user=request.user, pk=merge_id)


@router.post("/merges/{int:merge_id}/revert", response=MergeOut)
def customer_merge_revert(request, merge_id: int):
    """Undo a merge; a second revert is refused (422)."""
    merge = duplicates.merge_get(user=request.user, pk=merge_id)
    return duplicates.customer_merge_revert(acting_user=request.user, merge=merge)

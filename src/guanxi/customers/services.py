"""Business operations on customers. The only writers of customer data.

Each operation takes the acting user, runs in one transaction, writes its audit entry in
that transaction, and checks afterwards that the result is still inside the user's scope
(write, then verify), rolling back otherwise.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import User
from guanxi.core.services import sequence_take
from guanxi.core.validators import normalize_text, validate_mobile, validate_resident_id
from guanxi.customers.models import MARKET_BY_TYPE, Customer, CustomerType, HouseholdMember, HouseholdRelation
from guanxi.customers.search import derived_fields, write_tokens
from guanxi.customers.signals import customer_registered
from guanxi.customers.validation import FIELDS, clean_customer_input

AUDITED_FIELDS = [f for f in FIELDS if f != "org_code"] + ["org_unit"]


CUSTOMER_NUMBER_FORMAT = "KH%010d"  # KH and ten digits of the `customer_no` sequence


def customer_number(sequence_value: int) -> str:
    return CUSTOMER_NUMBER_FORMAT % sequence_value


def _snapshot(customer: Customer) -> dict[str, Any]:
    values = {field: getattr(customer, field) for field in AUDITED_FIELDS if field != "org_unit"}
    values["org_unit"] = customer.org_unit.code if customer.org_unit_id else None
    return values


def _require_writer(user: User) -> None:
    if not user.can_write_customers:
        raise PermissionDenied(_("your role may not change customer data"))


def _verify_visible(customer: Customer, user: User) -> None:
    if not Customer.objects.visible_to(user).filter(pk=customer.pk).exists():
        raise PermissionDenied(_("the change would take the customer outside your data scope"))


def _duplicate_error(id_number: str) -> ValidationError:
    return ValidationError({"id_number": _("a customer with this ID number is already registered")})


def customer_create(*, acting_user: User, data: dict[str, Any]) -> Customer:
    """Register a customer; a manager or teller who registers one becomes its owner.

    Raises ValidationError (field → reason) for bad input and PermissionDenied when the
    user may not write customers or the customer would fall outside their scope.
    """
    _require_writer(acting_user)
    cleaned = clean_customer_input(data)
    if Customer.objects.filter(id_number=cleaned["id_number"]).exists():
        raise _duplicate_error(cleaned["id_number"])
    try:
        with transaction.atomic():
            customer = Customer(**cleaned)
            customer.market = MARKET_BY_TYPE[customer.customer_type]
            customer.customer_no = customer_number(sequence_take(name="customer_no")[0])
            customer.created_by = acting_user
            customer.save()
            write_tokens([(customer.pk, customer.name)], replace=False)
            customer_registered.send(sender=Customer, customer=customer, acting_user=acting_user)
            audit.record(actor=acting_user, action="customer.create", obj=customer,
                         changes=audit.diff({}, _snapshot(customer)))
            _verify_visible(customer, acting_user)
    except IntegrityError:
        raise _duplicate_error(cleaned["id_number"]) from None
    return customer


def customer_update(*, acting_user: User, customer: Customer, data: dict[str, Any]) -> Customer:
    """Change the given fields of a customer; the audit entry lists old → new (masked)."""
    _require_writer(acting_user)
    before = _snapshot(customer)
    current = {"customer_type": customer.customer_type, "id_number": customer.id_number}
    cleaned = clean_customer_input(data, current=current)
    new_id = cleaned.get("id_number")
    if new_id and new_id != customer.id_number and Customer.objects.filter(id_number=new_id).exists():
        raise _duplicate_error(new_id)
    try:
        with transaction.atomic():
            for field, value in cleaned.items():
                setattr(customer, field, value)
            if "customer_type" in cleaned:
                customer.market = MARKET_BY_TYPE[customer.customer_type]
                for field, value in derived_fields(name=customer.name, customer_type=customer.customer_type).items():
                    setattr(customer, field, value)
            changes = audit.diff(before, _snapshot(customer))
            if not changes:
                return customer
            customer.updated_at = timezone.now()
            customer.save()
            if "name" in changes:
                write_tokens([(customer.pk, customer.name)], replace=True)
            audit.record(actor=acting_user, action="customer.update", obj=customer, changes=changes)
            _verify_visible(customer, acting_user)
    except IntegrityError:
        raise _duplicate_error(new_id or customer.id_number) from None
    return customer


def customer_reveal(*, acting_user: User, customer: Customer, field: str) -> str:
    """Return the full ID number or phone of a customer in scope, and log the reveal."""
    if field not in ("id_number", "phone"):
        raise ValidationError({"field": _("only id_number and phone can be revealed")})
    if not acting_user.can_reveal:
        raise PermissionDenied(_("your role may not see full ID numbers and phones"))
    _verify_visible(customer, acting_user)
    with transaction.atomic():
        audit.record(actor=acting_user, action=f"customer.reveal.{field}", obj=customer,
                     changes={"field": field})
    return getattr(customer, field)


def household_member_add(
    *, acting_user: User, customer: Customer, name: str, relation: str, id_number: str = "", phone: str = "",
    is_labourer: bool = True, occupation: str = "",
) -> HouseholdMember:
    """Add a member to a farmer household."""
    _require_writer(acting_user)
    _verify_visible(customer, acting_user)
    errors: dict[str, list[str]] = {}
    if customer.customer_type != CustomerType.FARMER:
        raise ValidationError({"customer": _("only a farmer household has members")})
    name = normalize_text(name)
    if not name:
        errors["name"] = [_("this field is required")]
    if relation not in HouseholdRelation.values:
        errors["relation"] = [_("%(value)s is not a known relation") % {"value": relation}]
    try:
        id_number = validate_resident_id(id_number).number if normalize_text(id_number) else ""
    except ValidationError as exc:
        errors["id_number"] = exc.messages
    try:
        phone = validate_mobile(phone) if normalize_text(phone) else ""
    except ValidationError as exc:
        errors["phone"] = exc.messages
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        member = HouseholdMember.objects.create(
            customer=customer, name=name, relation=relation, id_number=id_number, phone=phone,
            is_labourer=is_labourer, occupation=normalize_text(occupation),
        )
        audit.record(actor=acting_user, action="customer.member_add", obj=customer,
                     changes=audit.diff({}, {"member": name, "relation": relation, "id_number": id_number}))
    return member

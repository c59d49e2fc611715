"""Rating campaigns (集中评级授信 / 整村授信): the campaign, its target population and who asked for credit.

The only writers of `RatingCampaign` and `CampaignApplicant`; each operation takes the acting user,
runs in one transaction and writes its audit entry there. Progress and coverage are read in
`credit.selectors`; the batch assessment of a campaign is `services.assessments_run_batch(campaign=…)`.

Who does what: line departments and credit approvers create campaigns bank-wide, branch heads for
units of their own subtree; assessors (managers, branch heads) register prospects who asked for credit
among the customers they may see.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import Role
from guanxi.credit.models import CampaignApplicant, RatingCampaign
from guanxi.credit.services import _require_assessor
from guanxi.customers.models import Customer, CustomerStatus, CustomerType

BANK_WIDE_ROLES = frozenset({Role.LINE_DEPT, Role.CREDIT_APPROVER})


def can_organise(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active
                and (user.role in BANK_WIDE_ROLES or (user.role == Role.BRANCH_HEAD and user.org_unit_id)))


def campaign_population(campaign: RatingCampaign, *, user: User | None = None) -> QuerySet[Customer]:
    """The campaign's target population, within `user`'s scope (None: the whole bank): customers of the
    units taking part (with their subtrees), of its customer type, who are existing customers, or
    prospects registered as applicants, or live in its village — whichever the campaign includes."""
    customers = (Customer.objects.visible_to(user) if user is not None
                 else Customer.objects.filter(merged_into__isnull=True))
    units = Q(pk__in=[])
    for unit in campaign.org_units.all():
        units |= Q(org_unit__path__startswith=unit.path)
    who = Q(pk__in=[])
    if campaign.include_existing:
        who |= Q(status=CustomerStatus.EXISTING)
    if campaign.include_applicants:
        who |= Q(pk__in=CampaignApplicant.objects.filter(campaign=campaign).values("customer_id"))
    if campaign.village:
        who |= Q(address__contains=campaign.village)
    customers = customers.filter(units).filter(who)
    if campaign.customer_type:
        customers = customers.filter(customer_type=campaign.customer_type)
    return customers


def campaign_create(*, acting_user: User, name: str, starts_on: date, ends_on: date, org_units: list[OrgUnit],
                    customer_type: str = "", include_existing: bool = True, include_applicants: bool = True,
                    village: str = "", credit_village_share: int = 70) -> RatingCampaign:
    """Start a rating campaign. Line departments and credit approvers anywhere, branch heads for units
    within their subtree. Needs a name, a period, at least one unit and a population. Audited."""
    if not can_organise(acting_user):
        raise PermissionDenied(_("Only line departments, credit approvers and branch heads organise rating campaigns."))
    name, village = (name or "").strip()[:100], (village or "").strip()[:100]
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Name the campaign.")]
    if starts_on is None or ends_on is None or ends_on < starts_on:
        errors["ends_on"] = [_("The campaign ends on or after the day it starts.")]
    if not org_units:
        errors["org_units"] = [_("Choose the org units taking part.")]
    elif acting_user.role == Role.BRANCH_HEAD and any(not u.is_within(acting_user.org_unit) for u in org_units):
        errors["org_units"] = [_("This org unit is outside your scope.")]
    if customer_type and customer_type not in CustomerType.values:
        errors["customer_type"] = [_("Unknown customer type.")]
    if not (include_existing or include_applicants or village):
        errors["village"] = [_("Choose the target population: existing customers, applicants or a village.")]
    if not (0 < int(credit_village_share) <= 100):
        errors["credit_village_share"] = [_("A share between 1 and 100 per cent.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        campaign = RatingCampaign.objects.create(
            name=name, starts_on=starts_on, ends_on=ends_on, customer_type=customer_type or "",
            include_existing=include_existing, include_applicants=include_applicants, village=village,
            credit_village_share=int(credit_village_share), created_by=acting_user)
        campaign.org_units.set(org_units)
        audit.record(actor=acting_user, action="campaign.create", obj=campaign,
                     changes={"name": name, "period": [starts_on.isoformat(), ends_on.isoformat()],
                              "org_units": sorted(u.code for u in org_units), "customer_type": customer_type,
                              "existing": include_existing, "applicants": include_applicants, "village": village})
    return campaign


def campaign_applicant_add(*, acting_user: User, campaign: RatingCampaign, customer: Customer) -> CampaignApplicant:
    """Register a prospect (or any customer) of a participating unit who asked for credit during the
    campaign. Assessors within their scope; registering twice changes nothing. Audited."""
    _require_assessor(acting_user, customer)
    if not any(customer.org_unit.is_within(unit) for unit in campaign.org_units.all()):
        raise ValidationError({"customer": [_("This customer's org unit does not take part in the campaign.")]})
    if campaign.customer_type and customer.customer_type != campaign.customer_type:
        raise ValidationError({"customer": [_("The campaign rates %(type)s customers only.")
                                            % {"type": CustomerType(campaign.customer_type).label}]})
    with transaction.atomic():
        applicant, created = CampaignApplicant.objects.get_or_create(
            campaign=campaign, customer=customer, defaults={"registered_by": acting_user})
        if created:
            audit.record(actor=acting_user, action="campaign.applicant_add", obj=campaign, object_repr=str(customer),
                         changes={"customer": customer.customer_no})
    return applicant

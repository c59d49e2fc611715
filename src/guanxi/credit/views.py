"""Credit pages: a customer's rating (inputs, assessment, confirmation, line), approvals, scorecards,
local averages. Customers are fetched through the user's scope (404 otherwise)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.models import OrgUnit
from guanxi.core.paging import page_of
from guanxi.core.roles import Role
from guanxi.credit import approvals as line_approvals
from guanxi.credit import campaigns, exports, printing, selectors, services
from guanxi.credit.facts import AverageKey
from guanxi.credit.forms import (
    ApplicantForm,
    ApprovalDecisionForm,
    AuthorityRuleForm,
    CampaignForm,
    CommitteeForm,
    ConfirmForm,
    DecisionForm,
    LineForm,
    LocalAverageForm,
    PublishForm,
    RatingInputsForm,
    ScorecardJsonForm,
    ScorecardValuesForm,
    SubmitForm,
    VoteForm,
)
from guanxi.credit.models import (
    ApprovalLevel,
    AssessmentStatus,
    AuthorityRule,
    CampaignApplicant,
    CreditCommittee,
    GradeOverride,
    RatingCampaign,
    RatingRun,
    Scorecard,
    ScorecardStatus,
)
from guanxi.customers.models import Customer, CustomerType


def _errors_into(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            for error in errors:
                form.add_error(name if name in form.fields else None, error)
    else:
        for error in exc.messages:
            form.add_error(None, error)


def _flash_form_errors(request, form) -> None:
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, error)


def _flash(request, exc: ValidationError | PermissionDenied) -> None:
    for message in getattr(exc, "messages", None) or [str(exc) or _("Not allowed.")]:
        messages.error(request, message)


# --- assessments ---------------------------------------------------------------------------------


@login_required
def assessment_list(request):
    """Assessments within the user's scope, by status, grade and customer type; no COUNT."""
    filters = {
        "status": request.GET.get("status", "") if request.GET.get("status", "") in AssessmentStatus.values else "",
        "customer_type": request.GET.get("customer_type", "") if request.GET.get("customer_type", "") in
        CustomerType.values else "",
        "grade": request.GET.get("grade", "").strip().upper()[:4],
    }
    assessments = selectors.assessment_list(user=request.user, **filters)
    return render(request, "credit/assessments.html", {
        "page": page_of(assessments, request.GET.get("page")), "filters": filters,
        "statuses": AssessmentStatus.choices, "types": CustomerType.choices, "query": request.GET.copy(),
        "pending": selectors.pending_overrides(user=request.user).count() if services.AUTHORITY.get(
            request.user.role, 0) >= 1 else 0,
        "can_assess": services.can_assess(request.user),
        "runs": RatingRun.objects.filter(started_by=request.user).select_related("org_unit")[:5],
    })


@login_required
@require_POST
def rate_population(request):
    """Assess every existing customer of the user's scope (of one type) in the background."""
    if not services.can_assess(request.user):
        raise PermissionDenied
    customer_type = request.POST.get("customer_type", "")
    if customer_type not in CustomerType.values:
        customer_type = ""
    from guanxi.credit.tasks import rating_batch_job

    rating_batch_job(request.user.pk, None, customer_type or None)
    messages.success(request, _("The batch rating of your customers has started; its result appears below."))
    return redirect("credit:assessments")


def _rating_context(request, customer, assessment) -> dict:
    context: dict = {"customer": customer, "assessment": assessment, "can_assess": services.can_assess(request.user)}
    if assessment is not None:
        context.update(_assessment_context(request, assessment))
    return context


def _assessment_context(request, assessment) -> dict:
    scorecard = assessment.scorecard
    overrides = list(assessment.overrides.select_related("proposed_by", "decided_by"))
    pending = next((o for o in overrides if o.status == "pending"), None)
    return {
        "scorecard": scorecard, "breakdown": selectors.breakdown_rows(assessment),
        "gates": selectors.gate_rows(assessment), "missing": selectors.missing_rows(assessment.missing, scorecard),
        "overrides": overrides, "pending_override": pending,
        "can_decide": pending is not None and services.can_decide(request.user, pending),
        "model_grade_label": selectors.grade_label(scorecard, assessment.model_grade),
        "final_grade_label": selectors.grade_label(scorecard, assessment.final_grade),
        "confirm_form": ConfirmForm(grades=scorecard.compiled().grades, initial={"grade": assessment.model_grade}),
        "decision_form": DecisionForm(),
    }


@login_required
def customer_rating(request, customer_id: int):
    """A customer's rating: the latest assessment explained, what to collect, confirmation, lines, history."""
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    assessment = selectors.latest_assessment(customer)
    context = _rating_context(request, customer, assessment)
    context.update({
        "history": selectors.assessment_list(user=request.user, customer_id=customer.pk)[:20],
        "lines": selectors.credit_lines_of(customer)[:10],
        "inputs": selectors.collect_form_facts(customer),
    })
    return render(request, "credit/customer.html", context)


@login_required
def customer_inputs(request, customer_id: int):
    """The rating inputs of a customer (what the customer record has no place for)."""
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    rows = selectors.collect_form_facts(customer)
    facts = [row["fact"] for row in rows]
    form = RatingInputsForm(request.POST or None, facts=facts, initial={row["fact"].key: row["value"] for row in rows})
    if request.method == "POST":
        if not services.can_assess(request.user):
            raise PermissionDenied
        if form.is_valid():
            try:
                services.rating_inputs_save(acting_user=request.user, customer=customer, values=form.cleaned_data)
            except ValidationError as exc:
                _errors_into(form, exc)
            else:
                messages.success(request, _("Rating inputs saved."))
                return redirect("credit:customer", customer_id=customer.pk)
    return render(request, "credit/inputs.html", {"customer": customer, "form": form, "rows": rows,
                                                  "can_assess": services.can_assess(request.user)})


@login_required
@require_POST
def customer_assess(request, customer_id: int):
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    try:
        assessment = services.assessment_run(acting_user=request.user, customer=customer)
    except ValidationError as exc:
        _flash(request, exc)
    else:
        if assessment.status == AssessmentStatus.INCOMPLETE:
            messages.warning(request, _("Some inputs are missing; collect them and assess again."))
        else:
            messages.success(request, _("Assessed: %(score)d points, grade %(grade)s.")
                             % {"score": assessment.model_score, "grade": assessment.model_grade})
    return redirect("credit:customer", customer_id=customer.pk)


@login_required
def assessment_detail(request, assessment_id: int):
    assessment = selectors.assessment_get(user=request.user, pk=assessment_id)
    context = _rating_context(request, assessment.customer, assessment)
    context["lines"] = assessment.credit_lines.order_by("-created_at")
    return render(request, "credit/assessment.html", context)


@login_required
@require_POST
def assessment_confirm(request, assessment_id: int):
    assessment = selectors.assessment_get(user=request.user, pk=assessment_id)
    form = ConfirmForm(request.POST, grades=assessment.scorecard.compiled().grades)
    if not form.is_valid():
        _flash_form_errors(request, form)
        return redirect("credit:customer", customer_id=assessment.customer_id)
    try:
        result = services.assessment_confirm(acting_user=request.user, assessment=assessment,
                                             grade=form.cleaned_data["grade"], reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        _flash(request, exc)
    else:
        if result.status == AssessmentStatus.PENDING:
            messages.success(request, _("The adjustment awaits approval."))
        else:
            messages.success(request, _("Grade %(grade)s confirmed.") % {"grade": result.final_grade})
    return redirect("credit:customer", customer_id=assessment.customer_id)


@login_required
def approvals(request):
    """Grade adjustments waiting for the user's decision."""
    if services.AUTHORITY.get(request.user.role, 0) < 1:
        raise PermissionDenied
    overrides = selectors.pending_overrides(user=request.user).order_by("proposed_at", "id")
    return render(request, "credit/approvals.html", {"page": page_of(overrides, request.GET.get("page")),
                                                     "decision_form": DecisionForm()})


@login_required
@require_POST
def override_decide(request, override_id: int):
    override = get_object_or_404(GradeOverride.objects.visible_to(request.user).select_related("assessment"),
                                 pk=override_id)
    form = DecisionForm(request.POST)
    form.is_valid()
    approve = request.POST.get("decision") == "approve"
    try:
        services.grade_override_decide(acting_user=request.user, override=override, approve=approve,
                                       reason=form.cleaned_data.get("reason", ""))
    except ValidationError as exc:
        _flash(request, exc)
    else:
        messages.success(request, _("Adjustment approved.") if approve else _("Adjustment rejected."))
    if request.POST.get("next") == "approvals":
        return redirect("credit:approvals")
    return redirect("credit:customer", customer_id=override.assessment.customer_id)


# --- credit lines --------------------------------------------------------------------------------


@login_required
def line_calculate(request, assessment_id: int):
    """The calculation form: amount requested and guarantees; saves the sheet and shows it."""
    assessment = selectors.assessment_get(user=request.user, pk=assessment_id)
    form = LineForm(request.POST or None, initial={"g1_type": assessment.customer.guarantee_type or "credit"})
    if request.method == "POST" and form.is_valid():
        try:
            line = services.credit_line_calculate(
                acting_user=request.user, assessment=assessment, guarantees=form.guarantees(),
                requested_amount=form.cleaned_data["requested_amount"], valid_from=form.cleaned_data["valid_from"])
        except ValidationError as exc:
            _errors_into(form, exc)
        else:
            return redirect("credit:line", line_id=line.pk)
    return render(request, "credit/line_form.html", {"assessment": assessment, "customer": assessment.customer,
                                                     "form": form, "can_assess": services.can_assess(request.user)})


@login_required
def line_detail(request, line_id: int):
    line = selectors.credit_line_get(user=request.user, pk=line_id)
    return render(request, "credit/line.html", {"line": line, "customer": line.customer,
                                                "steps": list(line.steps.all()),
                                                "approvals": selectors.approvals_of_line(line),
                                                "can_submit": services.can_assess(request.user)
                                                and line.status == "proposed", "submit_form": SubmitForm()})


# --- scorecards ----------------------------------------------------------------------------------


@login_required
def scorecard_list(request):
    """Every version of every scorecard (bank policy, not customer data: all staff may read it)."""
    scorecards = Scorecard.objects.select_related("published_by").order_by("customer_type", "-version")
    today = timezone.localdate()
    in_force = {t: Scorecard.objects.effective(t, today) for t in CustomerType.values}
    return render(request, "credit/scorecards.html", {
        "scorecards": scorecards, "in_force": {s.pk for s in in_force.values() if s},
        "can_configure": services.can_configure(request.user)})


@login_required
def scorecard_detail(request, scorecard_id: int):
    scorecard = get_object_or_404(Scorecard, pk=scorecard_id)
    definition = scorecard.definition
    compiled = scorecard.compiled()
    blocks = {b["code"]: b for b in definition.get("blocks") or []}
    return render(request, "credit/scorecard.html", {
        "scorecard": scorecard, "definition": definition, "blocks": blocks, "compiled": compiled,
        "definition_json": json.dumps(definition, ensure_ascii=False, indent=2),
        "can_configure": services.can_configure(request.user),
        "has_draft": Scorecard.objects.filter(customer_type=scorecard.customer_type,
                                              status=ScorecardStatus.DRAFT).exists(),
    })


def _configurer(request) -> None:
    if not services.can_configure(request.user):
        raise PermissionDenied


@login_required
@require_POST
def scorecard_draft_create(request, scorecard_id: int):
    _configurer(request)
    based_on = get_object_or_404(Scorecard, pk=scorecard_id)
    try:
        draft = services.scorecard_draft_create(acting_user=request.user, based_on=based_on)
    except ValidationError as exc:
        _flash(request, exc)
        return redirect("credit:scorecard", scorecard_id=based_on.pk)
    return redirect("credit:scorecard_edit", scorecard_id=draft.pk)


@login_required
def scorecard_edit(request, scorecard_id: int):
    """Edit a draft: its numbers one by one, or the whole definition as JSON; preview; publish."""
    _configurer(request)
    scorecard = get_object_or_404(Scorecard, pk=scorecard_id)
    if not scorecard.is_draft:
        messages.error(request, _("A published scorecard cannot be changed; start a new draft from it."))
        return redirect("credit:scorecard", scorecard_id=scorecard.pk)
    posted = request.method == "POST"
    action = request.POST.get("action", "values")
    values_form = ScorecardValuesForm(request.POST if posted and action == "values" else None,
                                      definition=scorecard.definition,
                                      initial={"name": scorecard.name, "notes": scorecard.notes})
    json_form = ScorecardJsonForm(request.POST if posted and action == "json" else None, initial={
        "definition": json.dumps(scorecard.definition, ensure_ascii=False, indent=2)})
    if posted:
        form = values_form if action == "values" else json_form
        if form.is_valid():
            definition = (values_form.changed_definition() if action == "values"
                          else json_form.cleaned_data["definition"])
            if form.is_valid():
                try:
                    services.scorecard_draft_update(
                        acting_user=request.user, scorecard=scorecard, definition=definition,
                        name=values_form.cleaned_data.get("name") if action == "values" else None,
                        notes=values_form.cleaned_data.get("notes") if action == "values" else None)
                except ValidationError as exc:
                    _errors_into(form, exc)
                else:
                    messages.success(request, _("Draft saved."))
                    return redirect("credit:scorecard_edit", scorecard_id=scorecard.pk)
    return render(request, "credit/scorecard_edit.html", {
        "scorecard": scorecard, "values_form": values_form, "json_form": json_form,
        "publish_form": PublishForm(initial={"effective_from": timezone.localdate()}),
    })


@login_required
def scorecard_preview(request, scorecard_id: int):
    """How the draft would move the grades of the existing customers in the editor's scope (htmx fragment)."""
    _configurer(request)
    scorecard = get_object_or_404(Scorecard, pk=scorecard_id, status=ScorecardStatus.DRAFT)
    preview = selectors.scorecard_preview(user=request.user, draft=scorecard)
    return render(request, "credit/_preview.html", {"preview": preview, "scorecard": scorecard})


@login_required
@require_POST
def scorecard_publish(request, scorecard_id: int):
    _configurer(request)
    scorecard = get_object_or_404(Scorecard, pk=scorecard_id)
    form = PublishForm(request.POST)
    if not form.is_valid():
        _flash_form_errors(request, form)
        return redirect("credit:scorecard_edit", scorecard_id=scorecard.pk)
    try:
        services.scorecard_publish(acting_user=request.user, scorecard=scorecard,
                                   effective_from=form.cleaned_data["effective_from"])
    except ValidationError as exc:
        _flash(request, exc)
        return redirect("credit:scorecard_edit", scorecard_id=scorecard.pk)
    messages.success(request, _("Version %(version)d published.") % {"version": scorecard.version})
    return redirect("credit:scorecard", scorecard_id=scorecard.pk)


@login_required
@require_POST
def scorecard_discard(request, scorecard_id: int):
    _configurer(request)
    scorecard = get_object_or_404(Scorecard, pk=scorecard_id)
    try:
        services.scorecard_draft_discard(acting_user=request.user, scorecard=scorecard)
    except ValidationError as exc:
        _flash(request, exc)
        return redirect("credit:scorecard", scorecard_id=scorecard.pk)
    messages.success(request, _("Draft discarded."))
    return redirect("credit:scorecards")


# --- local averages ------------------------------------------------------------------------------


@login_required
def local_averages(request):
    """Local averages per org unit (configuration), with what each unit inherits."""
    _configurer(request)
    form = LocalAverageForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        unit = OrgUnit.objects.filter(code=form.cleaned_data["org_code"]).first()
        if unit is None:
            form.add_error("org_code", _("No org unit has the code %(code)s.") % {"code": form.cleaned_data["org_code"]})
        else:
            try:
                services.local_average_set(acting_user=request.user, org_unit=unit, key=form.cleaned_data["key"],
                                           amount=form.cleaned_data["amount"])
            except ValidationError as exc:
                _errors_into(form, exc)
            else:
                messages.success(request, _("Local average saved."))
                return redirect("credit:averages")
    units = selectors.editable_org_units(request.user)
    return render(request, "credit/averages.html", {"rows": selectors.local_average_table(units), "form": form,
                                                    "keys": AverageKey.choices})


# --- approval (审议审批) -----------------------------------------------------------------------------


def _approver(request) -> None:
    if request.user.role not in (Role.BRANCH_HEAD, Role.CREDIT_APPROVER):
        raise PermissionDenied


@login_required
def inbox(request):
    """待我审批: the credit lines waiting for the user's decision or vote, and the grade adjustments."""
    _approver(request)
    waiting = line_approvals.inbox(user=request.user)
    return render(request, "credit/inbox.html", {
        "page": page_of(waiting, request.GET.get("page")),
        "adjustments": selectors.pending_overrides(user=request.user).count(),
    })


@login_required
@require_POST
def line_submit(request, line_id: int):
    line = selectors.credit_line_get(user=request.user, pk=line_id)
    form = SubmitForm(request.POST)
    form.is_valid()
    try:
        approval = line_approvals.credit_line_submit(acting_user=request.user, line=line,
                                                     comment=form.cleaned_data.get("comment", ""))
    except (ValidationError, PermissionDenied) as exc:
        _flash(request, exc)
        return redirect("credit:line", line_id=line.pk)
    messages.success(request, _("Submitted for approval: %(level)s.") % {"level": approval.get_level_display()})
    return redirect("credit:approval", approval_id=approval.pk)


@login_required
def approval_detail(request, approval_id: int):
    """One approval: the line, the compared amount, the route, every step, and the user's action."""
    approval = selectors.approval_get(user=request.user, pk=approval_id)
    committee = CreditCommittee.current()
    context = {
        "approval": approval, "line": approval.line, "customer": approval.customer,
        "steps": selectors.approval_steps(approval),
        "can_decide": line_approvals.can_decide(request.user, approval),
        "can_vote": line_approvals.can_vote(request.user, approval, committee),
        "decision_form": ApprovalDecisionForm(), "vote_form": VoteForm(),
        "is_proposer": request.user.pk in line_approvals.proposers(approval),
    }
    if approval.level == ApprovalLevel.COMMITTEE:
        context["tally"] = line_approvals.tally(approval, committee)
    return render(request, "credit/approval.html", context)


@login_required
@require_POST
def approval_decide(request, approval_id: int):
    approval = selectors.approval_get(user=request.user, pk=approval_id)
    form = ApprovalDecisionForm(request.POST)
    if not form.is_valid():
        _flash_form_errors(request, form)
        return redirect("credit:approval", approval_id=approval.pk)
    try:
        result = line_approvals.approval_decide(acting_user=request.user, approval=approval,
                                                decision=form.cleaned_data["decision"],
                                                comment=form.cleaned_data["comment"])
    except (ValidationError, PermissionDenied) as exc:
        _flash(request, exc)
    else:
        messages.success(request, _("Decision recorded: %(status)s.") % {"status": result.get_status_display()})
        if request.POST.get("next") == "inbox":
            return redirect("credit:inbox")
    return redirect("credit:approval", approval_id=approval.pk)


@login_required
@require_POST
def approval_vote(request, approval_id: int):
    approval = selectors.approval_get(user=request.user, pk=approval_id)
    form = VoteForm(request.POST)
    if not form.is_valid():
        _flash_form_errors(request, form)
        return redirect("credit:approval", approval_id=approval.pk)
    try:
        result = line_approvals.approval_vote(acting_user=request.user, approval=approval,
                                              vote=form.cleaned_data["vote"], comment=form.cleaned_data["comment"])
    except (ValidationError, PermissionDenied) as exc:
        _flash(request, exc)
    else:
        messages.success(request, _("Vote recorded.") if result.is_pending else
                         _("Vote recorded; the committee has decided: %(status)s.")
                         % {"status": result.get_status_display()})
    return redirect("credit:approval", approval_id=approval.pk)


@login_required
def authority(request):
    """The authority matrix and the credit committee: everyone reads them, configuration roles change them."""
    can_configure = services.can_configure(request.user)
    committee = CreditCommittee.current()
    rule_form = AuthorityRuleForm(request.POST if request.POST.get("action") == "rule" else None)
    committee_form = CommitteeForm(request.POST if request.POST.get("action") == "committee" else None, initial={
        "members": list(committee.members.all()), "majority_numerator": committee.majority_numerator,
        "majority_denominator": committee.majority_denominator})
    if request.method == "POST":
        if not can_configure:
            raise PermissionDenied
        action = request.POST.get("action")
        try:
            if action == "rule" and rule_form.is_valid():
                data = rule_form.cleaned_data
                unit = None
                if data["org_code"]:
                    unit = OrgUnit.objects.filter(code=data["org_code"]).first()
                    if unit is None:
                        raise ValidationError({"org_code": [_("No org unit has the code %(code)s.")
                                                            % {"code": data["org_code"]}]})
                line_approvals.authority_rule_save(
                    acting_user=request.user, level=data["level"], org_unit=unit, customer_type=data["customer_type"],
                    guarantee_class=data["guarantee_class"], min_grade=data["min_grade"], limit=data["limit"],
                    active=data["active"])
                messages.success(request, _("Authority rule saved."))
                return redirect("credit:authority")
            if action == "toggle":
                rule = get_object_or_404(AuthorityRule, pk=request.POST.get("rule_id", 0))
                line_approvals.authority_rule_save(
                    acting_user=request.user, rule=rule, level=rule.level, org_unit=rule.org_unit,
                    customer_type=rule.customer_type, guarantee_class=rule.guarantee_class, min_grade=rule.min_grade,
                    limit=rule.limit, active=not rule.active)
                messages.success(request, _("Authority rule saved."))
                return redirect("credit:authority")
            if action == "committee" and committee_form.is_valid():
                data = committee_form.cleaned_data
                line_approvals.committee_save(acting_user=request.user, members=list(data["members"]),
                                              majority_numerator=data["majority_numerator"],
                                              majority_denominator=data["majority_denominator"])
                messages.success(request, _("Credit committee saved."))
                return redirect("credit:authority")
        except ValidationError as exc:
            _errors_into(rule_form if action == "rule" else committee_form, exc)
    return render(request, "credit/authority.html", {
        "rules": selectors.authority_matrix(), "committee": committee,
        "members": committee.members.order_by("username"), "rule_form": rule_form, "committee_form": committee_form,
        "can_configure": can_configure})


@login_required
@require_POST
def notifications_read(request):
    line_approvals.notifications_mark_read(acting_user=request.user)
    return redirect(request.POST.get("next") if url_has_allowed_host_and_scheme(
        request.POST.get("next"), allowed_hosts={request.get_host()}) else "home")


# --- rating campaigns ----------------------------------------------------------------------------


@login_required
def campaign_list(request):
    """Rating campaigns, newest first; organisers start a new one here."""
    can_organise = campaigns.can_organise(request.user)
    form = CampaignForm(request.POST or None)
    if request.method == "POST":
        if not can_organise:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            codes = form.org_code_list()
            units = list(OrgUnit.objects.filter(code__in=codes))
            unknown = sorted(set(codes) - {u.code for u in units})
            if unknown:
                form.add_error("org_codes", _("No org unit has the code %(code)s.") % {"code": ", ".join(unknown)})
            else:
                try:
                    campaign = campaigns.campaign_create(
                        acting_user=request.user, name=data["name"], starts_on=data["starts_on"],
                        ends_on=data["ends_on"], org_units=units, customer_type=data["customer_type"],
                        include_existing=data["include_existing"], include_applicants=data["include_applicants"],
                        village=data["village"], credit_village_share=data["credit_village_share"])
                except ValidationError as exc:
                    _errors_into(form, exc)
                else:
                    messages.success(request, _("Rating campaign started."))
                    return redirect("credit:campaign", campaign_id=campaign.pk)
    return render(request, "credit/campaigns.html", {
        "campaigns": RatingCampaign.objects.prefetch_related("org_units").select_related("created_by"),
        "form": form, "can_organise": can_organise, "today": timezone.localdate()})


@login_required
def campaign_detail(request, campaign_id: int):
    """A campaign's progress per org unit (within the user's scope) against the 100% goal."""
    campaign = get_object_or_404(RatingCampaign.objects.prefetch_related("org_units"), pk=campaign_id)
    return render(request, "credit/campaign.html", {
        "campaign": campaign, "progress": selectors.campaign_progress(campaign=campaign, user=request.user),
        "runs": campaign.runs.select_related("started_by")[:5], "can_assess": services.can_assess(request.user),
        "applicant_form": ApplicantForm(),
        "applicants": CampaignApplicant.objects.visible_to(request.user).filter(campaign=campaign)
        .select_related("customer", "registered_by")[:50]})


@login_required
def campaign_progress_xlsx(request, campaign_id: int):
    campaign = get_object_or_404(RatingCampaign.objects.prefetch_related("org_units"), pk=campaign_id)
    today = timezone.localdate()
    data = exports.campaign_progress_xlsx(selectors.campaign_progress(campaign=campaign, user=request.user),
                                          today=today)
    response = HttpResponse(data, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-{today:%Y%m%d}.xlsx"'
    return response


@login_required
@require_POST
def campaign_rate(request, campaign_id: int):
    """Assess the campaign's population within the user's scope, in the background."""
    campaign = get_object_or_404(RatingCampaign, pk=campaign_id)
    if not services.can_assess(request.user):
        raise PermissionDenied
    from guanxi.credit.tasks import rating_batch_job

    rating_batch_job(request.user.pk, None, None, campaign.pk)
    messages.success(request, _("The batch rating of the campaign's population has started; its result appears "
                                "below."))
    return redirect("credit:campaign", campaign_id=campaign.pk)


@login_required
@require_POST
def campaign_applicant_add(request, campaign_id: int):
    campaign = get_object_or_404(RatingCampaign, pk=campaign_id)
    form = ApplicantForm(request.POST)
    if form.is_valid():
        customer = get_object_or_404(Customer.objects.visible_to(request.user).select_related("org_unit"),
                                     customer_no=form.cleaned_data["customer_no"].strip().upper())
        try:
            campaigns.campaign_applicant_add(acting_user=request.user, campaign=campaign, customer=customer)
        except (ValidationError, PermissionDenied) as exc:
            _flash(request, exc)
        else:
            messages.success(request, _("%(name)s registered as an applicant.") % {"name": customer.name})
    return redirect("credit:campaign", campaign_id=campaign.pk)


# --- printable forms -----------------------------------------------------------------------------


def _pdf(data: bytes, name: str) -> HttpResponse:
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{name}.pdf"'
    return response


@login_required
def registration_form_pdf(request, customer_id: int):
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    data = printing.print_form(acting_user=request.user, form="registration", obj=customer)
    return _pdf(data, f"registration-{customer.customer_no}")


@login_required
def assessment_form_pdf(request, assessment_id: int):
    assessment = selectors.assessment_get(user=request.user, pk=assessment_id)
    data = printing.print_form(acting_user=request.user, form="assessment", obj=assessment)
    return _pdf(data, f"assessment-{assessment.pk}")


@login_required
def line_form_pdf(request, line_id: int):
    line = selectors.credit_line_get(user=request.user, pk=line_id)
    data = printing.print_form(acting_user=request.user, form="line", obj=line)
    return _pdf(data, f"line-{line.pk}")


@login_required
def approval_form_pdf(request, approval_id: int):
    approval = selectors.approval_get(user=request.user, pk=approval_id)
    data = printing.print_form(acting_user=request.user, form="approval", obj=approval)
    return _pdf(data, f"approval-{approval.pk}")

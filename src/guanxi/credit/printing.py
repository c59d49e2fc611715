"""The printable forms of the bank's plan, as A4 PDF in the bank's language (Simplified Chinese):

- 客户信息采集登记表 — customer information registration (`registration_pdf`);
- 客户信用等级评估表 — rating assessment (`assessment_pdf`);
- 客户授信额度测算表 — credit line calculation (`line_pdf`);
- 客户授信额度审议审批表 — review and approval (`approval_pdf`).

Each carries the bank's name, the data of the version it prints (the assessment's scorecard
version, the line's calculation sheet, the approval's steps) and lines for the signatures. The
Chinese font is embedded (a subset of Noto Sans CJK SC, `fonts-noto-cjk`), so the page reads the
same on any printer; `GUANXI_CJK_FONT` names another font file (TTF, OTF or TTC[:index]).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from fpdf import FPDF
from fpdf.enums import WrapMode, XPos, YPos
from fpdf.fonts import FontFace

from guanxi.core import audit
from guanxi.core.models import OrgUnit, User
from guanxi.credit import approvals, selectors
from guanxi.credit.lines import GUARANTEE_LABELS
from guanxi.credit.models import Approval, ApprovalLevel, CreditLine, RatingAssessment, StepAction
from guanxi.customers.models import Customer, CustomerType

FONT = "cjk"
# (regular, bold, index in the collection): Noto Sans CJK SC as Debian's fonts-noto-cjk installs it.
FONT_CANDIDATES = [
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
     "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", "/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "", 0),
]
WIDTH = 180  # mm between the margins of an A4 page


def font_files() -> tuple[str, str, int]:
    """(regular file, bold file or '', collection index) of the Chinese font the forms embed."""
    configured = os.environ.get("GUANXI_CJK_FONT", "").strip()
    if configured:
        path, _sep, index = configured.partition(":")
        if not Path(path).is_file():
            raise ImproperlyConfigured(f"GUANXI_CJK_FONT: no font file at {path}")
        return path, "", int(index or 0)
    for regular, bold, index in FONT_CANDIDATES:
        if Path(regular).is_file():
            return regular, bold if bold and Path(bold).is_file() else "", index
    raise ImproperlyConfigured("No Chinese font for the printable forms: install fonts-noto-cjk or set GUANXI_CJK_FONT.")


def bank_name(org_unit: OrgUnit | None = None) -> str:
    """The bank's name: its head office (the root of the org tree), without the word 总行."""
    root = None
    if org_unit is not None and org_unit.path:
        root_id = org_unit.path.strip("/").split("/")[0]
        root = OrgUnit.objects.filter(pk=int(root_id)).first() if root_id.isdigit() else None
    root = root or OrgUnit.objects.filter(parent__isnull=True).order_by("path").first()
    if root is None:
        return ""
    name = root.name
    return name[:-2] if name.endswith("总行") and len(name) > 2 else name


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _text(value: object) -> str:
    if value is None or value == "":
        return "—"
    return str(value)


class FormPdf(FPDF):
    """An A4 page with the bank's name and the form's title on top, page numbers below."""

    def __init__(self, *, title: str, bank: str, reference: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        regular, bold, index = font_files()
        self.add_font(FONT, "", regular, collection_font_number=index)
        self.add_font(FONT, "B", bold or regular, collection_font_number=index)
        self.form_title, self.bank, self.reference = title, bank, reference
        self.set_margins(15, 15, 15)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(title)
        self.set_author(bank)
        self.set_creator("Guanxi")
        self.set_lang("zh-CN")
        self.add_page()

    def header(self) -> None:
        self.set_font(FONT, "B", 15)
        self.cell(0, 8, self.bank, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "B", 17)
        self.cell(0, 10, self.form_title, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)
        self.cell(0, 6, self.reference, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def footer(self) -> None:
        self.set_y(-13)
        self.set_font(FONT, "", 8)
        self.cell(0, 6, _("Page %(page)s of %(pages)s") % {"page": self.page_no(), "pages": "{nb}"}, align="C")

    # --- building blocks -------------------------------------------------------------------------

    def section(self, title: str) -> None:
        if self.get_y() > self.h - 40:
            self.add_page()
        self.ln(2)
        self.set_font(FONT, "B", 11)
        self.cell(0, 7, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def pairs(self, items: Sequence[tuple[str, object]], columns: int = 2) -> None:
        """Label / value pairs in a grid of `columns` pairs per row."""
        self.set_font(FONT, "", 9.5)
        label_width = 28 if columns == 2 else 40
        value_width = WIDTH / columns - label_width
        widths = [label_width, value_width] * columns
        with self.table(col_widths=widths, width=WIDTH, first_row_as_headings=False, line_height=6.5,
                        text_align="LEFT", wrapmode=WrapMode.CHAR, padding=1) as table:
            for start in range(0, len(items), columns):
                row = table.row()
                chunk = list(items[start:start + columns])
                chunk += [("", "")] * (columns - len(chunk))
                for label, value in chunk:
                    row.cell(label, style=FontFace(fill_color=(240, 240, 240)))
                    row.cell(_text(value) if label else "")

    def grid(self, headings: Sequence[str], rows: Iterable[Sequence[object]], widths: Sequence[float],
             aligns: Sequence[str] | None = None) -> None:
        self.set_font(FONT, "", 9)
        aligns = aligns or ["LEFT"] * len(headings)
        with self.table(col_widths=widths, width=WIDTH, line_height=6, wrapmode=WrapMode.CHAR, padding=1,
                        headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230))) as table:
            head = table.row()
            for heading in headings:
                head.cell(heading, align="CENTER")
            for values in rows:
                row = table.row()
                for value, align in zip(values, aligns, strict=True):
                    row.cell(_text(value), align=align)

    def paragraph(self, text: str) -> None:
        self.set_font(FONT, "", 9.5)
        self.multi_cell(WIDTH, 6, text, wrapmode=WrapMode.CHAR, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def signatures(self, roles: Sequence[str]) -> None:
        """A signature line and a date line for each role, two per row."""
        if self.get_y() > self.h - 18 - 14 * ((len(roles) + 1) // 2):
            self.add_page()
        self.ln(4)
        self.set_font(FONT, "", 10)
        half = WIDTH / 2
        for start in range(0, len(roles), 2):
            for role in roles[start:start + 2]:
                self.cell(half, 8, f"{role}：____________________", new_x=XPos.RIGHT, new_y=YPos.TOP)
            self.ln(8)
            for _role in roles[start:start + 2]:
                self.cell(half, 6, _("Date: ______ year ____ month ____ day"), new_x=XPos.RIGHT, new_y=YPos.TOP)
            self.ln(10)

    def render(self) -> bytes:
        return bytes(self.output())


def _owner_name(customer: Customer) -> str:
    owner = (User.objects.filter(assignments__customer=customer, assignments__active=True)
             .only("name", "username").first())
    return owner.display_name if owner else "—"


def _reference(*parts: str) -> str:
    return " · ".join([*parts, _("printed %(at)s") % {"at": timezone.localtime().strftime("%Y-%m-%d %H:%M")}])


def _guarantees(guarantees: list[dict]) -> str:
    parts = []
    for item in guarantees or []:
        label = str(GUARANTEE_LABELS.get(item.get("type"), item.get("type")))
        if item.get("value"):
            label += f" {_money(Decimal(str(item['value'])))}"
        parts.append(label)
    return "、".join(parts) or "—"


# --- the four forms ------------------------------------------------------------------------------


def registration_pdf(customer: Customer, *, unmasked: bool = False) -> bytes:
    """客户信息采集登记表: the registration data, financial and non-financial information, guarantee, the
    household members and the rating inputs collected. ID number and phone masked unless `unmasked`."""
    with translation.override(settings.LANGUAGE_CODE):
        pdf = FormPdf(title=_("Customer information registration form"), bank=bank_name(customer.org_unit),
                      reference=_reference(_("Customer number %(no)s") % {"no": customer.customer_no}))
        pdf.section(_("Basic information"))
        pdf.pairs([
            (_("customer name"), customer.name), (_("customer number"), customer.customer_no),
            (_("customer type"), customer.get_customer_type_display()), (_("status"), customer.get_status_display()),
            (_("ID number"), customer.id_number if unmasked else customer.masked_id_number),
            (_("mobile phone"), customer.phone if unmasked else customer.masked_phone),
            (_("org unit"), customer.org_unit.name), (_("owner"), _owner_name(customer)),
            (_("industry"), customer.industry), (_("birth date"), customer.birth_date),
            (_("address"), customer.address), (_("registered at"), timezone.localtime(customer.created_at).date()),
        ])
        pdf.section(_("Financial information (yuan)"))
        pairs = [(_("annual income"), _money(customer.annual_income)), (_("total assets"), _money(customer.total_assets)),
                 (_("total liabilities"), _money(customer.total_liabilities)),
                 (_("net assets"), _money(customer.net_assets)),
                 (_("deposit balance"), _money(customer.deposit_balance)),
                 (_("loan balance"), _money(customer.loan_balance))]
        if customer.customer_type == CustomerType.FARMER:
            pairs.append((_("household size"), customer.household_size))
        pdf.pairs(pairs)
        pdf.section(_("Guarantee information"))
        pdf.pairs([(_("guarantee type"), customer.get_guarantee_type_display() or "—"),
                   (_("products held"), customer.products)])
        pdf.section(_("Non-financial information"))
        pdf.paragraph(customer.notes or "—")
        if customer.customer_type == CustomerType.FARMER:
            members = list(customer.members.all())
            pdf.section(_("Household members"))
            pdf.grid([_("name"), _("relation"), _("labourer")],
                     [(m.name, m.get_relation_display(), _("yes") if m.is_labourer else _("no")) for m in members]
                     or [("—", "—", "—")], [70, 60, 50])
        rows = selectors.collect_form_facts(customer)
        pdf.section(_("Rating inputs"))
        pdf.grid([_("input"), _("collected value"), _("collected at")],
                 [(str(r["fact"].label), r["human"] or _("not collected"),
                   timezone.localtime(r["input"].collected_at).date() if r["input"] else "—") for r in rows]
                 or [("—", "—", "—")], [90, 55, 35])
        pdf.signatures([_("Customer (signature)"), _("Collected by (relationship manager)"),
                        _("Reviewed by"), _("Head of the outlet")])
        return pdf.render()


def assessment_pdf(assessment: RatingAssessment) -> bytes:
    """客户信用等级评估表: the score of that scorecard version indicator by indicator, the gates, the
    model and final grades, every adjustment with its reason and decision."""
    customer = assessment.customer
    scorecard = assessment.scorecard
    with translation.override(settings.LANGUAGE_CODE):
        pdf = FormPdf(title=_("Customer credit rating assessment form"), bank=bank_name(customer.org_unit),
                      reference=_reference(_("Customer number %(no)s") % {"no": customer.customer_no},
                                           f"{scorecard.name} v{scorecard.version}"))
        pdf.pairs([
            (_("customer name"), customer.name), (_("customer type"), customer.get_customer_type_display()),
            (_("org unit"), customer.org_unit.name), (_("assessed at"),
                                                      timezone.localtime(assessment.created_at).strftime("%Y-%m-%d")),
            (_("scorecard"), f"{scorecard.name} v{scorecard.version}"), (_("status"), assessment.get_status_display()),
        ])
        pdf.section(_("Score by indicator"))
        breakdown = selectors.breakdown_rows(assessment)
        pdf.grid([_("block"), _("indicator"), _("value used"), _("points"), _("maximum")],
                 [(str(r.block), str(r.label), f"{r.value} {r.detail}".strip(),
                   "—" if r.points is None else r.points, "" if r.max_points is None else r.max_points)
                  for r in breakdown], [32, 48, 60, 20, 20], ["LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT"])
        gates = selectors.gate_rows(assessment)
        if gates:
            pdf.section(_("Gates that fired"))
            pdf.grid([_("gate"), _("grade at most")], [(str(g.label), g.grade) for g in gates], [140, 40])
        missing = selectors.missing_rows(assessment.missing or [], scorecard)
        if missing:
            pdf.section(_("Inputs lacking"))
            pdf.paragraph("、".join(str(m.label) for m in missing))
        pdf.section(_("Result"))
        pdf.pairs([
            (_("model score"), "—" if assessment.model_score is None else assessment.model_score),
            (_("model grade"), selectors.grade_label(scorecard, assessment.model_grade)),
            (_("final grade"), selectors.grade_label(scorecard, assessment.final_grade)),
            (_("confirmed by"), assessment.final_by.display_name if assessment.final_by_id else "—"),
        ])
        overrides = list(assessment.overrides.select_related("proposed_by", "decided_by"))
        if overrides:
            pdf.section(_("Adjustments of the model's grade"))
            pdf.grid([_("grade"), _("reason"), _("proposed by"), _("decided by"), _("status")],
                     [(f"{o.from_grade} → {o.to_grade}", o.reason, o.proposed_by.display_name,
                       o.decided_by.display_name if o.decided_by_id else "—", o.get_status_display())
                      for o in overrides], [25, 65, 30, 30, 30])
        pdf.signatures([_("Relationship manager"), _("Reviewed by"), _("Head of the outlet"), _("Approver")])
        return pdf.render()


def line_pdf(line: CreditLine) -> bytes:
    """客户授信额度测算表: the calculation sheet of that line, step by step, with the guarantees and validity."""
    customer = line.customer
    with translation.override(settings.LANGUAGE_CODE):
        pdf = FormPdf(title=_("Customer credit line calculation sheet"), bank=bank_name(customer.org_unit),
                      reference=_reference(_("Customer number %(no)s") % {"no": customer.customer_no},
                                           f"{line.scorecard.name} v{line.scorecard.version}"))
        pdf.pairs([
            (_("customer name"), customer.name), (_("customer type"), customer.get_customer_type_display()),
            (_("org unit"), customer.org_unit.name), (_("grade"), line.grade),
            (_("guarantees"), _guarantees(line.guarantees)), (_("amount requested"), _money(line.requested_amount)),
        ])
        pdf.section(_("Calculation"))
        pdf.grid(["#", _("step"), _("formula"), _("amount")],
                 [(s.position, s.label, s.formula, _money(s.amount)) for s in line.steps.all()],
                 [10, 55, 80, 35], ["CENTER", "LEFT", "LEFT", "RIGHT"])
        pdf.section(_("Result"))
        pdf.pairs([
            (_("model line"), _money(line.model_amount)), (_("credit line"), _money(line.amount)),
            (_("valid from"), line.valid_from), (_("valid until"), line.valid_until),
            (_("annual review on"), line.review_on), (_("status"), line.get_status_display()),
            (_("calculated by"), line.created_by.display_name if line.created_by_id else "—"),
            (_("calculated at"), timezone.localtime(line.created_at).strftime("%Y-%m-%d")),
        ])
        pdf.signatures([_("Calculated by (relationship manager)"), _("Reviewed by")])
        return pdf.render()


def approval_pdf(approval: Approval) -> bytes:
    """客户授信额度审议审批表: the line, the compared amount in its parts, the level that approves it and
    every opinion and vote, the outcome; signature lines for each level."""
    customer, line = approval.customer, approval.line
    steps = selectors.approval_steps(approval)
    with translation.override(settings.LANGUAGE_CODE):
        pdf = FormPdf(title=_("Customer credit line review and approval form"), bank=bank_name(customer.org_unit),
                      reference=_reference(_("Customer number %(no)s") % {"no": customer.customer_no},
                                           _("approval %(id)s") % {"id": approval.pk}))
        pdf.pairs([
            (_("customer name"), customer.name), (_("customer type"), customer.get_customer_type_display()),
            (_("org unit"), customer.org_unit.name), (_("grade"), line.grade),
            (_("credit line"), _money(line.amount)), (_("guarantees"), _guarantees(line.guarantees)),
            (_("valid from"), line.valid_from), (_("valid until"), line.valid_until),
        ])
        pdf.section(_("Compared amount (yuan)"))
        pdf.pairs([(_("loan balance"), _money(approval.loan_balance)),
                   (_("approved lines outstanding"), _money(approval.approved_lines)),
                   (_("new line"), _money(approval.amount)), (_("compared amount"), _money(approval.exposure)),
                   (_("approval level"), approval.get_level_display()), (_("status"), approval.get_status_display())])
        pdf.section(_("Proposal"))
        pdf.pairs([(_("proposed by"), approval.submitted_by.display_name),
                   (_("submitted at"), timezone.localtime(approval.submitted_at).strftime("%Y-%m-%d %H:%M"))])
        pdf.paragraph(_("Proposer's comment: %(comment)s") % {"comment": approval.comment or "—"})
        pdf.section(_("Opinions and votes"))
        pdf.grid([_("at"), _("step by"), _("opinion"), _("remarks")],
                 [(timezone.localtime(s.at).strftime("%Y-%m-%d %H:%M"), s.actor.display_name if s.actor_id else
                   _("Credit committee"), s.get_vote_display() if s.action == StepAction.VOTE else s.get_action_display(),
                   s.comment) for s in steps], [32, 30, 28, 90])
        if approval.level == ApprovalLevel.COMMITTEE:
            result = approvals.tally(approval)
            pdf.paragraph(_("Committee: %(voters)d entitled to vote, %(needed)d agreements carry; agree %(agree)d, "
                            "reject %(reject)d, reconsider %(reconsider)d, abstain %(abstain)d.")
                          % {"voters": result.voters, "needed": result.needed, **result.counts})
        roles = [_("Relationship manager"), _("Opinion of the head of the outlet")]
        if approval.level != ApprovalLevel.OUTLET:
            roles.append(_("Opinion of the credit department"))
        if approval.level == ApprovalLevel.COMMITTEE:
            roles.append(_("Chair of the credit committee"))
        pdf.signatures(roles)
        return pdf.render()


FORMS = {"registration": Customer, "assessment": RatingAssessment, "line": CreditLine, "approval": Approval}


def print_form(*, acting_user: User, form: str, obj: Customer | RatingAssessment | CreditLine | Approval) -> bytes:
    """Render one of the four forms for `acting_user`, who fetched `obj` through their scope, and record
    the print in the audit log. The registration form shows the full ID number and phone only to roles
    that may reveal them (the audit entry says so)."""
    customer = obj if isinstance(obj, Customer) else obj.customer
    unmasked = form == "registration" and acting_user.can_reveal
    if form == "registration":
        data = registration_pdf(customer, unmasked=unmasked)
    elif form == "assessment":
        data = assessment_pdf(obj)
    elif form == "line":
        data = line_pdf(obj)
    elif form == "approval":
        data = approval_pdf(obj)
    else:
        raise ValueError(form)
    with transaction.atomic():
        audit.record(actor=acting_user, action="credit.form_print", obj=obj, object_repr=str(customer),
                     changes={"form": form, "customer": customer.customer_no, "unmasked": unmasked})
    return data

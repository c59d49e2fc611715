"""Building proposed credit lines for the approval tests: a confirmed assessment and a line of a chosen amount."""

from __future__ import annotations

from decimal import Decimal

from guanxi.credit.models import CreditLine
from guanxi.credit.services import assessment_confirm, assessment_run, credit_line_calculate


def proposed_line(user, customer, *, amount: str | None = None, guarantees: list[dict] | None = None) -> CreditLine:
    """Rate `customer`, confirm the model's grade and calculate a line as `user`; `amount` then sets the
    line's amount directly (the calculation is tested on its own), so routing can be tested at any size."""
    assessment = assessment_confirm(acting_user=user, assessment=assessment_run(acting_user=user, customer=customer))
    line = credit_line_calculate(acting_user=user, assessment=assessment, guarantees=guarantees)
    if amount is not None:
        CreditLine.objects.filter(pk=line.pk).update(amount=Decimal(amount))
        line.refresh_from_db()
    return line

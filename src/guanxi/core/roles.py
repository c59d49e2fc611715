"""Staff roles and what each may do. DESIGN.md's table of roles is the source."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    MANAGER = "manager", _("Relationship manager")
    TELLER = "teller", _("Teller")
    BRANCH_HEAD = "branch_head", _("Branch head")
    LINE_DEPT = "line_dept", _("Line department")
    CREDIT_APPROVER = "credit_approver", _("Credit approver")
    AUDITOR = "auditor", _("Auditor")
    SYSADMIN = "sysadmin", _("System administrator")
    SECADMIN = "secadmin", _("Security administrator")
    AUDITADMIN = "auditadmin", _("Audit administrator")


class MarketLine(models.TextChoices):
    AGRI = "agri", _("Agriculture, rural areas and farmers")
    COMPANY = "company", _("Company")
    PERSONAL = "personal", _("Personal")


# Roles whose data scope is the customers assigned to them.
OWN_SCOPE_ROLES = frozenset({Role.MANAGER, Role.TELLER})
# Roles whose data scope is their org unit's subtree.
SUBTREE_SCOPE_ROLES = frozenset({Role.BRANCH_HEAD, Role.CREDIT_APPROVER})
# Roles that may change customer data (within their scope).
WRITER_ROLES = frozenset({Role.MANAGER, Role.TELLER, Role.BRANCH_HEAD, Role.LINE_DEPT})
# Roles that may reveal a full ID number or phone (each reveal is audit-logged).
REVEAL_ROLES = frozenset({Role.MANAGER, Role.TELLER, Role.BRANCH_HEAD, Role.CREDIT_APPROVER, Role.AUDITOR})
# Roles that read the audit log.
AUDIT_READER_ROLES = frozenset({Role.AUDITOR, Role.AUDITADMIN})
# The three separated administrators see no customer data by default.
ADMIN_ROLES = frozenset({Role.SYSADMIN, Role.SECADMIN, Role.AUDITADMIN})

"""Org units, staff, sequences, API tokens and the append-only audit log."""

from __future__ import annotations

import hashlib

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.fields import JSONDocumentField
from guanxi.core.roles import ADMIN_ROLES, AUDIT_READER_ROLES, REVEAL_ROLES, WRITER_ROLES, MarketLine, Role


class OrgUnitKind(models.TextChoices):
    HEAD_OFFICE = "head_office", _("Head office")
    UNION = "union", _("Union")
    BRANCH = "branch", _("Branch")
    COOP = "coop", _("Credit cooperative")


class OrgUnitQuerySet(models.QuerySet):
    def subtree(self, unit: OrgUnit) -> OrgUnitQuerySet:
        """The unit and every unit below it: one indexed prefix match on the path."""
        return self.filter(path__startswith=unit.path)


class OrgUnit(models.Model):
    """A unit of the bank's organisation tree (head office → union → branch / coop).

    `path` is a materialised path of primary keys (`/1/4/9/`) kept by `core.services`,
    so that a subtree is one `LIKE 'prefix%'` query on an index.
    """

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=16, choices=OrgUnitKind.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("parent"), null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")

    objects = OrgUnitQuerySet.as_manager()

    class Meta:
        ordering = ["path"]
        verbose_name = _("org unit")
        verbose_name_plural = _("org units")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def is_within(self, other: OrgUnit) -> bool:
        return self.path.startswith(other.path)


class User(AbstractUser):
    """A member of staff. `role` and `org_unit` decide the data scope (see `visible_to`)."""

    name = models.CharField(_("full name"), max_length=100, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, blank=True)
    org_unit = models.ForeignKey(
        OrgUnit, verbose_name=_("org unit"), null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    market_line = models.CharField(_("market line"), max_length=16, choices=MarketLine.choices, blank=True)

    objects = UserManager()

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")

    def __str__(self) -> str:
        return self.name or self.username

    @property
    def display_name(self) -> str:
        return self.name or self.username

    @property
    def can_write_customers(self) -> bool:
        return self.is_active and self.role in WRITER_ROLES

    @property
    def can_reveal(self) -> bool:
        return self.is_active and self.role in REVEAL_ROLES

    @property
    def can_read_audit_log(self) -> bool:
        return self.is_active and self.role in AUDIT_READER_ROLES

    @property
    def is_administrator(self) -> bool:
        return self.role in ADMIN_ROLES


class Sequence(models.Model):
    """Named counters for generated numbers (customer numbers); blocks are taken atomically."""

    name = models.CharField(max_length=50, primary_key=True)
    last_value = models.BigIntegerField(default=0)

    class Meta:
        verbose_name = _("sequence")

    def __str__(self) -> str:
        return f"{self.name}={self.last_value}"


class ApiToken(models.Model):
    """A Bearer token for the REST API. Only a SHA-256 hash of the secret is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")

    def __str__(self) -> str:
        return f"{self.user} {self.prefix}…"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ARG002
        raise PermissionError("the audit log is append-only")

    def delete(self):
        raise PermissionError("the audit log is append-only")


class AuditEntry(models.Model):
    """One append-only line of the audit log: who did what to which object, when and from where.

    Written by the service that makes the change, inside its transaction. Rows are never
    updated or deleted: the model refuses it, and database triggers refuse it too.
    """

    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(User, verbose_name=_("user"), null=True, on_delete=models.PROTECT, related_name="+")
    actor_username = models.CharField(_("username"), max_length=150)
    action = models.CharField(_("action"), max_length=50)  # indexed in Meta: the log page filters by its start
    object_type = models.CharField(_("object type"), max_length=50)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=200, blank=True)
    changes = JSONDocumentField(_("changes"), default=dict, blank=True)  # written in bulk, read whole
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        # Only the indexes that the log page's filters use: every customer an import creates or
        # changes writes an entry, and each index costs every one of them (no index on the object
        # type, nor PostgreSQL's pattern index on the object id, which is only compared whole; the action
        # has only the pattern index there, which serves its filter by prefix and equality alike).
        indexes = [models.Index(fields=["object_id"], name="core_audit_object_id"),
                   models.Index(fields=["action"], name="core_audit_action", opclasses=["varchar_pattern_ops"])]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_username} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("the audit log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("the audit log is append-only")


class DeferredIndex(models.Model):
    """A secondary index (or a foreign key, on PostgreSQL) dropped for the duration of a bulk load, to be
    created again (see `core.bulkload`).

    Written in the same transaction as the DROP and deleted in the same transaction as the
    CREATE INDEX (or ALTER TABLE … ADD), so that a load killed in between leaves a record of what
    to restore.
    """

    table = models.CharField(max_length=100)
    name = models.CharField(max_length=200, unique=True)
    sql = models.TextField()
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    touched_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.table}.{self.name}"

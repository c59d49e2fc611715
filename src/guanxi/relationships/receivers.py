"""Reactions to customer events."""

from django.dispatch import receiver

from guanxi.core import audit
from guanxi.core.models import AuditEntry
from guanxi.core.roles import Role
from guanxi.customers.signals import customer_registered, customers_bulk_registered
from guanxi.relationships.models import Assignment
from guanxi.relationships.services import assignment_set


@receiver(customer_registered)
def assign_to_registering_manager(sender, customer, acting_user, **kwargs):
    """谁营销谁维护: whoever registers a customer maintains it (managers and tellers)."""
    if acting_user is not None and acting_user.role in (Role.MANAGER, Role.TELLER):
        assignment_set(acting_user=acting_user, customer=customer, owner=acting_user,
                       reason="registered by this manager")


@receiver(customers_bulk_registered)
def assign_imported_to_registering_manager(sender, customer_ids, acting_user, **kwargs):
    """The same rule for a manager's registration import, one bulk insert per batch."""
    if acting_user is None or acting_user.role not in (Role.MANAGER, Role.TELLER):
        return
    reason = "registered by this manager (import)"
    Assignment.objects.bulk_create(
        [Assignment(customer_id=pk, owner=acting_user, reason=reason, assigned_by=acting_user) for pk in customer_ids],
        batch_size=500,
    )
    AuditEntry.objects.bulk_create(
        [AuditEntry(actor=acting_user, actor_username=acting_user.username, action="assignment.set",
                    object_type="customers.customer", object_id=str(pk),
                    changes={"owner": [None, acting_user.username], "reason": reason},
                    ip_address=audit._client_ip.get()) for pk in customer_ids],
        batch_size=500,
    )

"""Reactions to customer events."""

from django.dispatch import receiver

from guanxi.core.roles import Role
from guanxi.customers.signals import customer_registered
from guanxi.relationships.services import assignment_set


@receiver(customer_registered)
def assign_to_registering_manager(sender, customer, acting_user, **kwargs):
    """谁营销谁维护: whoever registers a customer maintains it (managers and tellers)."""
    if acting_user is not None and acting_user.role in (Role.MANAGER, Role.TELLER):
        assignment_set(acting_user=acting_user, customer=customer, owner=acting_user,
                       reason="registered by this manager")

"""Reactions to customer events: segment new customers, recompute after a balance feed, route new prospects
to their territory."""

from django.dispatch import receiver

from guanxi.customers.signals import (
    balances_imported,
    customer_insert_columns,
    customer_insert_values,
    customer_registered,
    customers_bulk_registered,
    customers_bulk_updated,
)

# The customer columns a segment is computed from (`segmentation.services`: sub-market, tier, classes).
SEGMENT_INPUTS = frozenset({"customer_type", "market", "industry", "address", "deposit_balance", "loan_balance",
                            "products"})


@receiver(balances_imported)
def recompute_after_balances(sender, run, acting_user, as_of_dates, **kwargs):
    """New balances may cross a tier threshold: recompute every line, dated by the newest feed date."""
    if not as_of_dates:
        return
    from guanxi.segmentation.services import segments_recompute

    segments_recompute(acting_user=acting_user, as_of=max(as_of_dates))


@receiver(customer_registered)
def segment_registered_customer(sender, customer, acting_user, **kwargs):
    """A new customer gets its sub-market, tier and classes at once (no history: it had no tier before)."""
    from guanxi.segmentation.services import segments_recompute

    segments_recompute(acting_user=acting_user, customer_ids=[customer.pk], record_history=False)


@receiver(customer_insert_columns)
def segment_inserted_customers(sender, **kwargs):
    """A bulk INSERT … SELECT of new customers computes their sub-market, tier and classes itself."""
    from guanxi.segmentation.services import insert_columns_sql

    return insert_columns_sql()


@receiver(customer_insert_values)
def segment_copied_customers(sender, columns, **kwargs):
    """The same for new customers an import writes with COPY: their segments computed as it prepares their rows."""
    from guanxi.segmentation.services import new_customer_segments

    segments = new_customer_segments(columns)
    return list(segments.columns), segments


@receiver(customers_bulk_registered)
def segment_imported_customers(sender, customer_ids, acting_user, derived=frozenset(), **kwargs):
    """The same for a registration import batch: a few set-based statements per batch (none when
    the INSERT already computed the segments, `segment_inserted_customers`)."""
    from guanxi.segmentation.services import segments_recompute

    if customer_ids and "tier" not in derived:
        segments_recompute(acting_user=acting_user, customer_ids=customer_ids, record_history=False)


@receiver(customers_bulk_updated)
def resegment_updated_customers(sender, customer_ids, columns, acting_user, **kwargs):
    """A registration import that changed a balance, type or industry moves the customers at once (with their
    tier history), rather than at the nightly recompute."""
    from guanxi.segmentation.services import segments_recompute

    if customer_ids and columns & SEGMENT_INPUTS:
        segments_recompute(acting_user=acting_user, customer_ids=customer_ids)


@receiver(customer_registered)
def route_registered_prospect(sender, customer, acting_user, **kwargs):
    """A new prospect living in a territory goes to the territory's unit (and team) at once (划片包干)."""
    from guanxi.customers.models import CustomerStatus
    from guanxi.segmentation.services.territories import territory_route_registered

    if customer.status != CustomerStatus.PROSPECT:
        return
    result = territory_route_registered(acting_user=acting_user, customer_ids=[customer.pk])
    if result.routed:
        customer.refresh_from_db(fields=["org_unit"])


@receiver(customers_bulk_registered)
def route_imported_prospects(sender, customer_ids, acting_user, **kwargs):
    """The same for a registration import batch: one placing query and an UPDATE per territory per chunk."""
    from guanxi.segmentation.services.territories import territory_route_registered

    if customer_ids:
        territory_route_registered(acting_user=acting_user, customer_ids=customer_ids)

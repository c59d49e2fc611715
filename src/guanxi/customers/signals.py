"""Signals other apps listen to (customers cannot import them: dependencies point one way)."""

from django.dispatch import Signal

# Sent inside the creating transaction with `customer` and `acting_user`; the relationships
# app assigns the customer to the manager who registered it (谁营销谁维护).
customer_registered = Signal()

# Sent once per import batch with the primary keys of the newly registered customers, and
# `derived`: the columns an INSERT … SELECT already computed for them (`customer_insert_columns`).
customers_bulk_registered = Signal()

# Sent inside the writing transaction once per import batch that changed known customers, with
# `customer_ids` (a list), `columns` (every column that changed in any of them) and `acting_user`;
# segmentation recomputes their segments when a balance, type or industry changed.
customers_bulk_updated = Signal()

# Sent (inside the writing transaction) by an import about to create customers with one
# INSERT … SELECT whose source rows, aliased `c`, have the customer table's own column names.
# A receiver may return (columns, SQL expressions over `c`, their parameters, joins) that
# compute derived columns in that statement instead of updating the rows after it.
customer_insert_columns = Signal()

# Sent by an import about to write new customers' rows itself (PostgreSQL's COPY), with `columns`: the names
# of the values it has for each row, in order. A receiver may return (derived columns, a function of one
# row's values in that order giving theirs): picklable, as the import's worker processes call it.
customer_insert_values = Signal()

# Sent once at the end of a balance-feed import that wrote something (not a dry run), with
# `run`, `acting_user` and `as_of_dates` (the sorted feed dates loaded); segmentation recomputes.
balances_imported = Signal()

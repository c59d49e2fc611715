"""Bulk imports: the registration file and the core-banking balance feed."""

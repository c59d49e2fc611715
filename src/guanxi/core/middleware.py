"""Keeps the current request's client address for the audit log."""

from __future__ import annotations

from guanxi.core import audit


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = audit.set_client_ip(request.META.get("REMOTE_ADDR"))
        try:
            return self.get_response(request)
        finally:
            audit.reset_client_ip(token)

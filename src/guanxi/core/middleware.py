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


class LanguageMiddleware:
    """Simplified Chinese unless the user chose English with the switch (a cookie).

    Pages ignore the browser's Accept-Language (a bank's PCs are often set up in English);
    API clients may ask for a language with Accept-Language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings
        from django.utils import translation

        supported = {code for code, _name in settings.LANGUAGES}
        language = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        if language not in supported:
            if request.path.startswith("/api/"):
                language = translation.get_language_from_request(request)
            else:
                language = settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        translation.deactivate()
        return response

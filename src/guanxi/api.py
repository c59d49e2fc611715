"""The REST API under /api/v1/: one NinjaAPI, one router per app, Bearer tokens."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from ninja import NinjaAPI
from ninja.security import HttpBearer

from guanxi.core.services import token_authenticate


class BearerAuth(HttpBearer):
    def authenticate(self, request, token):
        user = token_authenticate(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Guanxi API",
    version="1",
    description="Customer relationship management for rural banks. Authenticate with `Authorization: Bearer <token>` "
    "(`guanxi token create USERNAME`).",
    auth=BearerAuth(),
    urls_namespace="api",
)


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    if hasattr(exc, "error_dict"):
        detail = [
            {"loc": ["body", field], "field": field, "msg": message, "type": "value_error"}
            for field, messages in exc.message_dict.items()
            for message in messages
        ]
    else:
        detail = [{"loc": ["body"], "field": None, "msg": message, "type": "value_error"} for message in exc.messages]
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc: PermissionDenied):
    return api.create_response(request, {"detail": str(exc) or "forbidden"}, status=403)


@api.exception_handler(Http404)
def on_not_found(request, exc: Http404):
    return api.create_response(request, {"detail": "not found"}, status=404)


from guanxi.core.api import router as core_router  # noqa: E402
from guanxi.customers.api import router as customers_router  # noqa: E402
from guanxi.segmentation.api import router as segments_router  # noqa: E402

api.add_router("/", core_router)
api.add_router("/customers", customers_router)
api.add_router("/segments", segments_router)

from guanxi.relationships.api import router as relationships_router  # noqa: E402

api.add_router("/relationships", relationships_router)

from guanxi.engagement.api import router as engagement_router  # noqa: E402

api.add_router("/engagement", engagement_router)

from guanxi.credit.api import router as credit_router  # noqa: E402

api.add_router("/credit", credit_router)

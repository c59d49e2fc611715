from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from guanxi.api import api
from guanxi.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("audit/", core_views.audit_log, name="audit_log"),
    path("staff/", core_views.staff_list, name="staff_list"),
    path("staff/new/", core_views.staff_edit, name="staff_create"),
    path("staff/<str:username>/", core_views.staff_edit, name="staff_edit"),
    path("customers/", include("guanxi.customers.urls")),
    path("relationships/", include("guanxi.relationships.urls")),
    path("segments/", include("guanxi.segmentation.urls")),
    path("credit/", include("guanxi.credit.urls")),
    path("engagement/", include("guanxi.engagement.urls")),
    path("jobs/", include("guanxi.site.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/v1/", api.urls),
]

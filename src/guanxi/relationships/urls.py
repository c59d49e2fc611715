from django.urls import path

from guanxi.relationships import views

app_name = "relationships"
urlpatterns = [
    path("rules/", views.rule_list, name="rules"),
    path("unassigned/", views.unassigned, name="unassigned"),
    path("transfer/", views.transfer, name="transfer"),
    path("customers/<int:customer_id>/history/", views.customer_history, name="customer_history"),
    path("customers/<int:customer_id>/owner/", views.owner_change, name="owner_change"),
    path("staff/<str:username>/history/", views.staff_history, name="staff_history"),
    path("tracking/", views.tracking_report, name="tracking"),
    path("tracking/export/", views.tracking_export, name="tracking_export"),
    path("tracking/stale/<str:username>/", views.tracking_stale, name="tracking_stale"),
]

from django.urls import path

from guanxi.customers import views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("import/", views.import_upload, name="import"),
    path("import/<int:run_id>/", views.import_status, name="import_status"),
    path("import/<int:run_id>/errors/", views.import_errors, name="import_errors"),
    path("validate/", views.customer_validate_field, name="validate"),
    path("<int:customer_id>/", views.customer_detail, name="detail"),
    path("<int:customer_id>/edit/", views.customer_edit, name="edit"),
    path("<int:customer_id>/reveal/<str:field>/", views.customer_reveal, name="reveal"),
    path("<int:customer_id>/members/", views.member_add, name="member_add"),
    path("export/", views.customer_export, name="export"),
    path("duplicates/", views.duplicate_list, name="duplicates"),
    path("duplicates/merge/", views.merge_confirm, name="merge_confirm"),
    path("merges/<int:merge_id>/revert/", views.merge_revert, name="merge_revert"),
]

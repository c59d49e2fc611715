from django.urls import path

from guanxi.segmentation import views

app_name = "segmentation"
urlpatterns = [
    path("", views.stats, name="stats"),
    path("stats.xlsx", views.stats_xlsx, name="stats_xlsx"),
    path("moves/", views.moves, name="moves"),
    path("thresholds/", views.threshold_list, name="thresholds"),
    path("thresholds/<str:market>/", views.threshold_edit, name="threshold_edit"),
    path("rules/", views.rule_list, name="rules"),
    path("rules/new/", views.rule_edit, name="rule_create"),
    path("rules/<int:rule_id>/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
    path("territories/", views.territory_list, name="territories"),
    path("territories/new/", views.territory_edit, name="territory_create"),
    path("territories/route/", views.territory_route, name="territory_route"),
    path("territories/<int:territory_id>/", views.territory_detail, name="territory_detail"),
    path("territories/<int:territory_id>/edit/", views.territory_edit, name="territory_edit"),
    path("territories/<int:territory_id>/delete/", views.territory_delete, name="territory_delete"),
    path("target-lists/", views.target_list_list, name="target_lists"),
    path("target-lists/new/", views.target_list_create, name="target_list_create"),
    path("target-lists/mine/", views.my_entries, name="my_entries"),
    path("target-lists/<int:list_id>/", views.target_list_detail, name="target_list_detail"),
    path("target-lists/<int:list_id>/edit/", views.target_list_edit, name="target_list_edit"),
    path("target-lists/<int:list_id>/build/", views.target_list_build, name="target_list_build"),
    path("target-lists/<int:list_id>/upload/", views.target_list_upload, name="target_list_upload"),
    path("target-lists/<int:list_id>/reassign/", views.target_list_reassign, name="target_list_reassign"),
    path("target-lists/<int:list_id>/progress.xlsx", views.target_list_xlsx, name="target_list_xlsx"),
    path("target-lists/<int:list_id>/entries/<int:entry_id>/", views.entry_detail, name="entry_detail"),
]

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
]

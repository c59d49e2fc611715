from django.urls import path

from guanxi.engagement import views

app_name = "engagement"
urlpatterns = [
    path("interactions/", views.interaction_list, name="interactions"),
    path("customers/<int:customer_id>/interactions/", views.interaction_create, name="interaction_create"),
    path("customers/<int:customer_id>/preferences/", views.contact_preference_update, name="preferences"),
    path("tasks/", views.follow_up_mine, name="tasks"),
    path("tasks/<int:follow_up_id>/complete/", views.follow_up_complete, name="task_complete"),
    path("visit-frequencies/", views.followup_rules, name="followup_rules"),
    path("care-plans/", views.care_plan_list, name="care_plans"),
    path("care-plans/new/", views.care_plan_edit, name="care_plan_create"),
    path("care-plans/<int:plan_id>/", views.care_plan_edit, name="care_plan_edit"),
    path("care-plans/<int:plan_id>/delete/", views.care_plan_delete, name="care_plan_delete"),
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("sms/inbound/", views.sms_inbound, name="sms_inbound"),
]

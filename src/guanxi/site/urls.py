from django.urls import path

from guanxi.site import views

app_name = "site"
urlpatterns = [
    path("", views.job_runs, name="jobs"),
]

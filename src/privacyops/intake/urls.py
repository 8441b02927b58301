"""Public pages, mounted under /privacy/."""

from django.urls import path

from privacyops.intake import views

app_name = "intake"

urlpatterns = [
    path("request", views.request_form_for_host, name="form_for_host"),
    path("request/", views.request_form_for_host),
    path("request/<slug:slug>/", views.request_form, name="form"),
    path("request/<slug:slug>/sent/", views.request_sent, name="sent"),
    path("request/<slug:slug>/verify/<str:token>/", views.request_verify, name="verify"),
]

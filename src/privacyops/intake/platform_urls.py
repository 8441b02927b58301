"""The operator queue, mounted under /platform/requests/."""

from django.urls import path

from privacyops.intake import views

app_name = "intake_platform"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/link/", views.link, name="link"),
    path("<int:pk>/fulfil/", views.fulfil, name="fulfil"),
    path("<int:pk>/close/", views.close, name="close"),
    path("<int:pk>/reject/", views.reject, name="reject"),
    path("<int:pk>/extend/", views.extend, name="extend"),
]

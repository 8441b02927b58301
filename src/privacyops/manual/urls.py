"""The owner's page at /manual/<token>/ (public) and the resend action under Platform → Privacy."""

from django.urls import path

from privacyops.manual import views

app_name = "manual"

urlpatterns = [
    path("manual/<str:token>/", views.owner_page, name="owner"),
    path("platform/privacy/manual/<int:task_id>/resend/", views.resend_view, name="resend"),
]

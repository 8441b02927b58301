"""The workspace GDPR screen, mounted under /workspace/<slug>/gdpr/."""

from django.urls import path

from privacyops.workspace import views

app_name = "workspace"

urlpatterns = [
    path("", views.gdpr_screen, name="gdpr"),
    path("subjects/<str:subject_id>/export/", views.gdpr_export_view, name="gdpr-export"),
    path("subjects/<str:subject_id>/erase/", views.gdpr_erase_view, name="gdpr-erase"),
]

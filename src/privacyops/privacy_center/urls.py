"""The privacy center, mounted under /privacy/ next to the public intake form (privacy/request)."""

from django.urls import include, path, re_path

from privacyops.privacy_center import views

app_name = "privacy_center"

tenant_patterns = [
    path("", views.center, name="center"),
    path("code/", views.code_request, name="code"),
    path("verify/", views.code_verify, name="verify"),
    path("export/", views.export_request, name="export"),
    path("delete/", views.deletion_request, name="delete"),
    path("requests/<int:job_id>/cancel/", views.request_cancel, name="cancel"),
    path("downloads/<uuid:artifact_id>/", views.download, name="download"),
    path("requests/<int:request_id>/receipt/", views.receipt, name="receipt"),
    path("requests/<int:request_id>/renew/", views.renew, name="renew"),
    path("sign-out/", views.sign_out, name="sign-out"),
]

urlpatterns = [
    path("", views.center_for_host, name="for_host"),
    # `request…` belongs to the intake form.
    re_path(r"^(?!request/)(?P<slug>[-a-zA-Z0-9_]+)/", include(tenant_patterns)),
]

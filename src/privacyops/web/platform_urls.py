"""Platform → Privacy: the staff (and tenant admin) pages for jobs, legal holds and audit."""

from django.urls import path

from privacyops.audit import views as audit_views
from privacyops.execution import views as execution_views
from privacyops.holds import views as hold_views
from privacyops.jobs import views as job_views
from privacyops.retention import views as retention_views

app_name = "platform"

urlpatterns = [
    path("", job_views.overview, name="overview"),
    path("jobs/", job_views.overview, name="jobs"),
    path("jobs/new/", job_views.job_new, name="job-new"),
    path("jobs/preview/", job_views.job_preview, name="job-preview"),
    path("people/", job_views.people_search, name="people-search"),
    path("jobs/export.csv", job_views.jobs_export_csv, name="jobs-export-csv"),
    path("jobs/bulk/", job_views.jobs_bulk, name="jobs-bulk"),
    path("jobs/<int:job_id>/", job_views.job_detail, name="job-detail"),
    path("jobs/<int:job_id>/row/", job_views.job_row, name="job-row"),
    path("jobs/<int:job_id>/receipt/", execution_views.job_receipt, name="job-receipt"),
    path("jobs/<int:job_id>/progress/", job_views.job_progress, name="job-progress"),
    path("jobs/<int:job_id>/approve/", job_views.job_approve_view, name="job-approve"),
    path("jobs/<int:job_id>/reject/", job_views.job_reject_view, name="job-reject"),
    path("jobs/<int:job_id>/retry/", job_views.job_retry_view, name="job-retry"),
    path("jobs/<int:job_id>/steps/<str:system>/pick/", job_views.job_step_pick_view,
         name="job-step-pick"),
    path("holds/", hold_views.hold_list, name="holds"),
    path("holds/export.csv", hold_views.holds_export_csv, name="holds-export-csv"),
    path("holds/<int:hold_id>/", hold_views.hold_detail, name="hold-detail"),
    path("holds/<int:hold_id>/release/", hold_views.hold_release_view, name="hold-release"),
    path("audit/", audit_views.audit_list, name="audit"),
    path("audit/export.csv", audit_views.audit_export, {"fmt": "csv"}, name="audit-export-csv"),
    path("audit/export.jsonl", audit_views.audit_export, {"fmt": "jsonl"},
         name="audit-export-jsonl"),
    path("audit/verify/", audit_views.audit_verify_view, name="audit-verify"),
    path("retention/", retention_views.retention_list, name="retention"),
    path("ropa/", retention_views.ropa_page, name="ropa"),
]

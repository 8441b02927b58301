"""The operator queue, mounted under /platform/requests/."""

from django.urls import path

from privacyops.intake import views

app_name = "intake_platform"

urlpatterns = [
    path("", views.queue, name="queue"),
    path("export.csv", views.queue_csv, name="export"),
    path("new/", views.new_request, name="new"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/jobs/", views.jobs_fragment, name="jobs"),
    path("<int:pk>/verify/", views.verify, name="verify"),
    path("<int:pk>/assign/", views.assign, name="assign"),
    path("<int:pk>/note/", views.note, name="note"),
    path("<int:pk>/withdraw/", views.withdraw, name="withdraw"),
    path("<int:pk>/merge/", views.merge, name="merge"),
    path("<int:pk>/keep/", views.keep, name="keep"),
    path("<int:pk>/link/", views.link, name="link"),
    path("<int:pk>/fulfil/", views.fulfil, name="fulfil"),
    path("<int:pk>/close/", views.close, name="close"),
    path("<int:pk>/reject/", views.reject, name="reject"),
    path("<int:pk>/extend/", views.extend, name="extend"),
]

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "privacyops.jobs"
    label = "jobs"

from django.apps import AppConfig


class RetentionConfig(AppConfig):
    name = "privacyops.retention"
    label = "retention"

from django.apps import AppConfig


class ExecutionConfig(AppConfig):
    name = "privacyops.execution"
    label = "execution"

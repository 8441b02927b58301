from django.apps import AppConfig


class IntakeConfig(AppConfig):
    name = "privacyops.intake"
    label = "intake"

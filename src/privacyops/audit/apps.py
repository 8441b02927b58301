from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "privacyops.audit"
    label = "audit"

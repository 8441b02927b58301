from django.apps import AppConfig


class TenancyConfig(AppConfig):
    name = "privacyops.tenancy"
    label = "tenancy"

from django.apps import AppConfig


class HoldsConfig(AppConfig):
    name = "privacyops.holds"
    label = "holds"

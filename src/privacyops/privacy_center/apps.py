from django.apps import AppConfig


class PrivacyCenterConfig(AppConfig):
    name = "privacyops.privacy_center"
    label = "privacy_center"

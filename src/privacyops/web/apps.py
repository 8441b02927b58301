from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "privacyops.web"
    label = "web"

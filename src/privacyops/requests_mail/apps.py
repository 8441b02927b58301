from django.apps import AppConfig


class RequestsMailConfig(AppConfig):
    name = "privacyops.requests_mail"
    label = "requests_mail"

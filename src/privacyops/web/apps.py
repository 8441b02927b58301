from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "privacyops.web"
    label = "web"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from privacyops.web.security import stamp_sign_in

        user_logged_in.connect(stamp_sign_in, dispatch_uid="privacyops-idle-clock")

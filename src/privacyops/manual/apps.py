from django.apps import AppConfig


class ManualConfig(AppConfig):
    name = "privacyops.manual"
    label = "manual"
    verbose_name = "Manual systems"

    def ready(self) -> None:
        from privacyops.manual import steps

        steps.connect()

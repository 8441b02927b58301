from django.apps import AppConfig


class WorkspaceConfig(AppConfig):
    name = "privacyops.workspace"
    label = "workspace"

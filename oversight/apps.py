from django.apps import AppConfig


class OversightConfig(AppConfig):
    """What auditors, supervisors and operators read across the other apps (the top layer)."""

    name = "oversight"

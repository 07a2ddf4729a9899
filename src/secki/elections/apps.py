from django.apps import AppConfig


class ElectionsConfig(AppConfig):
    name = "secki.elections"
    label = "elections"
    verbose_name = "Elections"

    def ready(self) -> None:
        # The configuration's system checks (secki.E001 …, secki.W001 …) are registered by the
        # lowest of Secki's apps, so that every command that loads Django runs them.
        from secki import checks  # noqa: F401

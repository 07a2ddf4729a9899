from django.apps import AppConfig


class ElectionsConfig(AppConfig):
    name = "secki.elections"
    label = "elections"
    verbose_name = "Elections"

from django.apps import AppConfig


class OpendataConfig(AppConfig):
    name = "secki.opendata"
    label = "opendata"
    verbose_name = "Open data"

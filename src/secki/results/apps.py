from django.apps import AppConfig


class ResultsConfig(AppConfig):
    name = "secki.results"
    label = "results"
    verbose_name = "Results"

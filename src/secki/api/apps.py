from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "secki.api"
    label = "api"
    verbose_name = "API"

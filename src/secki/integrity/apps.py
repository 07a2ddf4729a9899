from django.apps import AppConfig


class IntegrityConfig(AppConfig):
    name = "secki.integrity"
    label = "integrity"
    verbose_name = "Integrity"

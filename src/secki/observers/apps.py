from django.apps import AppConfig


class ObserversConfig(AppConfig):
    name = "secki.observers"
    label = "observers"
    verbose_name = "Observers"

from django.apps import AppConfig


class TurnoutConfig(AppConfig):
    name = "secki.turnout"
    label = "turnout"
    verbose_name = "Turnout"

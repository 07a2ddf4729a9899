from django.apps import AppConfig


class ProtocolsConfig(AppConfig):
    name = "secki.protocols"
    label = "protocols"
    verbose_name = "Protocols"

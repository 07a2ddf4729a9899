from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "secki.portal"
    label = "portal"
    verbose_name = "Public site"

from django.apps import AppConfig


class AuditsConfig(AppConfig):
    name = "secki.audits"
    label = "audits"
    verbose_name = "Risk-limiting audits"

from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "secki.ledger"
    label = "ledger"
    verbose_name = "Public log"

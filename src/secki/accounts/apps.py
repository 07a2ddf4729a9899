from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "secki.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from secki.accounts import signals

        signals.connect()

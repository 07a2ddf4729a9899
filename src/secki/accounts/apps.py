import contextlib

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "secki.accounts"
    label = "accounts"
    verbose_name = "Accounts and roles"

    def ready(self) -> None:
        from django.utils.translation import gettext

        from secki import errors
        from secki.accounts import signals

        signals.connect()
        _no_device_admin()
        errors.translate = gettext  # refusals read in the reader's language (secki.errors)


def _no_device_admin() -> None:
    """django-otp's admin pages would change or delete authenticators and recovery codes
    without an audit record: a lost phone is reset by ``secki reset-2fa`` (an audited action).
    The admin's autodiscovery (django.contrib.admin comes first in INSTALLED_APPS) has run."""
    from django.contrib import admin
    from django.contrib.admin.exceptions import NotRegistered
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    for model in (TOTPDevice, StaticDevice):
        with contextlib.suppress(NotRegistered):
            admin.site.unregister(model)

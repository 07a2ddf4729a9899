from django.contrib import admin

from secki.turnout.models import TurnoutReport


@admin.register(TurnoutReport)
class TurnoutReportAdmin(admin.ModelAdmin[TurnoutReport]):
    """Read-only: corrections are new versions, made through the turnout actions."""

    list_display = ("station", "time", "voters", "version", "is_current", "received_at")
    list_filter = ("election", "time", "is_current")
    search_fields = ("station__code",)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

from django.contrib import admin

from secki.protocols.models import Protocol, ProtocolValue


class ProtocolValueInline(admin.TabularInline[ProtocolValue, Protocol]):
    model = ProtocolValue
    extra = 0
    readonly_fields = ("code", "value")
    can_delete = False


@admin.register(Protocol)
class ProtocolAdmin(admin.ModelAdmin[Protocol]):
    """Read-only: protocols change only through their actions (new versions, never edits)."""

    list_display = ("station", "version", "status", "source", "is_current", "received_at")
    list_filter = ("election", "status", "source", "is_current")
    search_fields = ("station__code",)
    inlines = (ProtocolValueInline,)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

from django.contrib import admin
from django.http import HttpRequest

from secki.accounts.models import ApiToken, AuditRecord, Membership


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin[Membership]):
    list_display = ("user", "election", "role", "unit", "station")
    list_filter = ("election", "role")
    raw_id_fields = ("unit", "station")
    search_fields = ("user__username",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("name", "user", "created_at", "revoked_at", "last_used_at")
    readonly_fields = ("key_hash", "created_at", "last_used_at")
    list_filter = ("revoked_at",)


@admin.register(AuditRecord)
class AuditRecordAdmin(admin.ModelAdmin[AuditRecord]):
    """Read-only: the trail is written by actions, never by hand."""

    list_display = ("at", "actor_name", "action", "election", "target", "ip")
    list_filter = ("action", "election")
    search_fields = ("actor_name", "target")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditRecord | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditRecord | None = None) -> bool:
        return False

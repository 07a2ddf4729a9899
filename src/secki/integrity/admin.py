from django.contrib import admin
from django.http import HttpRequest

from secki.integrity.models import (
    ExitPoll,
    IntegritySettings,
    ObserverGroup,
    PvtCount,
    PvtSample,
    PvtStation,
)


@admin.register(IntegritySettings)
class IntegritySettingsAdmin(admin.ModelAdmin[IntegritySettings]):
    list_display = ("election", "public", "updated_at", "updated_by")
    list_filter = ("public",)
    readonly_fields = ("updated_at", "updated_by")


@admin.register(ObserverGroup)
class ObserverGroupAdmin(admin.ModelAdmin[ObserverGroup]):
    list_display = ("name", "contact", "created_at")
    search_fields = ("name",)


class PvtStationInline(admin.TabularInline[PvtStation, PvtSample]):
    model = PvtStation
    extra = 0
    can_delete = False
    readonly_fields = ("station", "stratum", "ticket")

    def has_add_permission(self, request: HttpRequest, obj: PvtSample | None = None) -> bool:
        return False


@admin.register(PvtSample)
class PvtSampleAdmin(admin.ModelAdmin[PvtSample]):
    """Read-only: a sample is a public commitment, registered through the integrity pages."""

    list_display = ("group", "election", "method", "seed", "created_at")
    list_filter = ("election", "method")
    inlines = (PvtStationInline,)

    def has_change_permission(self, request: HttpRequest, obj: PvtSample | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(PvtCount)
class PvtCountAdmin(admin.ModelAdmin[PvtCount]):
    """Read-only: corrections are new versions, entered through the form or the API."""

    list_display = ("sample", "station", "version", "is_current", "valid", "entered_at")
    list_filter = ("sample", "is_current")
    search_fields = ("station__code",)

    def has_change_permission(self, request: HttpRequest, obj: PvtCount | None = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ExitPoll)
class ExitPollAdmin(admin.ModelAdmin[ExitPoll]):
    list_display = ("organisation", "election", "stations", "respondents", "created_at")
    list_filter = ("election",)

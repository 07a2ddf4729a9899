from django.contrib import admin

from secki.elections.models import (
    Candidate,
    ControlRelation,
    Election,
    ProtocolLine,
    Station,
    Unit,
)


class ProtocolLineInline(admin.TabularInline[ProtocolLine, Election]):
    model = ProtocolLine
    extra = 0


class ControlRelationInline(admin.TabularInline[ControlRelation, Election]):
    model = ControlRelation
    extra = 0


class CandidateInline(admin.TabularInline[Candidate, Election]):
    model = Candidate
    extra = 0


@admin.register(Election)
class ElectionAdmin(admin.ModelAdmin[Election]):
    list_display = ("name", "slug", "kind", "date", "simulated")
    list_filter = ("kind", "simulated")
    search_fields = ("name", "slug")
    inlines = (CandidateInline, ProtocolLineInline, ControlRelationInline)


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin[Unit]):
    list_display = ("code", "name", "kind", "number", "parent", "election")
    list_filter = ("election", "kind")
    search_fields = ("code", "name", "ocd_id")
    raw_id_fields = ("parent",)
    readonly_fields = ("path", "depth")


@admin.register(Station)
class StationAdmin(admin.ModelAdmin[Station]):
    list_display = (
        "code",
        "name",
        "unit",
        "registered",
        "abroad",
        "temporary",
        "webcam",
        "webcam_url",
    )
    list_filter = ("election", "abroad", "temporary", "webcam")
    search_fields = ("code", "name", "address", "ocd_id", "webcam_url")
    raw_id_fields = ("unit",)
    readonly_fields = ("unit_path",)


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin[Candidate]):
    list_display = ("number", "name", "party", "election")
    list_filter = ("election",)

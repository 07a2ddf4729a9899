"""The Django admin of the registry: every save and delete goes through
:mod:`secki.accounts.actions` (role, territory, the frozen register, an audit record).

While an election is not in ``setup`` its register (units, stations, candidates, the protocol
form) is shown read-only here and cannot be deleted; a station then changes only by
``secki amend-register`` (an audited amendment with a reason, logged publicly).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest

from secki.accounts import actions
from secki.accounts.admin import ActionAdmin
from secki.elections.models import (
    Candidate,
    ControlRelation,
    Election,
    ElectionStatus,
    ProtocolLine,
    Station,
    Unit,
)

R = TypeVar("R", bound=models.Model)


def _open(election: Election | None) -> bool:
    """Whether the election's register is frozen (it is not being set up)."""
    return election is not None and election.status != ElectionStatus.SETUP


class _SetupInline(admin.TabularInline[R, Election]):
    """Rows of an election's setup: editable only while the election is being set up (the
    rows are saved by ElectionAdmin.save_related through the actions)."""

    extra = 0

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _open(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _open(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not _open(obj) and super().has_delete_permission(request, obj)


class ProtocolLineInline(_SetupInline[ProtocolLine]):
    model = ProtocolLine


class ControlRelationInline(_SetupInline[ControlRelation]):
    model = ControlRelation


class CandidateInline(_SetupInline[Candidate]):
    model = Candidate


@admin.register(Election)
class ElectionAdmin(ActionAdmin[Election]):
    """Created, changed (settings, status) and deleted through the actions. A new election
    is created in ``setup``, its rows added, and then moved to the status chosen."""

    list_display = ("name", "slug", "kind", "date", "status", "simulated")
    list_filter = ("kind", "status", "simulated")
    search_fields = ("name", "slug")
    inlines = (CandidateInline, ProtocolLineInline, ControlRelationInline)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Election | None = None
    ) -> tuple[str, ...]:
        fixed = ("protocol_schema_name", "created_at")
        return (*fixed, "slug", "simulated") if obj is not None else fixed

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), "status": ElectionStatus.SETUP}

    def save_model(
        self, request: HttpRequest, obj: Election, form: ModelForm[Election], change: bool
    ) -> None:
        if not change:
            wanted = obj.status
            obj.status = ElectionStatus.SETUP
            actions.create_election(request.user, obj, request=request)
            request._secki_status = wanted  # type: ignore[attr-defined]  # set in save_related
            return
        stored = Election.objects.get(pk=obj.pk)
        changes = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name != "status" and name in actions.SETTINGS
        }
        if changes:
            actions.change_election(request.user, stored, request=request, **changes)
        if "status" in form.changed_data:
            actions.set_status(request.user, stored, obj.status, request=request)
        obj.refresh_from_db()

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[Election],
        formset: BaseModelFormSet[Any, Any],
        change: bool,
    ) -> None:
        for row in formset.save(commit=False):
            actions.save_setup_row(request.user, row, request=request)
        for gone in formset.deleted_objects:
            actions.delete_setup_row(request.user, gone, request=request)

    def save_related(
        self,
        request: HttpRequest,
        form: ModelForm[Election],
        formsets: list[BaseModelFormSet[Any, Any]],
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        wanted = getattr(request, "_secki_status", None)
        if wanted and wanted != ElectionStatus.SETUP:
            actions.set_status(request.user, form.instance, wanted, request=request)

    def delete_model(self, request: HttpRequest, obj: Election) -> None:
        actions.delete_election(request.user, obj, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Election]) -> None:
        for election in queryset:
            actions.delete_election(request.user, election, request=request)


class _RegisterAdmin(ActionAdmin[R]):
    """A register row: saved and deleted through the actions; read-only and not deletable
    once its election is open."""

    def _election(self, obj: R | None) -> Election | None:
        return getattr(obj, "election", None) if obj is not None else None

    def get_readonly_fields(self, request: HttpRequest, obj: R | None = None) -> Any:
        if _open(self._election(obj)):
            return [f.name for f in self.model._meta.fields if f.editable]
        return super().get_readonly_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: R | None = None) -> bool:
        return not _open(self._election(obj)) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: R, form: ModelForm[R], change: bool) -> None:
        actions.save_setup_row(request.user, obj, request=request)

    def delete_model(self, request: HttpRequest, obj: R) -> None:
        actions.delete_setup_row(request.user, obj, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[R]) -> None:
        for obj in queryset:
            actions.delete_setup_row(request.user, obj, request=request)


@admin.register(Unit)
class UnitAdmin(_RegisterAdmin[Unit]):
    list_display = ("code", "name", "kind", "number", "parent", "election")
    list_filter = ("election", "kind")
    search_fields = ("code", "name", "ocd_id")
    raw_id_fields = ("parent",)
    readonly_fields = ("path", "depth")


@admin.register(Station)
class StationAdmin(_RegisterAdmin[Station]):
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

    def formfield_for_dbfield(
        self, db_field: models.Field[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> Any:
        if db_field.name == "webcam_url":
            kwargs["assume_scheme"] = "https"  # a stream address without one is https
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(Candidate)
class CandidateAdmin(_RegisterAdmin[Candidate]):
    list_display = ("number", "name", "party", "election")
    list_filter = ("election",)

"""The Django admin of memberships, tokens, the audit trail and the registry.

The admin is no way around the actions: every save and delete of a membership, a token or a
row of the registry goes through :mod:`secki.accounts.actions` (role, territory, the frozen
register, audit record), and a refusal is shown as an error message with nothing stored
(:class:`ActionAdmin`). The registry's admin lives here, above the registry, because it is
made of these actions.

While an election is not in ``setup`` its register (units, stations, candidates, the protocol
form) is shown read-only here and cannot be deleted; a station then changes only by
``secki amend-register`` (an audited amendment with a reason, logged publicly).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secki.accounts import actions
from secki.accounts.access import AccessDenied
from secki.accounts.models import ApiToken, AuditRecord, Membership
from secki.elections.models import (
    Candidate,
    ControlRelation,
    Election,
    ElectionStatus,
    ProtocolLine,
    Station,
    Unit,
)
from secki.errors import IntakeError

M = TypeVar("M", bound=models.Model)


class ActionAdmin(admin.ModelAdmin[M]):
    """A refused action (AccessDenied, IntakeError) raised while saving or deleting becomes
    an error message on the same page; the view's transaction is rolled back, so nothing of
    the change is stored."""

    def _refused(self, request: HttpRequest, exc: IntakeError | AccessDenied) -> HttpResponse:
        self.message_user(
            request, _("Refused: %(reason)s") % {"reason": exc.message}, messages.ERROR
        )
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (IntakeError, AccessDenied) as exc:
            return self._refused(request, exc)

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except (IntakeError, AccessDenied) as exc:
            return self._refused(request, exc)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            with transaction.atomic():  # a bulk action is all or nothing
                return super().changelist_view(request, extra_context)
        except (IntakeError, AccessDenied) as exc:
            return self._refused(request, exc)


@admin.register(Membership)
class MembershipAdmin(ActionAdmin[Membership]):
    """Granted and revoked through the actions; a membership is not edited in place (revoke
    it and grant another)."""

    list_display = ("user", "election", "role", "unit", "station")
    list_filter = ("election", "role")
    raw_id_fields = ("unit", "station")
    search_fields = ("user__username",)

    def has_change_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Membership, form: ModelForm[Membership], change: bool
    ) -> None:
        granted = actions.grant(
            request.user,
            obj.user,
            obj.election,
            obj.role,
            unit=obj.unit,
            station=obj.station,
            request=request,
        )
        obj.pk = granted.pk

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        actions.revoke(request.user, obj, request=request)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for m in queryset.select_related("user", "election", "unit", "station"):
            actions.revoke(request.user, m, request=request)


@admin.register(ApiToken)
class ApiTokenAdmin(ActionAdmin[ApiToken]):
    """Tokens are issued by their owners on the staff page (the key is shown once there);
    here they can only be revoked, through the action."""

    list_display = ("name", "user", "created_at", "revoked_at", "last_used_at")
    readonly_fields = ("key_hash", "created_at", "last_used_at")
    list_filter = ("revoked_at",)
    actions = ("revoke_tokens",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Revoke the selected tokens"))
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        done = sum(actions.revoke_token(request.user, t, request=request) for t in queryset)
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": done})


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


# -- the registry ----------------------------------------------------------------------------------


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
    list_display = ("number", "ballot_number", "name", "party", "election")
    list_filter = ("election",)

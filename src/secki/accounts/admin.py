"""The Django admin of memberships, tokens and the audit trail.

The admin is no way around the actions: every save and delete of a membership or a token
goes through :mod:`secki.accounts.actions` (role, territory, audit record), and a refusal is
shown as an error message with nothing stored (:class:`ActionAdmin`).
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secki.accounts import actions
from secki.accounts.access import AccessDenied
from secki.accounts.models import ApiToken, AuditRecord, Membership
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

"""The Content-Security-Policy header on every response (``CONTENT_SECURITY_POLICY`` in the
settings, django-csp's format).

django-csp's own middleware builds the header from the settings twice per response (the policy
and the report-only one) to allow nonces and per-view changes; Secki uses neither
(no inline script or style anywhere, one policy for the whole site), so the header is built
once per process and again only when the setting changes (tests). A response that already
carries the header keeps it: the scans' stricter policy (``secki.portal.views.scan_file``).
"""

from __future__ import annotations

from typing import Any

from csp.constants import HEADER
from csp.middleware import CSPMiddleware
from csp.utils import build_policy
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.http.response import HttpResponseBase

_built: list[str] = []


def policy() -> str:
    """The site's policy as the header's value (built on first use)."""
    if not _built:
        _built.append(build_policy())
    return _built[0]


@receiver(setting_changed)
def _rebuild(*, setting: str, **kwargs: Any) -> None:
    if setting == "CONTENT_SECURITY_POLICY":
        _built.clear()


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """django-csp's middleware with the site's one policy built once (see the module)."""

    def process_request(self, request: HttpRequest) -> None:
        return None  # no nonces: the site has no inline script to allow

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        value = policy()
        if value and HEADER not in response and not getattr(response, "_csp_exempt", False):
            response[HEADER] = value
        return response

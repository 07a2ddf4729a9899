"""An address under /api/ that matches no operation (a non-number where an id goes) is answered
in the API's JSON error shape, in the request's language; elsewhere the site's 404 page."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_an_unmatched_api_address_gets_the_apis_404() -> None:
    for path in (
        "/api/v1/elections/x/audits/not-a-number",
        "/api/v1/elections/x/observers/incidents/abc/status",
        "/api/v1/no-such-thing",
    ):
        response = Client().get(path)
        assert response.status_code == 404, path
        assert response["Content-Type"].startswith("application/json"), path
        assert response.json()["error"]["code"] == "not_found"
    page = Client().get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")

"""Issue 12: the log-in lockout behind the production server (Granian, ``secki serve``'s
command), with the client's address passed by a proxy in ``X-Real-IP``
(``SECKI_CLIENT_IP_HEADER``). Its own SQLite file, not the test database: runs once."""

from __future__ import annotations

import http.cookiejar
import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from secki.server import free_port, server_command
from tests.factories import run_secki, stop_group

MAKE_USER = (
    "from django.contrib.auth import get_user_model\n"
    "get_user_model().objects.create_user('clerk', password='pw-clerk-1')\n"
)
AUDIT = (
    "from secki.accounts.models import AuditRecord\n"
    "for r in AuditRecord.objects.order_by('id'): print(r.action, r.target, r.ip)\n"
)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Browser:
    """Cookies and the CSRF token, as a browser behind the proxy at ``address`` has them."""

    def __init__(self, port: int, address: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.address = address
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect
        )

    def log_in(self, password: str) -> tuple[int, str, Message]:
        page = self.opener.open(self._request("/staff/login/")).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        form = {"csrfmiddlewaretoken": token.group(1), "username": "clerk", "password": password}
        request = self._request("/staff/login/", urllib.parse.urlencode(form).encode())
        try:
            with self.opener.open(request) as response:
                return response.status, response.read().decode(), response.headers
        except urllib.error.HTTPError as answer:  # 302 (not followed) and 429
            return answer.code, answer.read().decode(), answer.headers

    def _request(self, path: str, data: bytes | None = None) -> urllib.request.Request:
        headers = {"X-Real-IP": self.address, "Referer": self.base + path}
        return urllib.request.Request(self.base + path, data=data, headers=headers)  # noqa: S310 - http://127.0.0.1


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    env = {
        **os.environ,
        "SECKI_VAR_DIR": str(tmp_path / "var"),
        "SECKI_SNAPSHOT_AUTO": "0",
        "SECKI_LOGIN_FAILURES": "3",
        "SECKI_CLIENT_IP_HEADER": "X-Real-IP",
    }
    env.pop("DATABASE_URL", None)
    run_secki(env, "manage", "migrate", "--verbosity", "0")
    run_secki(env, "manage", "shell", "-c", MAKE_USER)
    port = free_port()
    proc = subprocess.Popen(
        server_command("127.0.0.1", port, workers=1, threads=2), env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/staff/login/")
                break
            except OSError:
                assert proc.poll() is None, "the application server exited"
                assert time.monotonic() < deadline, "the application server did not start"
                time.sleep(0.1)
        yield port, env
    finally:
        stop_group(proc)


def test_lockout_behind_the_production_server(served: tuple[int, dict[str, str]]) -> None:
    port, env = served
    office = Browser(port, "198.51.100.7")
    answers = [office.log_in("wrong") for _ in range(4)]
    assert [status for status, _, _ in answers] == [200, 200, 429, 429]
    assert "Too many log-in attempts" in answers[2][1] and int(answers[2][2]["Retry-After"]) > 0
    status, _, _ = office.log_in("pw-clerk-1")
    assert status == 429  # the right password, during the lockout

    # another address (another office behind the same proxy) is not locked out
    status, _, headers = Browser(port, "198.51.100.8").log_in("pw-clerk-1")
    assert status == 302 and headers["Location"] == "/staff/"

    run_secki(env, "manage", "axes_reset_username", "clerk")
    status, _, headers = office.log_in("pw-clerk-1")
    assert status == 302 and headers["Location"] == "/staff/"

    out = run_secki(env, "manage", "shell", "-c", AUDIT).stdout.splitlines()
    trail = [line for line in out if line.startswith("login")]
    assert trail == [
        "login.failed clerk 198.51.100.7",
        "login.failed clerk 198.51.100.7",
        "login.locked_out clerk 198.51.100.7",
        "login.failed clerk 198.51.100.7",
        "login.failed clerk 198.51.100.7",
        "login.failed clerk 198.51.100.7",
        "login clerk 198.51.100.8",
        "login clerk 198.51.100.7",
    ]

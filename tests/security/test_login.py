"""Issue 12, log-ins: lockout after repeated failures (django-axes), two-factor log-in for
every role that can change results (django-otp), and the audit records of both.

The finding: "20 wrong passwords for `cec` all answered 200, the right one worked at once".
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.core.management import call_command
from django.db.models import F
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from secki.accounts.models import AuditRecord
from secki.elections.models import Election
from tests.personas import authenticator, enrol_authenticator
from tests.staff.conftest import Personas, load_election

pytestmark = pytest.mark.django_db


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return load_election(tmp_path / "bundle")


@pytest.fixture
def personas(election: Election) -> Personas:
    """admin (CEC), north (constituency), op11 (station), supervisor, observer, outsider."""
    return Personas(election)


LOGIN = "/staff/login/"
CODE = "/staff/login/code/"
ENROL = "/staff/login/enrol/"


def log_in(client: Client, name: str, password: str | None = None, **extra: Any) -> Any:
    return client.post(
        LOGIN, {"username": name, "password": password or f"pw-{name}", "next": "/staff/"}, **extra
    )


def records(action: str, target: str) -> list[AuditRecord]:
    return list(AuditRecord.objects.filter(action=action, target=target))


def logged_in_as(client: Client) -> str | None:
    """Who the staff pages see (None: they send the visitor to the log-in page)."""
    response = client.get("/staff/")
    if response.status_code == 302:
        assert response["Location"].startswith(LOGIN)
        return None
    assert response.status_code == 200
    return str(response.context["user"].get_username())


def end_cool_off() -> None:
    """Move every recorded failure back past the cool-off (the clock, deterministically)."""
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    )


# --- lockout ---------------------------------------------------------------------------------


def test_wrong_passwords_lock_the_name_out_and_even_the_right_one_is_refused(
    personas: Personas,
) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    assert limit == 5  # SECKI_LOGIN_FAILURES' default
    client = Client()
    answers = [log_in(client, "admin", "wrong") for _ in range(20)]
    # the first failures are ordinary refusals, from the limit on the page says locked out
    assert [a.status_code for a in answers] == [200] * (limit - 1) + [429] * (20 - limit + 1)
    assert 'role="alert"' in answers[0].content.decode()
    page = answers[limit - 1].content.decode()
    assert "Too many log-in attempts" in page and "even the right password is refused" in page
    assert 0 < int(answers[-1]["Retry-After"]) <= 15 * 60

    right = log_in(client, "admin")
    assert right.status_code == 429 and logged_in_as(client) is None
    # refused tries do not prolong the lockout: the failures counted stop at the limit
    assert AccessAttempt.objects.get(username="admin").failures_since_start == limit

    # every failure and the lockout are in the audit trail, with the address
    failed = records("login.failed", "admin")
    assert len(failed) == 21
    assert [r.after["reason"] for r in failed] == ["wrong_password"] * limit + ["locked_out"] * 16
    assert {(r.actor, r.actor_name, r.ip) for r in failed} == {(None, "anonymous", "127.0.0.1")}
    (lockout,) = records("login.locked_out", "admin")
    assert lockout.after == {"failures": limit, "cool_off_minutes": 15}
    assert lockout.ip == "127.0.0.1"
    assert failed[limit - 2].at <= lockout.at <= failed[limit].at

    # after the cool-off the right password works again (here: password, then the code step)
    end_cool_off()
    assert log_in(client, "admin")["Location"] == ENROL


def test_the_lockout_is_per_address_and_can_be_lifted(personas: Personas) -> None:
    """By user name *and* address: the same name from elsewhere still gets in (nobody can lock
    an official out from another network; colleagues behind one NAT do not lock each other)."""
    here, elsewhere = Client(), Client(REMOTE_ADDR="10.1.2.3")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(here, "observer", "wrong")
    assert log_in(here, "observer").status_code == 429
    assert log_in(Client(), "op11").status_code == 302  # another name from the same address
    other = log_in(elsewhere, "observer")
    assert other.status_code == 302 and logged_in_as(elsewhere) == "observer"
    # an administrator lifts the lockout early
    call_command("axes_reset_username", "observer")
    assert log_in(here, "observer").status_code == 302 and logged_in_as(here) == "observer"


def test_wrong_codes_count_like_wrong_passwords(personas: Personas) -> None:
    enrol_authenticator(personas["op11"])
    client = Client()
    assert log_in(client, "op11")["Location"] == CODE
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = client.post(CODE, {"code": "000000"})
        assert refused.status_code == 200 and "This code was not accepted" in (
            refused.content.decode()
        )
    assert client.post(CODE, {"code": "000000"}).status_code == 429
    # the pending log-in is gone: the password is asked again, and it is locked out
    assert client.get(CODE)["Location"] == LOGIN
    assert log_in(client, "op11").status_code == 429
    assert [r.after["reason"] for r in records("2fa.failed", "op11")] == ["wrong_code"] * 5
    assert len(records("login.locked_out", "op11")) == 1
    assert logged_in_as(client) is None


def test_a_bad_header_address_falls_back_to_the_peer(personas: Personas, settings: Any) -> None:
    """Behind a proxy (SECKI_CLIENT_IP_HEADER) the client's address comes from its header."""
    settings.SECKI_CLIENT_IP_HEADER = "X-Real-IP"
    proxied = Client(HTTP_X_REAL_IP="203.0.113.7")
    log_in(proxied, "observer", "wrong")
    log_in(Client(HTTP_X_REAL_IP="not an address"), "observer", "wrong")
    assert [r.ip for r in records("login.failed", "observer")] == ["203.0.113.7", "127.0.0.1"]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.7",
        "127.0.0.1",
    }


# --- two-factor log-in -----------------------------------------------------------------------


def password_only_session(user: Any) -> Client:
    """A session logged in by the password alone (as any log-in outside the site's own log-in
    page would make it): Django's session keys, no verified device."""
    client = Client()
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = store.session_key
    return client


def staff_urls(election: Election) -> list[str]:
    slug = election.slug
    return [
        "/staff/",
        "/staff/tokens/",
        "/staff/audit/",
        f"/staff/e/{slug}/protocol/",
        f"/staff/e/{slug}/stations/",
        f"/staff/e/{slug}/stations/1-1/",
        f"/staff/e/{slug}/reconcile/",
        f"/staff/e/{slug}/upload/",
        "/staff/turnout/",
        f"/staff/turnout/{slug}/",
        f"/staff/turnout/{slug}/station/1-1/",
        "/staff/two-factor/",
        "/admin/",
    ]


def assert_gets_nowhere(client: Client, election: Election) -> None:
    for url in staff_urls(election):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith((LOGIN, "/admin/login/")), url
    write = client.post(
        f"/api/v1/elections/{election.slug}/turnout",
        {"station": "1-1", "time": "10:00", "voters": 150},
        content_type="application/json",
    )
    assert write.status_code == 401 and write.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("name", ["admin", "north", "op11", "supervisor"])
def test_roles_that_can_change_results_must_enrol_first(
    personas: Personas, election: Election, name: str
) -> None:
    client = Client()
    response = log_in(client, name)
    assert response.status_code == 302 and response["Location"] == ENROL
    assert logged_in_as(client) is None
    assert_gets_nowhere(client, election)
    assert not records("login", name)  # the log-in is not complete


def test_a_password_only_session_gets_nowhere(personas: Personas, election: Election) -> None:
    """However a session was logged in by password alone, it is anonymous until verified."""
    user = personas["op11"]
    assert_gets_nowhere(password_only_session(user), election)
    superuser = type(user).objects.create_superuser("root", password="pw-root")
    assert_gets_nowhere(password_only_session(superuser), election)
    # the admin site's own log-in page is the site's log-in
    assert Client().get("/admin/login/?next=/admin/")["Location"] == f"{LOGIN}?next=%2Fadmin%2F"


def test_observers_and_users_without_roles_are_not_forced(personas: Personas) -> None:
    for name in ("observer", "outsider"):
        client = Client()
        response = log_in(client, name)
        assert response.status_code == 302 and response["Location"] == "/staff/"
        assert logged_in_as(client) == name
    assert not TOTPDevice.objects.exists()


def test_the_requirement_can_be_turned_off(personas: Personas, settings: Any) -> None:
    """SECKI_REQUIRE_2FA=0 (the demo): the password alone; an enrolled user is still asked."""
    settings.SECKI_REQUIRE_2FA = False
    client = Client()
    assert log_in(client, "op11")["Location"] == "/staff/"
    assert logged_in_as(client) == "op11"
    enrol_authenticator(personas["supervisor"])
    assert log_in(Client(), "supervisor")["Location"] == CODE


def secret_on(page: str) -> str:
    found = re.search(r'id="secret">([^<]*)<', page)
    assert found is not None
    return "".join(found.group(1).split())


def test_enrolment_with_the_test_client(personas: Personas, election: Election) -> None:
    client = Client()
    log_in(client, "op11")
    page = client.get(ENROL)
    body = page.content.decode()
    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=personas["op11"], confirmed=False)
    # the QR code is inline SVG made here; the key is shown as text; no script, no other host
    assert (
        'class="segno"' in body
        and "<svg" in body
        and "<script" not in body
        and "http://" not in body
    )
    assert secret_on(body) == base64.b32encode(device.bin_key).decode().rstrip("=")
    assert secret_on(client.get(ENROL).content.decode()) == secret_on(body)  # same on reload
    assert TOTPDevice.objects.filter(user=personas["op11"]).count() == 1

    wrong = client.post(ENROL, {"code": "123"})
    assert wrong.status_code == 200 and 'aria-invalid="true"' in wrong.content.decode()
    assert records("2fa.failed", "op11")[0].after == {"reason": "wrong_code"}

    app = authenticator(device)
    response = client.post(ENROL, {"code": app()})
    assert response["Location"] == "/staff/login/recovery-codes/"
    shown = client.get(response["Location"]).content.decode()
    codes = [c.replace(" ", "") for c in re.findall(r"<code>([^<]*)</code>", shown)]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert set(codes) == set(StaticToken.objects.values_list("token", flat=True))
    assert "<code>" not in client.get("/staff/login/recovery-codes/").content.decode()  # once
    assert logged_in_as(client) == "op11"
    (enrolled,) = records("2fa.enrolled", "op11")
    assert enrolled.actor == personas["op11"] and enrolled.after["recovery_codes"] == 10
    assert records("login", "op11")[0].after == {"method": "totp"}

    # new recovery codes replace the old ones (audited)
    again = client.post("/staff/two-factor/")
    assert again["Location"] == "/staff/login/recovery-codes/"
    assert not StaticToken.objects.filter(token__in=codes).exists()
    assert StaticToken.objects.count() == 10
    assert records("2fa.recovery_codes_issued", "op11")[0].before == {"recovery_codes": 10}


def test_log_in_with_a_code_or_a_recovery_code(personas: Personas) -> None:
    device = enrol_authenticator(personas["supervisor"])
    static = StaticDevice.objects.create(user=personas["supervisor"], name="recovery codes")
    for code in ["aaaaabbbbb", "cccccddddd"]:
        StaticToken.objects.create(device=static, token=code)

    client = Client()
    assert log_in(client, "supervisor")["Location"] == CODE
    assert logged_in_as(client) is None
    assert client.post(CODE, {"code": authenticator(device)()})["Location"] == "/staff/"
    assert logged_in_as(client) == "supervisor"
    client.post("/staff/logout/", {"next": LOGIN})
    assert logged_in_as(client) is None

    log_in(client, "supervisor")
    used = client.post(CODE, {"code": "AAAAA BBBBB"}, follow=True)  # as printed, any case
    assert "Recovery codes left: 1" in used.content.decode()
    client.post("/staff/logout/", {"next": LOGIN})
    log_in(client, "supervisor")
    assert client.post(CODE, {"code": "aaaaabbbbb"}).status_code == 200  # used up
    assert logged_in_as(client) is None

    methods = [r.after["method"] for r in records("login", "supervisor")]
    assert methods == ["totp", "recovery_code"]
    assert len(records("logout", "supervisor")) == 2
    assert records("2fa.failed", "supervisor")[0].after == {"reason": "wrong_code"}


def test_log_ins_log_outs_and_failures_leave_audit_records(personas: Personas) -> None:
    client = Client(REMOTE_ADDR="192.0.2.10")
    log_in(client, "observer", "wrong")
    log_in(client, "nobody-by-this-name", "wrong")
    log_in(client, "observer")
    client.post("/staff/logout/", {"next": LOGIN})
    trail = list(AuditRecord.objects.filter(action__startswith="log").order_by("at", "id"))
    assert [(r.action, r.target, r.actor_name, r.ip) for r in trail] == [
        ("login.failed", "observer", "anonymous", "192.0.2.10"),
        ("login.failed", "nobody-by-this-name", "anonymous", "192.0.2.10"),
        ("login", "observer", "observer", "192.0.2.10"),
        ("logout", "observer", "observer", "192.0.2.10"),
    ]
    assert trail[2].actor == personas["observer"] and trail[2].after == {"method": "password"}
    assert trail[0].at <= trail[1].at <= trail[2].at <= trail[3].at


def test_a_lost_phone_is_reset_by_an_audited_action_not_in_the_admin(
    personas: Personas,
) -> None:
    from click.testing import CliRunner
    from django.contrib import admin

    from secki.accounts import actions
    from secki.accounts.access import AccessDenied
    from secki.cli import cli

    assert not admin.site.is_registered(TOTPDevice)
    assert not admin.site.is_registered(StaticDevice)
    enrol_authenticator(personas["op11"])
    static = StaticDevice.objects.create(user=personas["op11"], name="recovery codes")
    StaticToken.objects.create(device=static, token="aaaaabbbbb")

    with pytest.raises(AccessDenied):  # a CEC administrator is not the superuser
        actions.reset_two_factor(personas["admin"], personas["op11"])
    assert TOTPDevice.objects.filter(user=personas["op11"]).exists()

    result = CliRunner().invoke(cli, ["reset-2fa", personas["op11"].username])
    assert result.exit_code == 0, result.output
    assert "enrols again at its next log-in" in result.output
    assert not TOTPDevice.objects.filter(user=personas["op11"]).exists()
    assert not StaticDevice.objects.filter(user=personas["op11"]).exists()
    (record,) = records("2fa.reset", "op11")
    assert record.actor is None and record.actor_name.startswith("cli:")
    assert record.before == {"authenticators": 1, "recovery_codes": 1}

    # the next log-in goes to enrolment again
    assert log_in(Client(), "op11")["Location"] == ENROL
    again = CliRunner().invoke(cli, ["reset-2fa", personas["op11"].username])
    assert "nothing changed" in again.output and len(records("2fa.reset", "op11")) == 1

"""The demo prints "ready" only once a request to ``/`` succeeds (issue 16)."""

from __future__ import annotations

import contextlib
import http.server
import threading
import urllib.error
from collections.abc import Iterator
from typing import Any

from secki.demo.cli import wait_until_serving


class Server:
    """A stand-in for the server process: running until told otherwise."""

    def __init__(self, code: int | None = None) -> None:
        self.code = code

    def poll(self) -> int | None:
        return self.code


class Answer:
    def __init__(self, status: int) -> None:
        self.status = status

    def __enter__(self) -> Answer:
        return self

    def __exit__(self, *_: object) -> None:
        return None


def scripted(*steps: int | None) -> tuple[list[str], Any]:
    """An opener answering each call with the next step (None: connection refused)."""
    calls: list[str] = []

    def opener(url: str) -> Answer:
        step = steps[len(calls)]
        calls.append(url)
        if step is None:
            raise urllib.error.URLError("connection refused")
        return Answer(step)

    return calls, opener


def test_waits_through_refusals_and_errors_until_the_page_answers() -> None:
    calls, opener = scripted(None, None, 503, 200)
    assert wait_until_serving("http://x/", Server(), pause=0, opener=opener)  # type: ignore[arg-type]
    assert calls == ["http://x/"] * 4


def test_not_ready_when_the_server_exits_or_never_answers() -> None:
    calls, opener = scripted(200)
    assert not wait_until_serving("http://x/", Server(1), pause=0, opener=opener)  # type: ignore[arg-type]
    assert calls == []
    calls, opener = scripted(None, 500, None)
    assert not wait_until_serving(
        "http://x/",
        Server(),  # type: ignore[arg-type]
        attempts=3,
        pause=0,
        opener=opener,
    )
    assert len(calls) == 3


@contextlib.contextmanager
def site(status: int) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return None

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_a_real_request() -> None:
    with site(200) as url:
        assert wait_until_serving(url, Server(), pause=0)  # type: ignore[arg-type]
    with site(500) as url:
        assert not wait_until_serving(url, Server(), attempts=2, pause=0)  # type: ignore[arg-type]

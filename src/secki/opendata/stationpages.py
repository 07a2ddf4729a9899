"""Station pages as static files: ``$SECKI_VAR_DIR/pages/<slug>/<lang>/s/<code>/index.html``;
and beside them the public results answers: the national one, ``pages/<slug>/api/results.json``,
a station's, ``api/stations/<code>/index.json``, and a unit's, ``api/units/<code>/index.json``.

The public station page (``/e/<slug>/s/<code>/``) is rendered by the app once per change and
written here (:func:`write`); nginx serves the file to the anonymous public
(deploy/nginx/secki.conf) and passes the request to the app when there is none. When what a
page shows may have changed, its file is kept as stale (:func:`mark_stale`: ``index.html``
renamed ``stale.html``), which nginx serves while there is no fresh one, and every web process
renders the stale pages of the stations a new state changed again in the background
(:mod:`secki.opendata.refresh`), one process per page (:func:`claimed`): a reader never waits
for a render of a page it read before. The publisher (:mod:`secki.opendata.published`) marks
the pages of the stations a new state changed, after writing that state, and removes the whole
election's directory on new data (:func:`remove_election`); the transparency log leaves them
alone (the state that included its entries marked their stations). The writer (the portal)
removes the file it wrote when a state since the one it rendered changed its station.

The national results answer (``GET /api/v1/elections/<slug>/results``, the same for every
language) is written by the publisher itself with each state (:func:`write_results`), so that
nginx serves the national total the instant a state has it, without the app or its one-second
copies; it goes with the election's directory like the pages. A station's and a unit's answer
(``GET /api/v1/elections/<slug>/results/stations/<code>`` and ``…/units/<code>``, the first
page of a unit's stations) are written by the portal when it answers the anonymous public from
the publisher's state (:func:`write_answer`), and by the publisher itself with each state: a
station's answer when the state changes the station, a unit's (when on disk) when it changes a
station below it (:mod:`secki.opendata.answers`), the app's bytes. A stale answer
(``stale.json``, left by an earlier release) is served until the page refresher asked for it
again.

Every write is atomic (a temporary hidden file in the same directory, then ``os.replace``),
and a directory is removed by renaming it aside first (a hidden name, never served), so nginx
never sees half a file or half a tree.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from django.conf import settings

#: the page's file inside its station's directory
INDEX = "index.html"
#: the page's file once what it shows may have changed, until it is rendered again
STALE = "stale.html"
#: the directory (beside the languages') and the file of the national results answer
API_DIR, RESULTS = "api", "results.json"
#: the directories (in ``API_DIR``) of the stations' and the units' results answers
STATIONS, UNITS = "stations", "units"
#: an answer's file inside its station's or unit's directory, and its stale copy
ANSWER, STALE_ANSWER = "index.json", "stale.json"
#: a process renders a stale page again while it holds this file (:func:`claimed`)
CLAIM = ".refresh"
#: seconds after which a claim is taken to be left by a process that died
CLAIM_STALE = 60.0


def root_dir() -> Path:
    return Path(settings.VAR_DIR) / "pages"


def election_dir(slug: str) -> Path:
    return root_dir() / slug


def _safe(name: str) -> bool:
    """A path component that stays where it is put (no separator, no dot name, no NUL)."""
    return bool(name) and not name.startswith(".") and "/" not in name and "\x00" not in name


def page_path(slug: str, language: str, code: str) -> Path | None:
    """Where the page of station ``code`` in ``language`` is kept (None: a name that cannot
    be a file of its own: it always goes to the app)."""
    if not (_safe(slug) and _safe(language) and _safe(code)):
        return None
    # one path made of one string (a refresher asks for several a page: pathlib's joins cost)
    return Path(os.path.join(root_dir(), slug, language, "s", code, INDEX))


def public_origin() -> tuple[str, bool]:
    """The public host (``SECKI_PUBLIC_URL``'s, else the first plain name of
    ``ALLOWED_HOSTS``) and whether it is HTTPS (``SECKI_HTTPS``): the refresher asks as a
    reader of this origin would (:mod:`secki.opendata.wsgi`), and an answer naming absolute
    addresses is written only when made for it."""
    host = next(
        (h for h in settings.ALLOWED_HOSTS if h and h != "*" and not h.startswith(".")),
        "localhost",
    )
    if settings.SECKI_PUBLIC_URL:
        host = re.sub(r"^https?://", "", settings.SECKI_PUBLIC_URL).split("/")[0]
    return host, bool(settings.SECKI_HTTPS)


def public_url() -> str:
    """The scheme and host of :func:`public_origin` (``https://results.example.org``): what
    the scans' addresses in a station's answer written without a request begin with."""
    host, https = public_origin()
    return f"{'https' if https else 'http'}://{host}"


def write(slug: str, language: str, code: str, content: bytes) -> Path | None:
    """Write the page atomically; returns its path (None: not written)."""
    path = page_path(slug, language, code)
    if path is None:
        return None
    return _write_atomically(path, content)


def results_path(slug: str) -> Path | None:
    """Where the public national results answer of ``slug`` is kept (None: not a name)."""
    return election_dir(slug) / API_DIR / RESULTS if _safe(slug) else None


def write_results(slug: str, content: bytes) -> Path | None:
    """Write the public national results answer atomically (the publisher, with each state);
    returns its path (None: not written)."""
    path = results_path(slug)
    return None if path is None else _write_atomically(path, content)


def answer_path(slug: str, kind: str, code: str) -> Path | None:
    """Where the public results answer of station or unit ``code`` is kept (``kind``:
    :data:`STATIONS` or :data:`UNITS`; None: a name that cannot be a file of its own)."""
    if kind not in (STATIONS, UNITS) or not (_safe(slug) and _safe(code)):
        return None
    return Path(os.path.join(root_dir(), slug, API_DIR, kind, code, ANSWER))


def write_answer(slug: str, kind: str, code: str, content: bytes) -> Path | None:
    """Write a station's or a unit's public results answer atomically; returns its path
    (None: not written)."""
    path = answer_path(slug, kind, code)
    return None if path is None else _write_atomically(path, content)


def _write_atomically(path: Path, content: bytes) -> Path | None:
    tmp = path.with_name(f".{path.name}-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(content)
        os.replace(tmp, path)
    except OSError:  # the directory was removed meanwhile (new data): the app answers
        with contextlib.suppress(OSError):
            tmp.unlink()
        return None
    return path


def _languages(slug: str) -> list[str]:
    """The languages the election's pages were written in (not the results answer's
    directory)."""
    languages = {code for code, _name in settings.LANGUAGES}
    try:
        return [p.name for p in election_dir(slug).iterdir() if p.name in languages]
    except OSError:
        return []


def mark_stale(slug: str, codes: Iterable[str]) -> int:
    """Keep the pages of these stations, in every language, as stale (served until they are
    written again); returns how many files there were. (Their results answers, and their
    units', come with the state: the publisher writes them.)"""
    languages = _languages(slug)
    marked = 0
    for code in codes:
        for language in languages:
            marked += _mark(page_path(slug, language, code), STALE)
    return marked


def _mark(path: Path | None, stale: str) -> int:
    if path is None:
        return 0
    try:
        os.replace(path, path.with_name(stale))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    return 1


def stale_pages(slug: str, codes: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(language, code) of the stale pages with no fresh one: of these stations, or (None)
    of every station of the election (a walk of its directory)."""
    found: list[tuple[str, str]] = []
    for language in _languages(slug):
        if codes is None:
            try:
                named = [p.name for p in (election_dir(slug) / language / "s").iterdir()]
            except OSError:
                continue
        else:
            named = list(codes)
        found.extend((language, code) for code in named if is_stale(slug, language, code))
    return found


def is_stale(slug: str, language: str, code: str) -> bool:
    """Whether this page is stale with no fresh one (:func:`stale_pages` of one page)."""
    path = page_path(slug, language, code)
    return path is not None and path.with_name(STALE).exists() and not path.exists()


def stale_answers(slug: str, kind: str, codes: Iterable[str] | None = None) -> list[str]:
    """The codes of the stations' or units' (``kind``) stale results answers with no fresh
    one: of these codes, or (None) of every station or unit of the election."""
    if codes is None:
        try:
            codes = [p.name for p in (election_dir(slug) / API_DIR / kind).iterdir()]
        except OSError:
            return []
    found = []
    for code in codes:
        path = answer_path(slug, kind, code)
        if path is not None and path.with_name(STALE_ANSWER).exists() and not path.exists():
            found.append(code)
    return found


def drop_stale_answer(slug: str, kind: str, code: str) -> None:
    """Remove a results answer's stale copy once it was asked for again (as
    :func:`drop_stale`)."""
    path = answer_path(slug, kind, code)
    if path is not None:
        path.with_name(STALE_ANSWER).unlink(missing_ok=True)


def drop_stale(slug: str, language: str, code: str) -> None:
    """Remove a page's stale copy once the page was rendered again: the fresh file serves
    its readers or, when none was kept (observers' copies; a newer state changed the
    station meanwhile), the app."""
    path = page_path(slug, language, code)
    if path is not None:
        path.with_name(STALE).unlink(missing_ok=True)


@contextlib.contextmanager
def claimed(slug: str, language: str, code: str) -> Iterator[bool]:
    """Whether this process may render the page again now: True while it holds the page's
    claim (an exclusive file, given up at the end of the block; one older than
    ``CLAIM_STALE`` is taken over), False while another holds it."""
    with _claimed(page_path(slug, language, code)) as mine:
        yield mine


@contextlib.contextmanager
def claimed_answer(slug: str, kind: str, code: str) -> Iterator[bool]:
    """Whether this process may write a station's or unit's results answer again now (as
    :func:`claimed`)."""
    with _claimed(answer_path(slug, kind, code)) as mine:
        yield mine


@contextlib.contextmanager
def _claimed(path: Path | None) -> Iterator[bool]:
    if path is None:
        yield False
        return
    claim = path.with_name(CLAIM)
    fd = None
    for _ in range(2):
        try:
            fd = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            break
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - claim.stat().st_mtime > CLAIM_STALE:
                    claim.unlink()
                    continue
            break
        except OSError:  # the directory was removed meanwhile
            break
    if fd is None:
        yield False
        return
    os.close(fd)
    try:
        yield True
    finally:
        claim.unlink(missing_ok=True)


def remove_election(slug: str) -> None:
    """Remove every page of the election: its directory renamed aside (a hidden name), then
    deleted, with any left aside by an earlier removal."""
    root = root_dir()
    directory = election_dir(slug)
    if directory.exists():
        aside = root / f".{slug}-removed-{os.getpid()}-{secrets.token_hex(4)}"
        with contextlib.suppress(FileNotFoundError):
            directory.rename(aside)
    try:
        leftovers = [p for p in root.iterdir() if p.name.startswith(f".{slug}-removed-")]
    except OSError:
        return
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)

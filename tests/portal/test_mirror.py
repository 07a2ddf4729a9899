"""Publication to static hosting (secki.opendata.mirror): the open data and the log's files
copied to a directory (then served by nginx with the shipped configuration) and to S3-compatible
object storage (a local S3 endpoint: moto's server, over HTTP), with each file's Cache-Control
and type; only what changed is copied again; files that never change go before the pointers
that name them; what disappeared is removed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model

from secki.elections.models import Election
from secki.opendata import mirror, snapshots, transparency
from secki.server import free_port
from tests.portal.conftest import submit
from tests.transparency.conftest import LOG_NAME, SIGNER

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(waiting: Election, admin: Any, settings: Any, tmp_path: Path) -> Election:
    """An election with one protocol: its live snapshot, a release and its transparency log,
    as the publisher writes them (with the log key of the transparency tests, no witnesses)."""
    key = tmp_path / "log_key"
    key.write_text(SIGNER.format() + "\n")
    key.chmod(0o600)
    settings.SECKI_DEVELOPMENT = False
    settings.SECKI_LOG_NAME = LOG_NAME
    settings.SECKI_LOG_KEY_FILE = str(key)
    settings.SECKI_WITNESS_POLICY = ""
    election = waiting
    submit(election, "1-1", admin)
    snapshots.refresh(election)
    snapshots.make_release(election)
    transparency.publish(election)
    return election


def tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    }


def test_a_directory_gets_the_published_files_in_order_and_only_changes_again(
    published: Election, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "static"
    order: list[str] = []
    put = mirror.Target.put

    def recording(self: mirror.Target, source: mirror.Source) -> None:
        order.append(source.key)
        put(self, source)

    monkeypatch.setattr(mirror.Target, "put", recording)
    report = mirror.sync(f"file://{target}")
    copied = tree(target)
    var = Path(settings.VAR_DIR)
    slug = published.slug
    live = snapshots.slug_dir(slug) / snapshots.LIVE
    # the live snapshot, the release and the log, byte for byte, hidden names never
    for name, data in tree(live).items():
        assert copied[f"opendata/{slug}/live/{name}"] == data
    release = snapshots.releases(published)[0]["version"]
    assert (
        copied[f"opendata/{slug}/{release}/manifest.json"]
        == (snapshots.slug_dir(slug) / release / "manifest.json").read_bytes()
    )
    assert copied[f"log/{slug}/checkpoint"] == (var / "log" / slug / "checkpoint").read_bytes()
    assert not any("/." in f"/{name}" for name in copied)
    assert report.copied == order and len(order) == len(copied)
    # files that never change first, the pointers after every one of them
    pointers = [k for k in order if k.endswith(("checkpoint", "latest.json")) or "/live/" in k]
    immutable = [k for k in order if "/tile/" in k or f"/{release}/" in k]
    assert pointers and immutable
    assert max(order.index(k) for k in immutable) < min(order.index(k) for k in pointers), order

    # nothing changed: nothing copied
    order.clear()
    again = mirror.sync(f"file://{target}")
    assert again.copied == [] and again.unchanged == len(copied)

    # a new protocol, published: only what changed goes, old live files are removed
    submit(published, "2-2", get_user_model().objects.get(username="cec-chair"))
    snapshots.refresh(published)
    transparency.publish(published)
    third = mirror.sync(f"file://{target}")
    assert f"log/{slug}/checkpoint" in third.copied
    assert f"opendata/{slug}/live/index.json" in third.copied
    assert not any(f"/{release}/" in key for key in third.copied)  # a release never changes
    assert len(third.copied) < len(copied)
    after = tree(target)
    for name, data in tree(snapshots.slug_dir(slug) / snapshots.LIVE).items():
        assert after[f"opendata/{slug}/live/{name}"] == data
    for key in third.removed:
        assert key not in after


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[Any]:
    """A local S3 endpoint (moto's server on a loopback port) with a bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for name, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(name, value)
    settings.SECKI_S3_ENDPOINT_URL = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=settings.SECKI_S3_ENDPOINT_URL)
    client.create_bucket(Bucket="results")
    try:
        yield client
    finally:
        server.stop()


def test_object_storage_gets_each_file_with_its_cache_control_and_type(
    published: Election, s3: Any
) -> None:
    import fsspec

    fsspec.config.conf.clear()
    report = mirror.sync("s3://results/site")
    slug = published.slug
    keys = {
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="results")
        for o in page.get("Contents", [])
    }
    assert keys == {f"site/{k}" for k in report.copied}
    expected = {
        f"site/log/{slug}/checkpoint": ("public, max-age=2", "text/plain; charset=utf-8"),
        f"site/opendata/{slug}/live/index.json": (
            "public, max-age=2",
            "application/json; charset=utf-8",
        ),
    }
    release = snapshots.releases(published)[0]["version"]
    expected[f"site/opendata/{slug}/{release}/manifest.json"] = (
        "public, max-age=31536000, immutable",
        "application/json; charset=utf-8",
    )
    for key, (cache, content_type) in expected.items():
        head = s3.head_object(Bucket="results", Key=key)
        assert head["CacheControl"] == cache, key
        assert head["ContentType"] == content_type, key
    body = s3.get_object(Bucket="results", Key=f"site/opendata/{slug}/live/index.json")
    live = snapshots.slug_dir(slug) / snapshots.LIVE / "index.json"
    assert json.loads(body["Body"].read()) == json.loads(live.read_bytes())
    assert mirror.sync("s3://results/site").copied == []


def test_targets_are_checked_when_the_settings_load(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "SECKI_MIRROR_URLS": "ftp://somewhere/x", "SECKI_DEVELOPMENT": "1"}
    env["SECKI_VAR_DIR"] = str(tmp_path / "var")
    run = subprocess.run(
        [sys.executable, "-m", "secki.cli", "mirror"], env=env, capture_output=True, text=True
    )
    assert run.returncode != 0
    assert "SECKI_MIRROR_URLS" in run.stderr and "s3://bucket/prefix" in run.stderr


def test_nginx_serves_the_mirrored_directory(published: Election, tmp_path: Path) -> None:
    """The copy is laid out as the var directory is: the shipped nginx configuration pointed at
    it serves the open data and the log with their cache headers."""
    import http.client

    from secki.devtools import nginx
    from tests.portal.test_nginx import require_nginx

    require_nginx()
    target = tmp_path / "static"
    mirror.sync(f"file://{target}")
    slug = published.slug
    with nginx.shipped(target, free_port(), tmp_path / "nginx") as site:
        for path, key, cache in (
            (f"/data/{slug}/live/index.json", f"opendata/{slug}/live/index.json", "max-age=2"),
            (f"/log/{slug}/checkpoint", f"log/{slug}/checkpoint", "max-age=2"),
            (f"/log/{slug}/tile/entries/000.p/8", f"log/{slug}/tile/entries/000.p/8", "3600"),
        ):
            if "/tile/" in key and not (target / key).exists():
                continue  # the log's size decides which partial tile exists
            conn = http.client.HTTPSConnection(
                "127.0.0.1", site.tls_port, context=site.context(), timeout=30
            )
            conn.request("GET", path)
            answer = conn.getresponse()
            assert answer.status == 200, path
            assert answer.read() == (target / key).read_bytes()
            assert cache in answer.headers["Cache-Control"], path
            conn.close()

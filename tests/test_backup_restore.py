"""Backup and restore as docs/operations.md says, on real PostgreSQL servers started from the
machine's binaries: a logical dump (pg_dump) and a base backup (pg_basebackup with its WAL),
each restored onto a new server with a copy of the var directory; there the log's chain and
every scan verify (`secki verify-log`, `secki verify-scans`), the published log verifies as a
citizen would check it (`secki verify`), and the election exported from the restored server is
the original's, file for file."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from secki.devtools.pgserver import Cluster, PostgresUnavailable
from secki.env import env_bool
from tests.factories import run_secki, write_small_bundle
from tests.transparency.conftest import LOG_NAME, SIGNER

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"

ADD_SCAN = f"""
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from secki.elections.models import Election, ElectionStatus
from secki.protocols.scans import upload_scan
election = Election.objects.get()
election.status = ElectionStatus.OPEN
election.save(update_fields=["status"])
admin = get_user_model().objects.create_superuser("backup-admin", password=None)
for code in ("1-1", "2-1"):
    upload_scan(election, election.stations.get(code=code),
                SimpleUploadedFile("scan.pdf", {PDF!r}), actor=admin)
"""


def secki(env: dict[str, str], *args: str) -> str:
    """``secki ARGS``; a failure shows what the command said."""
    run = run_secki(env, *args, check=False)
    assert run.returncode == 0, f"secki {' '.join(args)}: {run.stdout}{run.stderr}"
    return run.stdout


def new_cluster() -> Cluster:
    try:
        return Cluster(durable=True)
    except PostgresUnavailable as exc:
        if env_bool("SECKI_REQUIRE_POSTGRES", False):
            pytest.fail(f"PostgreSQL is required (SECKI_REQUIRE_POSTGRES=1): {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")


@pytest.fixture
def original(tmp_path: Path) -> Iterator[tuple[Cluster, dict[str, str]]]:
    """A server holding a published election: register, turnout, protocols, two scans, the
    transparency log and the open-data files in its var directory."""
    cluster = new_cluster()
    try:
        cluster.start()
        key = tmp_path / "log_key"  # the log's signing key, as `secki log keygen` writes it
        key.write_text(SIGNER.format() + "\n")
        key.chmod(0o600)
        env = {
            **os.environ,
            "DATABASE_URL": cluster.url,
            "SECKI_VAR_DIR": str(tmp_path / "var"),
            "SECKI_SNAPSHOT_AUTO": "0",
            "SECKI_LOG_NAME": LOG_NAME,
            "SECKI_LOG_KEY_FILE": str(key),
            "SECKI_WITNESS_POLICY": "",
        }
        secki(env, "import", str(write_small_bundle(tmp_path / "bundle")))
        secki(env, "manage", "shell", "-c", ADD_SCAN)
        secki(env, "publish", "--quiet")
        yield cluster, env
    finally:
        cluster.remove()


def restored_env(env: dict[str, str], cluster: Cluster, var: Path) -> dict[str, str]:
    shutil.copytree(env["SECKI_VAR_DIR"], var, symlinks=True)
    return {**env, "DATABASE_URL": cluster.url, "SECKI_VAR_DIR": str(var)}


def assert_verified_and_equal(before: dict[str, str], after: dict[str, str], tmp: Path) -> None:
    log = run_secki(after, "verify-log")
    assert log.returncode == 0, log.stdout + log.stderr
    scans = run_secki(after, "verify-scans")
    assert scans.returncode == 0, scans.stdout + scans.stderr
    assert "2" in scans.stdout  # both scans checked
    # as a citizen checks it: the original's published log first (keys and checkpoint pinned),
    # then the restored server's must be the same log
    state = ["--state", str(tmp / "verify-state.json"), "--no-progress"]
    for var in (before["SECKI_VAR_DIR"], after["SECKI_VAR_DIR"]):
        published = run_secki(after, "verify", *state, str(Path(var) / "log"), check=False)
        assert published.returncode == 0, published.stdout + published.stderr
    # the restored server still publishes: the log continues from the restored files
    secki(after, "publish", "--quiet")
    secki(before, "export", str(tmp / "exported-before"))
    secki(after, "export", str(tmp / "exported-after"))
    compared = filecmp.dircmp(tmp / "exported-before", tmp / "exported-after")
    assert compared.left_list == compared.right_list
    assert not compared.diff_files and not compared.funny_files, compared.diff_files
    assert "protocols.csv" in compared.same_files


def dump(cluster: Cluster, path: Path) -> Path:
    with path.open("wb") as out:
        subprocess.run(
            [str(cluster.bindir / "pg_dump"), "-Fc", "--no-owner", cluster.url],
            stdout=out,
            check=True,
        )
    return path


def restore(path: Path) -> Cluster:
    target = new_cluster()
    target.start()
    subprocess.run(
        [str(target.bindir / "pg_restore"), "--no-owner", "-d", target.url, str(path)],
        check=True,
        capture_output=True,
    )
    return target


LATER_SCAN = ADD_SCAN.replace('("1-1", "2-1")', '("1-2",)').replace(
    'create_superuser("backup-admin"', 'create_superuser("later-admin"'
)


def test_a_dump_restored_onto_a_new_server_verifies_and_an_older_one_is_refused(
    original: tuple[Cluster, dict[str, str]], tmp_path: Path
) -> None:
    source, env = original
    early = dump(source, tmp_path / "early.dump")
    secki(env, "manage", "shell", "-c", LATER_SCAN)  # a fact after the first backup
    secki(env, "publish", "--quiet")
    late = dump(source, tmp_path / "late.dump")
    target = restore(late)
    try:
        after = restored_env(env, target, tmp_path / "restored-var")
        assert_verified_and_equal(env, after, tmp_path)
    finally:
        target.remove()
    # The older backup under the newer published files: its log is shorter than what the public
    # has seen, and the publisher refuses to publish it (nothing is silently rewritten).
    target = restore(early)
    try:
        after = restored_env(env, target, tmp_path / "restored-early-var")
        refused = run_secki(after, "publish", "--quiet", check=False)
        said = refused.stdout + refused.stderr
        assert "entries were removed from the database; nothing is published" in said, said
    finally:
        target.remove()


def test_a_base_backup_started_as_a_new_server_verifies(
    original: tuple[Cluster, dict[str, str]], tmp_path: Path
) -> None:
    source, env = original
    target = new_cluster()  # its own directory and port; its data replaced by the backup
    try:
        shutil.rmtree(target.data)
        target._run(  # as the server's user when run by root
            "pg_basebackup",
            "-d",
            source.url,
            "-D",
            str(target.data),
            "-X",
            "stream",
            "-c",
            "fast",
        )
        target.start()
        after = restored_env(env, target, tmp_path / "restored-var")
        assert_verified_and_equal(env, after, tmp_path)
    finally:
        target.remove()

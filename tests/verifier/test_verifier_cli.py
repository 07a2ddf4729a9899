"""``secki verify`` as a command and as the standalone zipapp: exit status 0 / 1 / 2, and
``dist/secki-verify.pyz`` run by a fresh virtual environment that holds only
``cryptography`` (and what it needs at run time: cffi, pycparser) against a directory log."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import cffi
import cryptography
import pycparser
import pytest
from click.testing import CliRunner
from tests.verifier.conftest import ELECTION, Publisher

from secki.cli import cli
from secki.tlog.tiles import bundle_path
from secki.verifier import pyz
from secki.verifier.progress import Progress


def keys(site: Publisher, tmp_path: Path) -> list[str]:
    policy = tmp_path / "witnesses.txt"
    policy.write_text(site.policy.format())
    return ["--log-key", site.signer.verifier.format(), "--witnesses", str(policy)]


def test_secki_verify_exits_0_1_or_2(site: Publisher, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["verify", str(site.root), *keys(site, tmp_path), "--state", str(tmp_path / "s.json")]
    result = runner.invoke(cli, [*args, "--station", "7-1"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("PASS  verdict: all ")
    (site.dir / "results" / "latest.json").write_bytes(b"{}")
    result = runner.invoke(cli, [*args, "--election", ELECTION])
    assert result.exit_code == 1
    assert f"FAIL  {ELECTION} results: results/latest.json: results file has fields []" in (
        result.output
    )
    result = runner.invoke(cli, ["verify", str(site.root), "--log-key", "nonsense"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["verify", "--help"])
    assert result.exit_code == 0 and "URL_OR_DIR" in result.output


def bare_venv(path: Path) -> Path:
    """A new virtual environment (no pip) whose site-packages holds only cryptography, cffi
    (its C backend) and pycparser; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    site_packages = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    import _cffi_backend

    for module in (cryptography, cffi, pycparser):
        source = Path(module.__file__ or "").parent
        (site_packages / source.name).symlink_to(source)
    backend = Path(_cffi_backend.__file__ or "")
    (site_packages / backend.name).symlink_to(backend)
    return python


def test_the_zipapp_runs_with_only_cryptography_installed(site: Publisher, tmp_path: Path) -> None:
    target = pyz.build(tmp_path / "dist" / "secki-verify.pyz")
    python = bare_venv(tmp_path / "venv")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}  # no PYTHONPATH
    # the environment is bare: the project's dependencies are not there
    probe = subprocess.run(
        [str(python), "-c", "import click"], env=env, capture_output=True, text=True, check=False
    )
    assert probe.returncode == 1 and "No module named 'click'" in probe.stderr
    # importing the verifier loads only its own packages
    loaded = subprocess.run(
        [
            str(python),
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); import secki.verifier.cli; "
            "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] == 'secki')))",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert {m.split(".")[1] for m in loaded if "." in m} == {"tlog", "verifier"}
    command = [str(python), str(target), str(site.root), *keys(site, tmp_path)]
    command += ["--state", str(tmp_path / "state.json"), "--station", "7-2"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"PASS  {ELECTION} station 7-2: 4 entries included" in run.stdout
    assert run.stdout.splitlines()[-1].startswith("PASS  verdict: all ")
    # one byte of a bundle changed: exit status 1, the entry named
    bundle = site.dir / bundle_path(0, len(site.entries))
    data = bytearray(bundle.read_bytes())
    data[data.index(b'"C1":') + 5] ^= 1
    bundle.write_bytes(bytes(data))
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert f"FAIL  {ELECTION} entries: entry " in run.stdout and "was changed" in run.stdout


def test_the_build_refuses_an_import_the_zipapp_cannot_hold(tmp_path: Path) -> None:
    import shutil

    package = tmp_path / "secki"
    shutil.copytree(pyz.PACKAGE / "tlog", package / "tlog")
    shutil.copytree(pyz.PACKAGE / "verifier", package / "verifier")
    shutil.copy2(pyz.PACKAGE / "__init__.py", package / "__init__.py")
    assert pyz.build(tmp_path / "ok.pyz", package).exists()
    check = package / "verifier" / "check.py"
    check.write_text(check.read_text() + "\nimport click  # noqa\nfrom secki.bundle import read\n")
    with pytest.raises(
        pyz.BuildError, match=r"check\.py:\d+: click; .*check\.py:\d+: secki\.bundle"
    ):
        pyz.build(tmp_path / "bad.pyz", package)
    (package / "__init__.py").write_text("import os\n")
    with pytest.raises(pyz.BuildError, match="imports something"):
        pyz.build(tmp_path / "bad.pyz", package)


def test_the_progress_bar() -> None:
    stream = io.StringIO()
    ticks = iter([0.0, 0.05, 0.2, 0.5])
    bar = Progress(stream, 1000, "2026-parl: entries", width=10, clock=lambda: next(ticks))
    bar.advance(256)  # drawn (first)
    bar.advance(256)  # not redrawn: 0.05 s later
    bar.advance(256)  # drawn
    bar.advance(232)
    bar.close()
    assert stream.getvalue().split("\r")[1:] == [
        "2026-parl: entries [###.......]  26%  256/1,000",
        "2026-parl: entries [########..]  77%  768/1,000",
        "2026-parl: entries [##########] 100%  1,000/1,000",
        "2026-parl: entries [##########] 100%  1,000/1,000\n",
    ]
    silent = io.StringIO()
    off = Progress(silent, 10, "x", enabled=False)
    off.advance(10)
    off.close()
    assert silent.getvalue() == ""

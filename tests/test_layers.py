"""The layers of docs/architecture.md hold (import-linter, as `make lint` runs it), and an
import against them is caught: a copy of the package with the registry importing the staff
pages breaks the layers contract."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_tree_keeps_every_contract() -> None:
    run = lint_imports()
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "src" / "secki", tmp_path / "secki", ignore=shutil.ignore_patterns("__pycache__")
    )
    models = tmp_path / "secki" / "elections" / "models.py"
    models.write_text(models.read_text() + "\nimport secki.staff.views  # noqa\n")
    run = lint_imports(tmp_path)
    assert run.returncode != 0, run.stdout + run.stderr
    assert "secki's layers: a module imports only from its own layer or the ones below BROKEN" in (
        run.stdout
    )
    assert "secki.elections is not allowed to import secki.staff" in run.stdout
    assert "secki.elections.models -> secki.staff.views" in run.stdout


#: the only packages that serve HTML pages: the public site and the officials' pages
PAGE_APPS = {"portal", "staff"}


def page_holders(package: Path) -> set[str]:
    """The apps under ``package`` that hold templates, views or URL configurations."""
    found = set()
    for path in package.rglob("*"):
        if "__pycache__" in path.parts:
            continue
        relative = path.relative_to(package).parts
        if len(relative) < 2:
            continue
        if path.is_dir() and path.name == "templates":
            found.add(relative[0])
        if path.suffix == ".py" and (path.stem in {"views", "urls"} or path.stem.endswith("_urls")):
            found.add(relative[0])
    return found


def test_pages_live_in_the_portal_or_the_staff_pages(tmp_path: Path) -> None:
    assert page_holders(ROOT / "src" / "secki") == PAGE_APPS
    app = tmp_path / "secki" / "integrity"
    (app / "templates" / "integrity").mkdir(parents=True)
    assert page_holders(tmp_path / "secki") == {"integrity"}
    (app / "templates").rename(app / "kept")
    (app / "views.py").write_text("")
    assert page_holders(tmp_path / "secki") == {"integrity"}

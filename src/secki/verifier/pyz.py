"""Build the standalone verifier, ``secki-verify.pyz`` (a stdlib zipapp):

    python -m secki.verifier.pyz dist/secki-verify.pyz      (``make verifier``)

It holds ``secki/__init__.py``, ``secki/tlog`` and ``secki/verifier`` and nothing else, and
runs with ``python3 secki-verify.pyz URL_OR_DIR …`` wherever ``cryptography`` is installed.
Before packing, every module is read (``ast``) and refused if it imports anything but the
standard library, ``cryptography``, ``secki.tlog`` and ``secki.verifier`` — and
``secki/__init__.py`` anything at all.
"""

from __future__ import annotations

import ast
import shutil
import sys
import tempfile
import zipapp
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # src/secki
INCLUDED = ("tlog", "verifier")
ALLOWED_TOP = {"cryptography", "secki", "__future__"}
MAIN = "secki.verifier.cli:program"


class BuildError(Exception):
    """A module that would import beyond what the zipapp holds."""


def foreign_imports(path: Path) -> list[str]:
    """The imports of a module that the zipapp cannot satisfy (``line: module``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append(f"{node.lineno}: a relative import")
                continue
            module = node.module or ""
            # ``from secki import x`` imports the package secki.x
            names = [f"secki.{a.name}" for a in node.names] if module == "secki" else [module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top == "secki":
                if name.split(".")[1:2] and name.split(".")[1] not in INCLUDED:
                    found.append(f"{node.lineno}: {name}")
            elif top not in ALLOWED_TOP and top not in sys.stdlib_module_names:
                found.append(f"{node.lineno}: {name}")
    return found


def build(target: Path, package: Path = PACKAGE) -> Path:
    """Write the zipapp to ``target`` from the ``secki`` package directory ``package``."""
    init = package / "__init__.py"
    if any(
        isinstance(n, ast.Import | ast.ImportFrom) for n in ast.walk(ast.parse(init.read_text()))
    ):
        raise BuildError(f"{init} imports something: the zipapp would need it")
    problems = [
        f"{path.relative_to(package.parent)}:{problem}"
        for name in INCLUDED
        for path in sorted((package / name).rglob("*.py"))
        for problem in foreign_imports(path)
    ]
    if problems:
        raise BuildError("imports the zipapp cannot satisfy: " + "; ".join(problems))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "app"
        (stage / "secki").mkdir(parents=True)
        shutil.copy2(init, stage / "secki" / "__init__.py")
        for name in INCLUDED:
            shutil.copytree(
                package / name,
                stage / "secki" / name,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )
        zipapp.create_archive(
            stage, target, interpreter="/usr/bin/env python3", main=MAIN, compressed=True
        )
    return target


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m secki.verifier.pyz TARGET.pyz", file=sys.stderr)
        return 2
    try:
        target = build(Path(args[0]))
    except BuildError as exc:
        print(f"secki.verifier.pyz: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {target} ({target.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The test suite's environment, set before Django's settings are read.

pytest-django reads the settings while pytest loads its first conftest files, before
``tests/conftest.py`` runs, so this module is loaded as a plugin instead (``-p
tests.environment`` in pyproject's ``addopts``). The settings refuse to start without a secret
key (docs/configuration.md): the suite brings its own, a random one per run, which the
processes that tests start (``secki serve``, ``secki demo``, …) inherit.
"""

from __future__ import annotations

import os
import secrets

if not (os.environ.get("SECKI_SECRET_KEY") or os.environ.get("SECKI_SECRET_KEY_FILE")):
    os.environ["SECKI_SECRET_KEY"] = "secki-tests-" + secrets.token_urlsafe(48)

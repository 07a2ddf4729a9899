"""The settings that mypy's Django plugin loads (pyproject's ``[tool.django-stubs]``): Secki's
own, with a throwaway random secret key, since type checking signs nothing and the settings
refuse to load without a key (docs/configuration.md). Never a server's settings module."""

from __future__ import annotations

import os
import secrets

os.environ.setdefault("SECKI_SECRET_KEY", "mypy-" + secrets.token_urlsafe(48))

from secki.settings import *  # noqa: F403

"""WSGI entry point for the production server (``secki serve``; see secki.server)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
application = get_wsgi_application()
# Import every view and build the API's schemas now, in each worker as it starts, rather than
# in the first request that worker serves (seconds, under election-night load).
get_resolver().url_patterns  # noqa: B018 - evaluated for its side effect

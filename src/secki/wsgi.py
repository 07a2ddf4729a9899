"""WSGI entry point for the production server (``secki serve``; see secki.server)."""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from secki.server import take_stop_signals_in_a_worker

# First, before the slow part: a Granian worker must stop on SIGTERM even while it loads.
take_stop_signals_in_a_worker()
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
application = get_wsgi_application()
# Import every view and build the API's schemas now, in each worker as it starts, rather than
# in the first request that worker serves (seconds, under election-night load).
get_resolver().url_patterns  # noqa: B018 - evaluated for its side effect

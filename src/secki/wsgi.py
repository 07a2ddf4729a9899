"""WSGI entry point for the production server (``secki serve``; see secki.server)."""

# First, before the slow imports: a Granian worker must stop on SIGTERM even while it loads.
from secki.server import take_stop_signals_in_a_worker

take_stop_signals_in_a_worker()

import os  # noqa: E402

from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from secki.observability import instrument  # noqa: E402

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
#: Django alone (the open-data front, secki.opendata.wsgi, passes requests on to it)
django_application = get_wsgi_application()
#: what the server runs: Django with request ids and metrics (secki.observability)
application = instrument(django_application)
# Import every view and build the API's schemas now, in each worker as it starts, rather than
# in the first request that worker serves (seconds, under election-night load).
get_resolver().url_patterns  # noqa: B018 - evaluated for its side effect

"""WSGI entry point for the production server (``secki serve``; see secki.server)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secki.settings")
application = get_wsgi_application()

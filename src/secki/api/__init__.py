"""The JSON API (django-ninja): one router per resource, one error shape, token auth,
idempotent writes. OpenAPI at ``/api/v1/openapi.json``, docs at ``/api/v1/docs``."""

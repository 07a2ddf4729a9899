"""Django's PostgreSQL backend with a cheaper health check (``ENGINE = "secki.postgres"``,
set by :mod:`secki.settings` for every PostgreSQL database): see :mod:`.base`."""

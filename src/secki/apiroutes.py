"""The API with every resource's router added, in the order its OpenAPI description lists
them: the one module that knows them all. The apps import the API's parts (:mod:`secki.api`:
auth, lookups, schemas, idempotency), never this; :mod:`secki.urls` serves it."""

from __future__ import annotations

from secki.api.main import api
from secki.api.registry import router as elections_router
from secki.audits.api import router as audits_router
from secki.integrity.api import router as integrity_router
from secki.observers.api import router as observers_router
from secki.observers.field_api import router as observers_field_router
from secki.portal.api import router as results_router
from secki.protocols.api import router as protocols_router
from secki.protocols.scans_api import router as scans_router
from secki.results.turnout_api import router as turnout_figures_router
from secki.turnout.api import router as turnout_router

__all__ = ["api"]

api.add_router("/elections", elections_router)
api.add_router("/elections", protocols_router)
api.add_router("/elections", scans_router)
api.add_router("/elections", turnout_router)
api.add_router("/elections", turnout_figures_router)
api.add_router("/elections", results_router)
api.add_router("/elections", integrity_router)
api.add_router("/elections", observers_router)
api.add_router("/elections", audits_router)
api.add_router("/elections", observers_field_router)

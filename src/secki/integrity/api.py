"""Integrity API (forensics, PVT, exit polls)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["integrity"])

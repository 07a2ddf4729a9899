"""Observers' tests: the small bundle (four stations, with protocols) and personas; an
applicant account with no role and an observer's account; uploads go to a temporary media
directory."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from secki.bundle.read import read_bundle
from secki.elections.models import Election
from secki.intake.bundle_io import import_bundle
from tests.factories import write_small_bundle
from tests.personas import Persona, make_personas


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path / "media"


def image(kind: str = "PNG", grey: int = 200) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (8, 6), grey).save(out, kind)
    return out.getvalue()


PNG = image()
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF\n"


def document(name: str = "charter.pdf", data: bytes = PDF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/pdf")


@pytest.fixture
def election(tmp_path: Path) -> Election:
    return import_bundle(read_bundle(write_small_bundle(tmp_path / "bundle")))


@pytest.fixture
def people(election: Election) -> dict[str, Persona]:
    out = make_personas(election)
    users = get_user_model().objects
    for name in ("applicant", "applicant2", "watcher", "watcher2"):
        user = users.create_user(username=name, password="pw-" + name)
        out[name] = Persona(name, user, "")
    return out


def logged_in(persona: Persona) -> Client:
    client = Client()
    client.force_login(persona.user)
    return client

"""Every message of the catalogues is translated into Azerbaijani and Russian, and the compiled
catalogues the site loads hold the same translations as the sources."""

from __future__ import annotations

import gettext
from pathlib import Path

import pytest

LOCALE = Path(__file__).resolve().parents[1] / "src" / "secki" / "locale"


def entries(po: Path) -> list[tuple[str, str, str, bool]]:
    """(context, msgid, first msgstr, fuzzy) of every entry but the header."""
    text = po.read_text(encoding="utf-8")
    out = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if not line.startswith("#~")]
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        context, msgid, msgstr, current = "", "", "", None
        for line in lines:
            if line.startswith("msgctxt "):
                current, context = "ctxt", line[9:-1]
            elif line.startswith("msgid "):
                current, msgid = "id", line[7:-1]
            elif line.startswith("msgid_plural "):
                current = None
            elif line.startswith(("msgstr ", "msgstr[0] ")):
                current, msgstr = "str", line.split(" ", 1)[1][1:-1]
            elif line.startswith("msgstr["):
                current = None
            elif line.startswith('"') and current == "ctxt":
                context += line[1:-1]
            elif line.startswith('"') and current == "id":
                msgid += line[1:-1]
            elif line.startswith('"') and current == "str":
                msgstr += line[1:-1]
        if msgid:
            out.append((context, msgid, msgstr, fuzzy))
    return out


@pytest.mark.parametrize("language", ["az", "ru"])
def test_every_message_is_translated(language: str) -> None:
    po = LOCALE / language / "LC_MESSAGES" / "django.po"
    found = entries(po)
    assert len(found) > 400
    missing = [msgid for _, msgid, msgstr, fuzzy in found if not msgstr or fuzzy]
    assert missing == []


@pytest.mark.parametrize("language", ["az", "ru"])
def test_the_compiled_catalogue_matches_its_source(language: str) -> None:
    folder = LOCALE / language / "LC_MESSAGES"
    with (folder / "django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for context, msgid, msgstr, _ in entries(folder / "django.po"):
        if "\\" in msgid or "\\" in msgstr:
            continue  # escapes: compared by msgfmt itself
        found = compiled.pgettext(context, msgid) if context else compiled.gettext(msgid)
        assert found == msgstr, msgid


@pytest.mark.parametrize("language", ["az", "ru"])
def test_the_shipped_protocol_schemas_labels_and_check_messages_are_translated(
    language: str,
) -> None:
    """The built-in schemas' line labels and check messages (data shown on the protocol form,
    the station pages and in refusals) have a translation in the catalogue: a schema edited
    without its translations fails here."""
    from secki.protocol_schema import ProtocolSchema
    from secki.protocol_schema.schema import BUILTIN_DIR

    translated = {
        msgid: msgstr
        for context, msgid, msgstr, fuzzy in entries(
            LOCALE / language / "LC_MESSAGES" / "django.po"
        )
        if not context and msgstr and not fuzzy
    }
    schemas = sorted(BUILTIN_DIR.glob("*.toml"))
    assert len(schemas) >= 2
    missing = []
    for path in schemas:
        schema = ProtocolSchema.from_file(path)
        texts = [ln.label for ln in schema.lines] + [c.message for c in schema.checks]
        missing += [(path.stem, t) for t in texts if t and translated.get(t, t) == t]
    assert missing == []

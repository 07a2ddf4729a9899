"""A protocol's lines as form fields: the election's schema in order, then one line per
candidate; posted strings in, :class:`ProtocolData` out (through ``parse_protocol``, which
names the line of any bad value)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from django.utils.translation import gettext

from secki.elections.models import Candidate, Election
from secki.elections.names import local
from secki.protocol_schema import ProtocolSchema
from secki.protocols.data import ProtocolData, parse_protocol


@dataclass(frozen=True)
class Field:
    code: str
    label: str
    kind: str  # "count", "datetime" or "candidate"
    required: bool
    value: str = ""
    first: str = ""  # reconciliation: the value of entry 1
    second: str = ""  # … and of entry 2
    differs: bool = False

    @property
    def numeric(self) -> bool:
        return self.kind != "datetime"


@dataclass(frozen=True)
class Sheet:
    """One election's protocol form: the lines, the candidates and what the page script needs."""

    election: Election
    schema: ProtocolSchema
    candidates: list[Candidate]

    @classmethod
    def of(cls, election: Election) -> Sheet:
        return cls(election, election.protocol_schema(), list(election.candidates.all()))

    @property
    def codes(self) -> list[str]:
        return self.schema.columns(len(self.candidates))

    @property
    def valid_line(self) -> str:
        """The line holding valid ballots when the schema's ``valid`` role is one line, for
        the running total of candidate votes; "" when it is an expression."""
        role = self.schema.roles.get("valid")
        if role is not None and len(role.names) == 1 and role.source in role.names:
            return role.source
        return ""

    @property
    def act_codes(self) -> list[str]:
        return [c.code for c in self.schema.checks if c.workflow == "act"]

    def fields(
        self,
        values: Mapping[str, str] | None = None,
        *,
        first: Mapping[str, str] | None = None,
        second: Mapping[str, str] | None = None,
    ) -> list[Field]:
        values = values or {}
        out: list[Field] = []
        for ln in self.schema.lines:
            # the schema's English label, in the page's language (portal.labels marks them)
            label = gettext(ln.label)
            out.append(Field(ln.code, label, ln.kind, ln.required, values.get(ln.code, "")))
        for c in self.candidates:
            name = f"{local(c)} ({local(c, 'party')})" if c.party else local(c)
            label = gettext("Votes for %(name)s") % {"name": name}
            out.append(Field(c.line_code, label, "candidate", True, values.get(c.line_code, "")))
        if first is not None and second is not None:
            out = [
                replace(
                    f,
                    first=first.get(f.code, ""),
                    second=second.get(f.code, ""),
                    differs=first.get(f.code, "") != second.get(f.code, ""),
                )
                for f in out
            ]
        return out

    def posted(self, post: Mapping[str, Any]) -> dict[str, str]:
        """The posted line values (only the protocol's own line codes), as typed."""
        return {code: str(post[code]) for code in self.codes if code in post}

    def parse(self, raw: Mapping[str, str]) -> ProtocolData:
        return parse_protocol(self.schema, len(self.candidates), raw, self.election.tz)

    def strings(self, data: ProtocolData) -> dict[str, str]:
        """Stored values as a form shows them (date-times in the election's time zone)."""
        out = {code: str(value) for code, value in data.values().items()}
        out.update({code: local_input(v, self.election) for code, v in data.instants.items()})
        return out


def local_input(instant: dt.datetime, election: Election) -> str:
    """An instant as the value of ``<input type="datetime-local">`` in the election's zone."""
    local = instant.astimezone(election.tz)
    return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")

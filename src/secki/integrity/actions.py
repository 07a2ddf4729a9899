"""Every integrity write: check the role, validate, write in one transaction.

Errors are :class:`~secki.errors.IntakeError` (one JSON shape in the API, a message on the
forms); nothing is stored when one is raised. A registered PVT sample and a change of the
public switch are public facts and are appended to the ledger.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from secki.accounts.access import Permission, authorize
from secki.accounts.users import User, account_of
from secki.elections.models import Election, Station
from secki.errors import IntakeError
from secki.inputs import require_storable
from secki.integrity import pvt
from secki.integrity.access import authorize_register
from secki.integrity.models import (
    ExitPoll,
    IntegritySettings,
    ObserverGroup,
    PvtCount,
    PvtSample,
    PvtStation,
    SampleMethod,
)
from secki.ledger import chain, drafts

_DIGITS = re.compile(r"[0-9]+")
MAX_COUNT = 10_000_000


def parse_count(raw: Any, field: str) -> int:
    """A whole, non-negative number from JSON (``431``) or a form (``"431"``)."""
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            raise IntakeError(
                "missing_value",
                gettext_noop("%(field)s: a number is required"),
                params={"field": field},
                field=field,
            )
        if not _DIGITS.fullmatch(text):
            raise IntakeError(
                "invalid_value",
                gettext_noop("%(field)s: %(value)s is not a whole number"),
                params={"field": field, "value": repr(raw)},
                field=field,
            )
        raw = int(text)
    if raw is None:
        raise IntakeError(
            "missing_value",
            gettext_noop("%(field)s: a number is required"),
            params={"field": field},
            field=field,
        )
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: %(value)s is not an integer"),
            params={"field": field, "value": repr(raw)},
            field=field,
        )
    if raw < 0:
        raise IntakeError(
            "negative_value",
            gettext_noop("%(field)s: %(value)s is negative"),
            params={"field": field, "value": raw},
            field=field,
        )
    if raw > MAX_COUNT:
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: %(value)s is implausibly large"),
            params={"field": field, "value": raw},
            field=field,
        )
    return int(raw)


def parse_number(raw: Any, field: str, *, low: float, high: float | None = None) -> float:
    """A finite decimal number in [low, high] from JSON or a form."""
    if isinstance(raw, str):
        text = raw.strip().replace(",", ".")
        if not text:
            raise IntakeError(
                "missing_value",
                gettext_noop("%(field)s: a number is required"),
                params={"field": field},
                field=field,
            )
        try:
            raw = float(Decimal(text))
        except InvalidOperation:
            raise IntakeError(
                "invalid_value",
                gettext_noop("%(field)s: %(value)s is not a number"),
                params={"field": field, "value": repr(raw)},
                field=field,
            ) from None
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: %(value)s is not a number"),
            params={"field": field, "value": repr(raw)},
            field=field,
        )
    value = float(raw)
    if not math.isfinite(value) or value < low or (high is not None and value > high):
        params = {"field": field, "value": repr(raw), "low": f"{low:g}", "high": f"{high or 0:g}"}
        raise IntakeError(
            "out_of_range",
            gettext_noop("%(field)s: %(value)s must be between %(low)s and %(high)s")
            if high is not None
            else gettext_noop("%(field)s: %(value)s must be at least %(low)s"),
            params=params,
            field=field,
        )
    return value


def _text(raw: Any, field: str, *, limit: int, required: bool = True) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: must be text"),
            params={"field": field},
            field=field,
        )
    text = require_storable(field, raw.strip())
    if required and not text:
        raise IntakeError(
            "missing_value",
            gettext_noop("%(field)s: required"),
            params={"field": field},
            field=field,
        )
    if len(text) > limit:
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: at most %(limit)s characters"),
            params={"field": field, "limit": limit},
            field=field,
        )
    return text


def candidate_key(election: Election, raw: Any, numbers: set[int]) -> str:
    """``"C2"``, ``"2"`` or ``2`` → ``"C2"`` for a candidate of the election."""
    text = str(raw).strip().upper().removeprefix("C")
    if not _DIGITS.fullmatch(text) or int(text) not in numbers:
        raise IntakeError(
            "unknown_candidate",
            gettext_noop("%(value)s is not a candidate of %(slug)s (use C1 … C%(last)s)"),
            params={"value": repr(raw), "slug": election.slug, "last": max(numbers, default=0)},
            field=f"votes.{raw}",
        )
    return f"C{int(text)}"


# -- settings -------------------------------------------------------------------------------


def set_public(election: Election, public: bool, *, actor: User | None) -> IntegritySettings:
    """CEC administrators decide whether the public sees the integrity pages."""
    authorize(actor, election, Permission.MANAGE_ELECTION)
    if not isinstance(public, bool):
        raise IntakeError(
            "invalid_value", gettext_noop("public: must be true or false"), field="public"
        )
    with transaction.atomic():
        row, _ = IntegritySettings.objects.select_for_update().get_or_create(election=election)
        if row.public != public or row.updated_by is None:
            row.public = public
            row.updated_by = account_of(actor)
            row.save()
            chain.append(
                election,
                drafts.Generic(
                    election.slug,
                    timezone.now(),
                    "integrity.settings",
                    drafts.INTEGRITY,
                    {"public": public},
                ),
            )
    return row


# -- PVT samples ----------------------------------------------------------------------------


def split_codes(raw: Any) -> list[str]:
    """Station codes from a JSON list or text separated by commas, spaces or new lines."""
    if isinstance(raw, str):
        return [c for c in re.split(r"[\s,;]+", raw) if c]
    if isinstance(raw, list) and all(isinstance(c, str | int) for c in raw):
        return [str(c).strip() for c in raw if str(c).strip()]
    raise IntakeError(
        "invalid_value", gettext_noop("stations: a list of station codes"), field="stations"
    )


def _group(name: Any, contact: Any) -> ObserverGroup:
    name_ = _text(name, "group", limit=200)
    group = ObserverGroup.objects.filter(name=name_).first()
    if group is None:
        contact_ = _text(contact, "contact", limit=300)
        group = ObserverGroup.objects.create(name=name_, contact=contact_)
    return group


def register_sample(
    election: Election,
    *,
    actor: User | None,
    group: Any,
    contact: Any = "",
    method: Any = SampleMethod.SEED,
    seed: Any = None,
    size: Any = None,
    margin: Any = None,
    codes: Any = None,
) -> PvtSample:
    """Register a group's PVT sample: drawn from ``seed`` (``size`` stations, or enough for
    the 99 % ``margin``), or the imported station ``codes``."""
    authorize_register(actor, election)
    if method not in SampleMethod.values:
        raise IntakeError(
            "invalid_value",
            gettext_noop("method: %(value)s is not 'seed' or 'import'"),
            params={"value": repr(method)},
            field="method",
        )
    frame = pvt.frame_of(election)
    if frame.stations < 2:
        raise IntakeError(
            "no_frame",
            gettext_noop("%(slug)s has fewer than two stations"),
            params={"slug": election.slug},
        )
    margin_value: float | None = None
    tickets: dict[str, float | None] = {}
    seed_text = ""
    if method == SampleMethod.SEED:
        seed_text = _text(seed, "seed", limit=200)
        if size not in (None, ""):
            n = parse_count(size, "size")
        elif margin not in (None, ""):
            margin_value = parse_number(margin, "margin", low=0.0005, high=0.5)
            sizes = pvt.sample_sizes(frame, (margin_value,))
            n = (sizes[0].stations or 0) if sizes else 0
        else:
            raise IntakeError(
                "missing_value",
                gettext_noop("give the sample size or the target margin"),
                field="size",
            )
        if n < 2 or n > frame.stations:
            raise IntakeError(
                "out_of_range",
                gettext_noop(
                    "size: %(n)s stations is not between 2 and the %(total)s of the register"
                ),
                params={"n": n, "total": frame.stations},
                field="size",
            )
        allocation, picked = pvt.draw(frame, n, seed_text)
        for codes_h in picked.values():
            for code in codes_h:
                tickets[code] = pvt.station_ticket(seed_text, code)
    else:
        listed = split_codes(codes)
        if len(listed) < 2:
            raise IntakeError(
                "missing_value",
                gettext_noop("stations: import at least two station codes"),
                field="stations",
            )
        dupes = sorted(c for c, k in Counter(listed).items() if k > 1)
        if dupes:
            raise IntakeError(
                "duplicate_station",
                gettext_noop("stations: listed more than once: %(codes)s"),
                params={"codes": ", ".join(dupes[:10])},
                field="stations",
            )
        known = set(frame.codes)
        unknown = [c for c in listed if c not in known]
        if unknown:
            raise IntakeError(
                "unknown_station",
                gettext_noop("stations: not in the register of %(slug)s: %(codes)s"),
                params={
                    "slug": election.slug,
                    "codes": ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else ""),
                },
                field="stations",
                details=[{"station": c} for c in unknown[:100]],
            )
        tickets = dict.fromkeys(listed)
        stratum = dict(zip(frame.codes, frame.strata, strict=True))
        allocation = {}
        for c in listed:
            allocation[stratum[c]] = allocation.get(stratum[c], 0) + 1
    stratum_of = dict(zip(frame.codes, frame.strata, strict=True))
    with transaction.atomic():
        group_ = _group(group, contact)
        if PvtSample.objects.filter(election=election, group=group_).exists():
            raise IntakeError(
                "sample_exists",
                gettext_noop("%(group)s already registered a PVT sample for %(slug)s"),
                params={"group": group_.name, "slug": election.slug},
                status=409,
                field="group",
            )
        sample = PvtSample.objects.create(
            election=election,
            group=group_,
            method=method,
            seed=seed_text,
            margin=margin_value,
            frame=frame.sizes,
            allocation=allocation,
            digest=pvt.codes_digest(list(tickets)),
            created_by=account_of(actor),
        )
        ids = dict(
            Station.objects.filter(election=election, code__in=list(tickets)).values_list(
                "code", "id"
            )
        )
        PvtStation.objects.bulk_create(
            PvtStation(sample=sample, station_id=ids[c], stratum=stratum_of[c], ticket=t)
            for c, t in tickets.items()
        )
        chain.append(
            election,
            drafts.Generic(
                election.slug,
                timezone.now(),
                "integrity.pvt_sample",
                drafts.INTEGRITY,
                {
                    "sample": sample.pk,
                    "group": group_.name,
                    "method": method,
                    "seed": seed_text or None,
                    "stations": len(tickets),
                    "digest": sample.digest,
                    "allocation": allocation,
                },
            ),
        )
    return sample


# -- PVT counts -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CountOutcome:
    count: PvtCount
    created: bool  # False: the same numbers were already current (a retry)


def parse_votes(election: Election, raw: Any) -> dict[str, int]:
    numbers = set(election.candidates.values_list("number", flat=True))
    if not isinstance(raw, Mapping):
        raise IntakeError(
            "invalid_value",
            gettext_noop('votes: an object {"C1": votes, …} is required'),
            field="votes",
        )
    votes: dict[str, int] = {}
    for key, value in raw.items():
        code = candidate_key(election, key, numbers)
        if code in votes:
            raise IntakeError(
                "invalid_value",
                gettext_noop("votes: %(code)s given twice"),
                params={"code": code},
                field=f"votes.{code}",
            )
        votes[code] = parse_count(value, f"votes.{code}")
    missing = [f"C{n}" for n in sorted(numbers) if f"C{n}" not in votes]
    if missing:
        raise IntakeError(
            "missing_value",
            gettext_noop("votes: no number for %(codes)s"),
            params={"codes": ", ".join(missing)},
            field=f"votes.{missing[0]}",
        )
    return dict(sorted(votes.items(), key=lambda kv: int(kv[0][1:])))


def enter_count(
    sample: PvtSample,
    *,
    actor: User | None,
    station: Any,
    registered: Any,
    participants: Any,
    valid: Any,
    votes: Any,
    reason: Any = "",
) -> CountOutcome:
    """Store an observer's counts of one sampled station; a different second entry is a
    correction and needs a reason."""
    election = sample.election
    authorize_register(actor, election)
    code = _text(station, "station", limit=64)
    st = Station.objects.filter(election=election, code=code).first()
    if st is None:
        raise IntakeError(
            "unknown_station",
            gettext_noop("no station %(code)s in %(slug)s"),
            params={"code": repr(code), "slug": election.slug},
            field="station",
        )
    if not PvtStation.objects.filter(sample=sample, station=st).exists():
        raise IntakeError(
            "not_in_sample",
            gettext_noop("station %(code)s is not in the PVT sample of %(group)s"),
            params={"code": code, "group": sample.group.name},
            field="station",
        )
    reg = parse_count(registered, "registered")
    part = parse_count(participants, "participants")
    val = parse_count(valid, "valid")
    vts = parse_votes(election, votes)
    why = _text(reason, "reason", limit=500, required=False)
    ceiling = int(reg * (1 + float(election.turnout_allowance)))
    if part > ceiling:
        raise IntakeError(
            "participants_above_registered",
            gettext_noop(
                "participants: %(part)s voters received a ballot but only %(reg)s are registered"
            ),
            params={"part": part, "reg": reg},
            field="participants",
        )
    if val > part:
        raise IntakeError(
            "valid_above_participants",
            gettext_noop("valid: %(val)s valid ballots but only %(part)s voters received a ballot"),
            params={"val": val, "part": part},
            field="valid",
        )
    if sum(vts.values()) != val:
        raise IntakeError(
            "votes_do_not_add_up",
            gettext_noop(
                "votes: the candidates' votes add up to %(sum)s, not to the %(val)s valid ballots"
            ),
            params={"sum": sum(vts.values()), "val": val},
            field="votes",
        )
    with transaction.atomic():
        PvtStation.objects.select_for_update().get(sample=sample, station=st)
        current = PvtCount.objects.filter(sample=sample, station=st, is_current=True).first()
        if current is not None:
            same = (current.registered, current.participants, current.valid, current.votes) == (
                reg,
                part,
                val,
                vts,
            )
            if same:
                return CountOutcome(current, created=False)
            if not why:
                raise IntakeError(
                    "already_entered",
                    gettext_noop(
                        "station %(code)s already has counts (version %(version)s); "
                        "give a reason to correct them"
                    ),
                    params={"code": code, "version": current.version},
                    status=409,
                    field="reason",
                )
            current.is_current = False
            current.save(update_fields=["is_current"])
        count = PvtCount.objects.create(
            sample=sample,
            station=st,
            version=current.version + 1 if current is not None else 1,
            registered=reg,
            participants=part,
            valid=val,
            votes=vts,
            reason=why if current is not None else "",
            entered_by=account_of(actor),
        )
    return CountOutcome(count, created=True)


# -- exit polls -----------------------------------------------------------------------------


def parse_estimates(election: Election, raw: Any, *, percent: bool = False) -> dict[str, float]:
    numbers = set(election.candidates.values_list("number", flat=True))
    if not isinstance(raw, Mapping) or not raw:
        raise IntakeError(
            "missing_value",
            gettext_noop(
                'estimates: an object {"C1": share, …} with at least one candidate is required'
            ),
            field="estimates",
        )
    out: dict[str, float] = {}
    scale = 100.0 if percent else 1.0
    for key, value in raw.items():
        code = candidate_key(election, key, numbers)
        out[code] = parse_number(value, f"estimates.{code}", low=0.0, high=scale) / scale
    if sum(out.values()) > 1.005:
        raise IntakeError(
            "estimates_above_total",
            gettext_noop("estimates: the shares add up to %(sum)s, more than 1"),
            params={"sum": f"{sum(out.values()):.3f}"},
            field="estimates",
        )
    return dict(sorted(out.items(), key=lambda kv: int(kv[0][1:])))


def register_exit_poll(
    election: Election,
    *,
    actor: User | None,
    organisation: Any,
    stations: Any,
    respondents: Any,
    estimates: Any,
    rho: Any = None,
    design_effect: Any = None,
    note: Any = "",
    percent: bool = False,
) -> ExitPoll:
    """Register an exit poll: shares of the valid votes (0…1, or percent from the form)."""
    authorize_register(actor, election)
    org = _text(organisation, "organisation", limit=200)
    n_stations = parse_count(stations, "stations")
    n_resp = parse_count(respondents, "respondents")
    if n_stations < 1:
        raise IntakeError("out_of_range", gettext_noop("stations: at least one"), field="stations")
    if n_resp < n_stations:
        raise IntakeError(
            "out_of_range",
            gettext_noop(
                "respondents: %(resp)s respondents in %(n)s stations is fewer than one each"
            ),
            params={"resp": n_resp, "n": n_stations},
            field="respondents",
        )
    has_rho = rho not in (None, "")
    has_deff = design_effect not in (None, "")
    if has_rho == has_deff:
        raise IntakeError(
            "missing_value" if not has_rho else "invalid_value",
            gettext_noop(
                "give either rho (intra-station correlation) or the design effect, not both"
            ),
            field="rho",
        )
    rho_value = parse_number(rho, "rho", low=0.0, high=1.0) if has_rho else None
    deff_value = parse_number(design_effect, "design_effect", low=1.0) if has_deff else None
    shares = parse_estimates(election, estimates, percent=percent)
    text = _text(note, "note", limit=500, required=False)
    return ExitPoll.objects.create(
        election=election,
        organisation=org,
        stations=n_stations,
        respondents=n_resp,
        rho=rho_value,
        design_effect=deff_value,
        estimates=shares,
        note=text,
        created_by=account_of(actor),
    )

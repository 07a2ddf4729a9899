"""Every audit write: check the role, validate, write in one transaction, leave an audit
record, and log the public fact (kinds ``audit.created``, ``audit.seed``, ``audit.round``,
``audit.count``, ``audit.result``, and ``audit.report`` with the SHA-256 of the final
report's ``report.json`` once the audit is finished; subject ``audit:<id>``).

* Set-up, the seed and rounds: CEC administrators (``MANAGE_ELECTION`` on the whole
  election).
* Board assignments: CEC administrators assign members of an audit board (role
  ``audit_board``, whose territory reaches the constituency) to a round's constituency.
* Hand counts: members of an audit board (role ``audit_board``) whose territory holds the
  station and who are assigned to its constituency in the round — not even a superuser
  counts in their place. The two entries of a station come from
  two different members, neither sees the other's nor the reported figures (blind); matching
  entries become the station's agreed count, differing ones are kept and it is counted again.

Errors are :class:`~secki.errors.IntakeError` naming the field (nothing is stored) or
:class:`~secki.accounts.access.AccessDenied`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_noop

from secki.accounts import audit as trail
from secki.accounts.access import AccessDenied, Permission, authorize, memberships
from secki.accounts.models import Role
from secki.accounts.users import User, account_of
from secki.audits import manifest, risk, sampling
from secki.audits.models import (
    Audit,
    AuditKind,
    AuditStatus,
    BoardAssignment,
    CountEntry,
    Draw,
    ManifestRow,
    Round,
    RoundKind,
    SeedCeremony,
    Task,
)
from secki.elections.models import Election
from secki.errors import IntakeError
from secki.inputs import require_storable
from secki.ledger import chain, drafts
from secki.ledger.models import LedgerEntry

MAX_COUNT = 10_000_000
SEED_RE = re.compile(r"[0-9]{20,100}")
INVALID = "invalid"


def subject(audit: Audit) -> str:
    return f"audit:{audit.pk}"


def _log(audit: Audit, kind: str, fields: Mapping[str, object]) -> None:
    chain.append(
        audit.election,
        drafts.Generic(
            audit.election.slug, timezone.now(), kind, subject(audit), {"audit": audit.pk, **fields}
        ),
    )


def _text(raw: Any, field: str, *, limit: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise IntakeError(
            "missing_value",
            gettext_noop("%(field)s: required"),
            params={"field": field},
            field=field,
        )
    text = require_storable(field, raw.strip())
    if len(text) > limit:
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: at most %(limit)s characters"),
            params={"field": field, "limit": limit},
            field=field,
        )
    return text


def parse_count(raw: Any, field: str) -> int:
    """A whole number 0 … 10,000,000 from JSON or a form."""
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            raise IntakeError(
                "missing_value",
                gettext_noop("%(field)s: a number is required"),
                params={"field": field},
                field=field,
            )
        if not text.isdigit():
            raise IntakeError(
                "invalid_value",
                gettext_noop("%(field)s: %(value)s is not a whole number"),
                params={"field": field, "value": repr(raw)},
                field=field,
            )
        raw = int(text)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise IntakeError(
            "invalid_value",
            gettext_noop("%(field)s: %(value)s is not a whole number"),
            params={"field": field, "value": repr(raw)},
            field=field,
        )
    if raw < 0 or raw > MAX_COUNT:
        raise IntakeError(
            "out_of_range",
            gettext_noop("%(field)s: %(value)s is not between 0 and %(max)s"),
            params={"field": field, "value": raw, "max": MAX_COUNT},
            field=field,
        )
    return int(raw)


def parse_risk_limit(raw: Any) -> float:
    """The risk limit as a fraction (0.05) or a percentage text ("5 %")."""
    field = "risk_limit"
    value: float
    if isinstance(raw, str):
        text = raw.strip().replace(",", ".")
        percent = text.endswith("%")
        try:
            value = float(Decimal(text.rstrip("%").strip()))
        except InvalidOperation:
            raise IntakeError(
                "invalid_value",
                gettext_noop("risk_limit: %(value)s is not a number"),
                params={"value": repr(raw)},
                field=field,
            ) from None
        if percent:
            value /= 100
    elif isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    else:
        raise IntakeError(
            "invalid_value",
            gettext_noop("risk_limit: %(value)s is not a number"),
            params={"value": repr(raw)},
            field=field,
        )
    if not math.isfinite(value) or not 0 < value < 0.5:
        raise IntakeError(
            "out_of_range",
            gettext_noop("risk_limit: %(value)s must be above 0 and below 0.5 (50 %%)"),
            params={"value": repr(raw)},
            field=field,
        )
    return value


def _authorize_admin(actor: User | None, election: Election) -> None:
    authorize(actor, election, Permission.MANAGE_ELECTION)


def authorize_board(actor: User | None, audit: Audit, row: ManifestRow) -> None:
    """An audit board member whose territory holds the station (superusers included: the
    people who count are named members of a board)."""
    if actor is None or not actor.is_authenticated:
        raise AccessDenied("not_authenticated", "log in or send an API token")
    boards = [m for m in memberships(actor, audit.election) if m.role == Role.AUDIT_BOARD]
    if not boards:
        raise AccessDenied(
            "forbidden_role", f"only audit boards of {audit.election.slug} enter hand counts"
        )
    if not any(m.covers(row.station) for m in boards):
        raise AccessDenied(
            "forbidden_territory", f"{row.station.code} is outside your audit board's territory"
        )


def authorize_counter(actor: User | None, task: Task) -> None:
    """:func:`authorize_board`, and the member assigned to the station's constituency in the
    task's round."""
    audit = task.round.audit
    authorize_board(actor, audit, task.row)
    who = account_of(actor)
    if not BoardAssignment.objects.filter(
        round_id=task.round_id, constituency=task.row.constituency, member=who
    ).exists():
        raise AccessDenied(
            "not_assigned",
            f"you are not assigned to count constituency {task.row.constituency} "
            f"in round {task.round.number}",
        )


def is_assigned(actor: User | None, round_: Round, constituency: str) -> bool:
    who = account_of(actor)
    return who is not None and (
        BoardAssignment.objects.filter(round=round_, constituency=constituency, member=who).exists()
    )


def is_board(actor: User | None, election: Election) -> bool:
    return any(m.role == Role.AUDIT_BOARD for m in memberships(actor, election))


# -- set-up -------------------------------------------------------------------------------


def create_audit(
    election: Election,
    *,
    actor: User | None,
    kind: Any,
    risk_limit: Any,
    contest: Any = None,
    max_rounds: Any = 3,
    request: HttpRequest | None = None,
) -> Audit:
    """Set up an audit of ``election``'s published results as they stand now."""
    _authorize_admin(actor, election)
    if kind not in AuditKind.values:
        raise IntakeError(
            "invalid_value",
            gettext_noop("kind: %(value)s is not 'macro' or 'bravo'"),
            params={"value": repr(kind)},
            field="kind",
        )
    alpha = parse_risk_limit(risk_limit)
    contest_text = _text(
        contest if contest not in (None, "") else election.name, "contest", limit=200
    )
    rounds = parse_count(max_rounds, "max_rounds")
    if not 1 <= rounds <= 20:
        raise IntakeError(
            "out_of_range", gettext_noop("max_rounds: must be between 1 and 20"), field="max_rounds"
        )
    with transaction.atomic():
        rep = manifest.reported(election)
        totals = rep.totals()
        if len(rep.codes) == 0 or len(rep.candidates) < 2:
            raise IntakeError(
                "nothing_to_audit",
                gettext_noop("%(election)s has no published protocol to audit"),
                params={"election": election.slug},
            )
        winners = manifest.winners_of(totals, 1)
        losers = [c for c in rep.candidates if c not in winners]
        if any(totals[w] <= totals[lo] for w in winners for lo in losers):
            raise IntakeError(
                "tied_outcome",
                gettext_noop("the reported outcome is a tie: an audit cannot confirm it"),
            )
        bounds = manifest.error_bounds(rep, winners) if kind == AuditKind.MACRO else None
        big_u = float(bounds.sum()) if bounds is not None else None
        if big_u is not None and big_u <= 1:
            raise IntakeError("nothing_to_audit", gettext_noop("no station can change the outcome"))
        csv_bytes = manifest.manifest_csv(
            rep.codes,
            rep.constituencies,
            rep.ballots.tolist(),
            None if bounds is None else bounds.tolist(),
        )
        log_size = int(
            (LedgerEntry.objects.filter(election=election).aggregate(m=Max("index"))["m"] or -1) + 1
        )
        audit = Audit.objects.create(
            election=election,
            contest=contest_text,
            kind=kind,
            risk_limit=alpha,
            max_rounds=rounds,
            log_size=log_size,
            ledger_head=chain.ledger_head(),
            reported=totals,
            reported_winners=winners,
            ballots=int(rep.ballots.sum()),
            total_error_bound=big_u,
            manifest_sha256=manifest.sha256(csv_bytes),
            created_by=account_of(actor),
        )
        ManifestRow.objects.bulk_create(
            ManifestRow(
                audit=audit,
                position=i,
                station_id=rep.station_ids[i],
                constituency=rep.constituencies[i],
                votes={
                    c: int(v) for c, v in zip(rep.candidates, rep.votes[i].tolist(), strict=True)
                },
                ballots=int(rep.ballots[i]),
                error_bound=None if bounds is None else float(bounds[i]),
            )
            for i in range(len(rep.codes))
        )
        after = {
            "contest": contest_text,
            "type": kind,
            "risk_limit": alpha,
            "max_rounds": rounds,
            "log_size": log_size,
            "stations": len(rep.codes),
            "ballots": audit.ballots,
            "reported": totals,
            "winners": winners,
            "manifest_sha256": audit.manifest_sha256,
        }
        if big_u is not None:
            after["total_error_bound"] = repr(big_u)
        trail.record(
            actor,
            "audit.created",
            election=election,
            target=subject(audit),
            after=after,
            request=request,
        )
        _log(audit, "audit.created", {**after, "risk_limit": repr(alpha), "rule": sampling.RULE})
    return audit


def manifest_bytes(audit: Audit) -> bytes:
    rows = list(audit.manifest.select_related("station").order_by("position"))
    macro = audit.kind == AuditKind.MACRO
    return manifest.manifest_csv(
        [r.station.code for r in rows],
        [r.constituency for r in rows],
        [r.ballots for r in rows],
        [float(r.error_bound or 0.0) for r in rows] if macro else None,
    )


def enter_seed(
    audit: Audit,
    *,
    actor: User | None,
    seed: Any,
    witnesses: Any,
    held_at: dt.datetime | None = None,
    request: HttpRequest | None = None,
) -> SeedCeremony:
    """Record the seed of the public ceremony (digits, e.g. 20 dice rolls) and its witnesses.
    Once only: it can be neither entered again nor changed."""
    _authorize_admin(actor, audit.election)
    if not isinstance(seed, str) or not SEED_RE.fullmatch(seed.strip()):
        raise IntakeError(
            "invalid_value",
            gettext_noop("seed: 20 to 100 digits (0-9), e.g. from dice rolls"),
            field="seed",
        )
    if isinstance(witnesses, str):
        names = [w.strip() for w in re.split(r"[\n;]+", witnesses) if w.strip()]
    elif isinstance(witnesses, list) and all(isinstance(w, str) for w in witnesses):
        names = [w.strip() for w in witnesses if w.strip()]
    else:
        raise IntakeError(
            "invalid_value", gettext_noop("witnesses: a list of names"), field="witnesses"
        )
    if len(names) < 2:
        raise IntakeError(
            "missing_value",
            gettext_noop("witnesses: at least two witnesses of the ceremony"),
            field="witnesses",
        )
    names = [_text(n, "witnesses", limit=200) for n in names]
    at = held_at or timezone.now()
    with transaction.atomic():
        locked = Audit.objects.select_for_update().get(pk=audit.pk)
        if SeedCeremony.objects.filter(audit=locked).exists():
            raise IntakeError(
                "seed_exists",
                gettext_noop("the seed of this audit was entered already and cannot change"),
                field="seed",
            )
        ceremony = SeedCeremony.objects.create(
            audit=locked,
            seed=seed.strip(),
            witnesses=names,
            held_at=at,
            entered_by=account_of(actor),
        )
        locked.status = AuditStatus.SEEDED
        locked.save(update_fields=["status"])
        after = {"seed": ceremony.seed, "witnesses": names, "held_at": at.isoformat()}
        trail.record(
            actor,
            "audit.seed",
            election=audit.election,
            target=subject(audit),
            after=after,
            request=request,
        )
        _log(locked, "audit.seed", {"seed": ceremony.seed, "witnesses": names, "held_at": at})
    audit.refresh_from_db()
    return ceremony


# -- rounds -------------------------------------------------------------------------------


def next_round_size(audit: Audit) -> int:
    """The size the next sample round will have (round 1: the initial sample size)."""
    last = audit.rounds.order_by("-number").first()
    if last is None:
        return risk.initial_size(
            audit.kind,
            totals=audit.reported,
            ballots=audit.ballots,
            winners=audit.winners,
            total_error_bound=audit.total_error_bound,
            alpha=audit.risk_limit,
        )
    return int((last.figures or {}).get("next_size") or 0)


def start_round(audit: Audit, *, actor: User | None, request: HttpRequest | None = None) -> Round:
    """Draw the next round (or start the full hand count once the audit has escalated)."""
    _authorize_admin(actor, audit.election)
    with transaction.atomic():
        locked = Audit.objects.select_for_update().get(pk=audit.pk)
        ceremony = SeedCeremony.objects.filter(audit=locked).first()
        if ceremony is None:
            raise IntakeError(
                "no_seed", gettext_noop("nothing can be drawn before the seed ceremony")
            )
        if locked.finished:
            raise IntakeError("audit_finished", gettext_noop("the audit is finished"))
        if locked.status == AuditStatus.COUNTING or (
            locked.status == AuditStatus.FULL_COUNT
            and locked.rounds.filter(kind=RoundKind.FULL).exists()
        ):
            raise IntakeError(
                "round_open", gettext_noop("the current round is still being counted")
            )
        rows = list(locked.manifest.order_by("position"))
        last_number = locked.rounds.aggregate(m=Max("number"))["m"] or 0
        first = (locked.draws.aggregate(m=Max("number"))["m"] or 0) + 1
        if locked.status == AuditStatus.FULL_COUNT:
            round_ = Round.objects.create(
                audit=locked,
                ceremony=ceremony,
                number=last_number + 1,
                kind=RoundKind.FULL,
                size=len(rows),
                first_draw=first,
                started_by=account_of(actor),
            )
            Task.objects.bulk_create(Task(round=round_, row=r) for r in rows)
            fields: dict[str, object] = {
                "round": round_.number,
                "type": "full",
                "stations": len(rows),
            }
        else:
            size = next_round_size(locked)
            if size <= 0:
                raise IntakeError(
                    "no_round_needed", gettext_noop("the audit needs no further round")
                )
            picks = sampling.draw(
                ceremony.seed,
                n=size,
                first=first,
                bounds=[float(r.error_bound or 0.0) for r in rows]
                if locked.kind == AuditKind.MACRO
                else None,
                ballots=[r.ballots for r in rows] if locked.kind == AuditKind.BRAVO else None,
            )
            round_ = Round.objects.create(
                audit=locked,
                ceremony=ceremony,
                number=last_number + 1,
                kind=RoundKind.SAMPLE,
                size=size,
                first_draw=first,
                started_by=account_of(actor),
            )
            Draw.objects.bulk_create(
                Draw(
                    audit=locked,
                    round=round_,
                    number=d.number,
                    ticket=d.ticket,
                    row=rows[d.position],
                    ballot=d.ballot,
                )
                for d in picks
            )
            counted = (
                set(
                    Task.objects.filter(round__audit=locked, agreed__isnull=False).values_list(
                        "row_id", flat=True
                    )
                )
                if locked.kind == AuditKind.MACRO
                else set()
            )
            wanted: dict[int, set[int]] = {}
            for d in picks:
                row = rows[d.position]
                if row.pk in counted:
                    continue  # MACRO: a station counted in an earlier round is not counted again
                wanted.setdefault(d.position, set())
                if d.ballot is not None:
                    wanted[d.position].add(d.ballot)
            Task.objects.bulk_create(
                Task(round=round_, row=rows[p], ballots=sorted(b))
                for p, b in sorted(wanted.items())
            )
            fields = {
                "round": round_.number,
                "type": "sample",
                "size": size,
                "draws": [
                    [d.number, d.ticket, rows[d.position].station.code]
                    + ([d.ballot] if d.ballot is not None else [])
                    for d in picks
                ],
            }
        locked.status = (
            AuditStatus.FULL_COUNT if round_.kind == RoundKind.FULL else AuditStatus.COUNTING
        )
        locked.save(update_fields=["status"])
        trail.record(
            actor,
            "audit.round",
            election=audit.election,
            target=subject(audit),
            after={"round": round_.number, "kind": round_.kind, "size": round_.size},
            request=request,
        )
        _log(locked, "audit.round", fields)
        if not round_.tasks.exists():
            _close_round(locked, round_)
    audit.refresh_from_db()
    return round_


# -- audit boards -------------------------------------------------------------------------


def _board_member(audit: Audit, username: Any) -> Any:
    name = _text(username, "member", limit=150)
    member = get_user_model().objects.filter(username=name, is_active=True).first()
    if member is None:
        raise IntakeError(
            "unknown_member",
            gettext_noop("member: no active user %(name)s"),
            params={"name": name},
            field="member",
        )
    return member


def _round_constituency(round_: Round, constituency: Any) -> tuple[str, list[ManifestRow]]:
    code = _text(constituency, "constituency", limit=64)
    rows = [
        t.row for t in round_.tasks.select_related("row__station").filter(row__constituency=code)
    ]
    if not rows:
        raise IntakeError(
            "unknown_constituency",
            gettext_noop("constituency: round %(round)s has no station to count in %(code)s"),
            params={"round": round_.number, "code": code},
            field="constituency",
        )
    return code, rows


def assign_board(
    round_: Round,
    *,
    actor: User | None,
    constituency: Any,
    member: Any,
    request: HttpRequest | None = None,
) -> BoardAssignment:
    """Assign an audit board member (by user name) to count ``constituency``'s stations in
    ``round_``: the member must hold the role ``audit_board`` in the election with a territory
    that holds at least one of those stations."""
    audit = round_.audit
    _authorize_admin(actor, audit.election)
    if round_.finished_at is not None:
        raise IntakeError("round_closed", gettext_noop("this round is closed"), field="round")
    code, rows = _round_constituency(round_, constituency)
    user = _board_member(audit, member)
    boards = [m for m in memberships(user, audit.election) if m.role == Role.AUDIT_BOARD]
    if not boards:
        raise IntakeError(
            "not_a_board_member",
            gettext_noop("member: %(name)s is not a member of an audit board of this election"),
            params={"name": user.username},
            field="member",
        )
    if not any(m.covers(r.station) for m in boards for r in rows):
        raise IntakeError(
            "outside_territory",
            gettext_noop(
                "member: constituency %(code)s is outside %(name)s's audit board territory"
            ),
            params={"code": code, "name": user.username},
            field="member",
        )
    with transaction.atomic():
        if BoardAssignment.objects.filter(round=round_, constituency=code, member=user).exists():
            raise IntakeError(
                "already_assigned",
                gettext_noop("member: %(name)s is already assigned to %(code)s in this round"),
                params={"name": user.username, "code": code},
                field="member",
            )
        assignment = BoardAssignment.objects.create(
            round=round_, constituency=code, member=user, assigned_by=account_of(actor)
        )
        trail.record(
            actor,
            "audit.board_assigned",
            election=audit.election,
            target=f"{subject(audit)} round {round_.number} {code}",
            after={"round": round_.number, "constituency": code, "member": user.username},
            request=request,
        )
    return assignment


def unassign_board(
    assignment: BoardAssignment, *, actor: User | None, request: HttpRequest | None = None
) -> None:
    """Withdraw an assignment (the member's entries so far are kept)."""
    round_ = assignment.round
    audit = round_.audit
    _authorize_admin(actor, audit.election)
    if round_.finished_at is not None:
        raise IntakeError("round_closed", gettext_noop("this round is closed"), field="round")
    with transaction.atomic():
        before = {
            "round": round_.number,
            "constituency": assignment.constituency,
            "member": assignment.member.get_username(),
        }
        assignment.delete()
        trail.record(
            actor,
            "audit.board_unassigned",
            election=audit.election,
            target=f"{subject(audit)} round {round_.number} {before['constituency']}",
            before=before,
            request=request,
        )


# -- hand counts --------------------------------------------------------------------------


def parse_station_count(audit: Audit, raw: Mapping[str, Any]) -> dict[str, int]:
    """{"C1": n, …, "invalid": n}: every candidate and the invalid ballots."""
    out: dict[str, int] = {}
    for c in audit.reported:
        out[c] = parse_count(raw.get(c), f"votes.{c}")
    out[INVALID] = parse_count(raw.get(INVALID), INVALID)
    unknown = sorted(set(raw) - set(out))
    if unknown:
        raise IntakeError(
            "unknown_field",
            gettext_noop("%(field)s: not a line of this count"),
            params={"field": unknown[0]},
            field=unknown[0],
        )
    return out


def parse_ballot_votes(audit: Audit, task: Task, raw: Mapping[str, Any]) -> dict[str, str | None]:
    """{"<ballot number>": "C1" … or "" (blank, invalid, no vote for a candidate)}."""
    out: dict[str, str | None] = {}
    for number in task.ballots:
        key = str(number)
        field = f"ballot.{number}"
        if key not in raw:
            raise IntakeError(
                "missing_value",
                gettext_noop("%(field)s: say what the ballot shows"),
                params={"field": field},
                field=field,
            )
        value = raw[key]
        if value in (None, "", INVALID):
            out[key] = None
        elif isinstance(value, str) and value in audit.reported:
            out[key] = value
        else:
            raise IntakeError(
                "unknown_candidate",
                gettext_noop("%(field)s: %(value)s is not a candidate of this contest"),
                params={"field": field, "value": repr(value)},
                field=field,
            )
    extra = sorted(set(raw) - set(out))
    if extra:
        raise IntakeError(
            "unknown_field",
            gettext_noop("ballot.%(number)s: not a ballot of this retrieval list"),
            params={"number": extra[0]},
            field=f"ballot.{extra[0]}",
        )
    return out


def enter_count(
    task: Task, data: Mapping[str, Any], *, actor: User | None, request: HttpRequest | None = None
) -> str:
    """One board member's blind entry; returns ``first``, ``agreed`` or ``mismatch``."""
    audit = task.round.audit
    authorize_counter(actor, task)
    if not isinstance(data, Mapping):
        raise IntakeError(
            "invalid_value", gettext_noop("the count must be an object"), field="votes"
        )
    ballots_mode = task.round.kind == RoundKind.SAMPLE and audit.kind == AuditKind.BRAVO
    clean: dict[str, Any] = (
        dict(parse_ballot_votes(audit, task, data))
        if ballots_mode
        else dict(parse_station_count(audit, data))
    )
    with transaction.atomic():
        locked = (
            Task.objects.select_for_update().select_related("round", "row__station").get(pk=task.pk)
        )
        if locked.agreed is not None:
            raise IntakeError(
                "already_agreed", gettext_noop("this station's count is already agreed")
            )
        if locked.round.finished_at is not None:
            raise IntakeError("round_closed", gettext_noop("this round is closed"))
        attempt = locked.entries.aggregate(m=Max("attempt"))["m"] or 1
        current = list(locked.entries.filter(attempt=attempt))
        if len(current) == 2:  # the last attempt's two entries differed
            attempt += 1
            current = []
        who = account_of(actor)
        assert who is not None  # authorize_board admits signed-in board members only
        if current and current[0].entered_by_id == who.pk:
            raise IntakeError(
                "same_person",
                gettext_noop("the second entry must come from another member of the board"),
            )
        entry = CountEntry.objects.create(
            task=locked, attempt=attempt, slot=len(current) + 1, data=clean, entered_by=who
        )
        outcome = "first"
        if current:
            outcome = "agreed" if current[0].data == clean else "mismatch"
        trail.record(
            actor,
            "audit.count_entry",
            election=audit.election,
            target=f"{subject(audit)} {locked.row.station.code}",
            after={
                "round": locked.round.number,
                "attempt": attempt,
                "slot": entry.slot,
                "outcome": outcome,
            },
            request=request,
        )
        if outcome == "agreed":
            locked.agreed = clean
            locked.agreed_at = timezone.now()
            locked.save(update_fields=["agreed", "agreed_at"])
            _log(
                audit,
                "audit.count",
                {
                    "round": locked.round.number,
                    "station": locked.row.station.code,
                    "reported": locked.row.votes if not ballots_mode else None,
                    "audited": clean,
                },
            )
            if not locked.round.tasks.filter(agreed__isnull=True).exists():
                _close_round(Audit.objects.select_for_update().get(pk=audit.pk), locked.round)
    return outcome


def _close_round(audit: Audit, round_: Round) -> None:
    """Measure the risk after ``round_`` and decide: confirmed, next round, or full count."""
    figures: dict[str, Any]
    if round_.kind == RoundKind.FULL:
        totals = dict.fromkeys(audit.reported, 0)
        for agreed in round_.tasks.values_list("agreed", flat=True):
            assert agreed is not None  # the round closes once every task is agreed
            for c in totals:
                totals[c] += int(agreed[c])
        winners = manifest.winners_of(totals, audit.winners)
        same = sorted(winners) == sorted(audit.reported_winners)
        audit.status = AuditStatus.CONFIRMED_FULL if same else AuditStatus.OVERTURNED
        round_.risk = 0.0
        figures = {
            "method": "full hand count",
            "audited": totals,
            "winners": winners,
            "confirmed": same,
        }
    else:
        measured = _measure(audit)
        figures = dict(measured.figures)
        round_.risk = measured.risk
        if measured.confirmed:
            audit.status = AuditStatus.CONFIRMED
        else:
            size = _next_size(audit, measured)
            limit = audit.manifest.count() if audit.kind == AuditKind.MACRO else audit.ballots // 2
            if (
                size is None
                or round_.number >= audit.max_rounds
                or size > limit
                or figures.get("taint_at_least_1")
            ):
                audit.status = AuditStatus.FULL_COUNT
                figures["escalate"] = True
            else:
                audit.status = AuditStatus.SEEDED
                figures["next_size"] = max(size, round_.size)
    figures["status"] = str(audit.status)
    round_.figures = figures
    round_.finished_at = timezone.now()
    round_.save(update_fields=["risk", "figures", "finished_at"])
    audit.save(update_fields=["status"])
    _log(
        audit,
        "audit.result",
        {"round": round_.number, "risk": repr(round_.risk), "figures": figures},
    )
    if audit.finished:
        # the final report's figures (report.json) fixed in the signed, witnessed log
        from secki.audits import report

        body = report.report_json(audit)
        _log(
            audit,
            "audit.report",
            {"status": str(audit.status), "report_sha256": manifest.sha256(body)},
        )


def _measure(audit: Audit) -> risk.Measured:
    draws = list(audit.draws.select_related("row").order_by("number"))
    agreed: dict[int, dict[str, Any]] = {}
    for row_id, value in Task.objects.filter(
        round__audit=audit, round__kind=RoundKind.SAMPLE, agreed__isnull=False
    ).values_list("row_id", "agreed"):
        # BRAVO: a station's ballots of every round
        agreed.setdefault(row_id, {}).update(value or {})
    if audit.kind == AuditKind.MACRO:
        assert audit.total_error_bound is not None
        return risk.macro_measure(
            candidates=list(audit.reported),
            totals=audit.reported,
            winners=audit.reported_winners,
            total_error_bound=audit.total_error_bound,
            reported=[d.row.votes for d in draws],
            audited=[agreed[d.row_id] for d in draws],
            bounds=[float(d.row.error_bound or 0.0) for d in draws],
            alpha=audit.risk_limit,
        )
    sample = [agreed[d.row_id][str(d.ballot)] for d in draws]
    return risk.bravo_measure(
        totals=audit.reported,
        ballots=audit.ballots,
        winners=audit.winners,
        sample=sample,
        alpha=audit.risk_limit,
    )


def _next_size(audit: Audit, measured: risk.Measured) -> int | None:
    if audit.kind == AuditKind.MACRO:
        assert audit.total_error_bound is not None
        if measured.risk >= 1:
            return None
        return risk.macro_next_size(audit.total_error_bound, measured.risk, audit.risk_limit)
    return risk.bravo_next_size(
        audit.reported,
        audit.ballots,
        audit.winners,
        measured.figures["log_statistics"],
        audit.risk_limit,
    )


def discrepancies(audit: Audit) -> list[dict[str, Any]]:
    """Stations whose agreed hand count differs from the reported protocol (per candidate)."""
    out = []
    for task in Task.objects.filter(round__audit=audit, agreed__isnull=False).select_related(
        "row__station", "round"
    ):
        if task.round.kind == RoundKind.SAMPLE and audit.kind == AuditKind.BRAVO:
            continue
        audited: dict[str, Any] = task.agreed or {}
        diff = {c: int(audited[c]) - int(task.row.votes.get(c, 0)) for c in audit.reported}
        if any(diff.values()):
            out.append(
                {
                    "round": task.round.number,
                    "station": task.row.station.code,
                    "reported": task.row.votes,
                    "audited": {c: audited[c] for c in audit.reported},
                    "difference": diff,
                }
            )
    return out


def witnesses_text(names: Sequence[str]) -> str:
    return "; ".join(names)

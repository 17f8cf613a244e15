"""The 12345 closed loop after routing: extensions (延期), supervision (督办), the overdue sweep, and the citizen's
verdict (回访/评价). Every change writes its AuditEvent in the same transaction; details hold ids, labels and
times, never an official's or a citizen's words (those live in their own tables)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from minsheng.core.clock import LOCAL_TZ
from minsheng.core.labels import LabelSet

from .due import iso, latest_resolution, move_due, reopen_resolved
from .models import (
    AuditEvent,
    CitizenFeedback,
    ExtensionRequest,
    SupervisionNote,
    Ticket,
    TicketResolution,
    utcnow,
)
from .queues import (
    Conflict,
    Invalid,
    NotFound,
    Visible,
    _iso_week,
    _locked,
    due_conditions,
)

VERDICTS = ("满意", "基本满意", "不满意")
SATISFIED = ("满意", "基本满意")
SWEEPER = "system:overdue-sweep"


def _extension(e: ExtensionRequest) -> dict[str, Any]:
    return {"id": e.id, "ticket_id": e.ticket_id, "requested_by": e.requested_by, "reason": e.reason,
            "due_at_before": iso(e.due_at_before), "requested_due_at": iso(e.requested_due_at), "status": e.status,
            "decided_by": e.decided_by, "decided_at": iso(e.decided_at), "note": e.note,
            "created_at": iso(e.created_at)}


def request_extension(sessions: sessionmaker[Session], ticket_id: int, reason: str, due_at: datetime, actor: str,
                      visible: Visible) -> dict[str, Any]:
    """An official of the ticket's queue asks for a later due time; one request waits for a decision at a time."""
    if not reason.strip():
        raise Invalid("reason", "say why more time is needed")
    if due_at.tzinfo is None:
        raise Invalid("due_at", "give a time zone, e.g. 2026-12-20T18:00:00+08:00")
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, visible)
        if ticket.status == "resolved":
            raise Conflict("the ticket is resolved")
        if due_at <= utcnow() or (ticket.due_at is not None and due_at <= ticket.due_at):
            raise Invalid("due_at", f"must be later than now and than the current due time {iso(ticket.due_at)}")
        pending = session.scalar(select(ExtensionRequest.id).where(ExtensionRequest.ticket_id == ticket_id,
                                                                    ExtensionRequest.status == "pending"))
        if pending is not None:
            raise Conflict(f"extension request {pending} is waiting for a decision")
        request = ExtensionRequest(ticket_id=ticket_id, requested_by=actor, reason=reason,
                                   due_at_before=ticket.due_at, requested_due_at=due_at, status="pending")
        session.add(request)
        session.flush()
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="ticket.extension_requested",
                               detail={"request_id": request.id, "due_at": iso(ticket.due_at),
                                       "requested_due_at": iso(due_at)}))
        return _extension(request)


def decide_extension(sessions: sessionmaker[Session], ticket_id: int, request_id: int, approve: bool,
                     note: str | None, actor: str) -> dict[str, Any]:
    """(admin) Approves (the ticket's due time becomes the requested one) or refuses a pending request."""
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, None)
        request = session.get(ExtensionRequest, request_id, with_for_update=True)
        if request is None or request.ticket_id != ticket_id:
            raise NotFound(f"no extension request {request_id} for ticket {ticket_id}")
        if request.status != "pending":
            raise Conflict(f"extension request {request_id} is already {request.status}")
        if approve and ticket.status == "resolved":
            raise Conflict("the ticket is resolved: nothing to extend")
        request.status, request.decided_by, request.decided_at = ("approved" if approve else "refused"), actor, utcnow()
        request.note = note
        detail = {"request_id": request_id}
        if approve:
            detail.update({"from": iso(ticket.due_at), "to": iso(request.requested_due_at)})
            move_due(session, ticket, request.requested_due_at, actor, "extension")
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action=f"ticket.extension_{request.status}",
                               detail=detail))
        return _extension(request)


def supervise(sessions: sessionmaker[Session], ticket_id: int, note: str, actor: str) -> dict[str, Any]:
    """(admin) A 督办 note to the department handling an unresolved ticket: shown on the ticket, audited."""
    if not note.strip():
        raise Invalid("note", "must not be empty")
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, None)
        if ticket.status == "resolved":
            raise Conflict("the ticket is resolved")
        row = SupervisionNote(ticket_id=ticket_id, actor=actor, note=note)
        session.add(row)
        session.flush()
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="ticket.supervised",
                               detail={"note_id": row.id, "note_chars": len(note), "due_at": iso(ticket.due_at),
                                       "overdue": ticket.due_at is not None and ticket.due_at < utcnow()}))
        return {"id": row.id, "ticket_id": ticket_id, "actor": actor, "note": note, "created_at": iso(row.created_at)}


def sweep_overdue(sessions: sessionmaker[Session]) -> list[int]:
    """Records "ticket.overdue" for each unresolved ticket whose due time has passed, once per due time (a new
    due time, after an extension or a reopening, can be missed again). Replicas may sweep together: the
    conditional update lets one of them record each ticket. Returns the ticket ids recorded."""
    now = utcnow()
    recorded = []
    with sessions.begin() as session:
        rows = session.execute(select(Ticket.id, Ticket.due_at, Ticket.queue, Ticket.domain, Ticket.due_rule)
                               .where(*due_conditions(now)["overdue"], Ticket.overdue_at.is_(None))).all()
        for ticket_id, due_at, queue, domain, rule in rows:
            done = session.execute(update(Ticket).where(Ticket.id == ticket_id, Ticket.overdue_at.is_(None),
                                                        Ticket.due_at == due_at).values(overdue_at=now))
            if done.rowcount:
                session.add(AuditEvent(ticket_id=ticket_id, actor=SWEEPER, action="ticket.overdue",
                                       detail={"due_at": iso(due_at), "rule": rule, "queue": queue,
                                               "domain": domain}))
                recorded.append(ticket_id)
    return recorded


@dataclass(frozen=True)
class Verdict:
    verdict: str
    solved: bool
    comment: str | None = None
    client_id: str | None = None  # the call-back system's id of this feedback: a retry repeats it

    def same_as(self, row: CitizenFeedback) -> bool:
        return (row.verdict, row.solved, row.comment) == (self.verdict, self.solved, self.comment)


def _feedback(row: CitizenFeedback) -> dict[str, Any]:
    return {"id": row.id, "ticket_id": row.ticket_id, "resolution_id": row.resolution_id, "client_id": row.client_id,
            "verdict": row.verdict, "solved": row.solved, "comment": row.comment, "reopened": row.reopened,
            "created_at": iso(row.created_at)}


def record_feedback(sessions: sessionmaker[Session], ticket_id: int, verdict: Verdict,
                    actor: str) -> dict[str, Any]:
    """The citizen's verdict on the ticket's latest resolution. 不满意, or a problem not solved, reopens the ticket
    in its department (the resolution counts as reopened; the clock starts again). Returns {feedback, created,
    ticket_status}.
    Idempotent: a repeat of the same client_id, or of the same verdict on the same resolution, returns the stored
    feedback and changes nothing; other content for a resolution already judged is a Conflict."""
    if verdict.verdict not in VERDICTS:
        raise Invalid("verdict", f"unknown verdict {verdict.verdict!r}; known: {', '.join(VERDICTS)}")
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, None)
        if verdict.client_id is not None:
            known = session.scalars(select(CitizenFeedback).where(CitizenFeedback.ticket_id == ticket_id,
                                                                  CitizenFeedback.client_id == verdict.client_id)).first()
            if known is not None:
                if not verdict.same_as(known):
                    raise Conflict(f"feedback {verdict.client_id!r} was recorded with other content")
                return {"feedback": _feedback(known), "created": False, "ticket_status": ticket.status}
        resolution = latest_resolution(session, ticket_id)
        if resolution is None:
            raise Conflict("the ticket has not been resolved: there is nothing to judge yet")
        judged = session.scalars(select(CitizenFeedback)
                                 .where(CitizenFeedback.resolution_id == resolution.id)).one_or_none()
        if judged is not None:
            if verdict.same_as(judged) and verdict.client_id in (None, judged.client_id):
                return {"feedback": _feedback(judged), "created": False, "ticket_status": ticket.status}
            raise Conflict(f"the latest resolution already has feedback {judged.id}")
        if ticket.status != "resolved":
            raise Conflict("the ticket was reopened since its last resolution: judge the next one")
        reopens = verdict.verdict == "不满意" or not verdict.solved
        row = CitizenFeedback(ticket_id=ticket_id, resolution_id=resolution.id, client_id=verdict.client_id,
                              actor=actor, verdict=verdict.verdict, solved=verdict.solved, comment=verdict.comment,
                              reopened=reopens)
        session.add(row)
        session.flush()
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="feedback.received",
                               detail={"feedback_id": row.id, "resolution_id": resolution.id,
                                       "verdict": verdict.verdict, "solved": verdict.solved, "reopened": reopens}))
        if reopens:
            reopen_resolved(session, ticket, actor, "feedback", {"cause": "feedback", "feedback_id": row.id})
        return {"feedback": _feedback(row), "created": True, "ticket_status": ticket.status}


def loop_detail(session: Session, ticket_id: int) -> dict[str, Any]:
    """What the closed loop adds to a ticket's page: its extension requests, 督办 notes and citizens' feedback."""
    def rows(model):
        return session.scalars(select(model).where(model.ticket_id == ticket_id).order_by(model.id))

    return {"extensions": [_extension(e) for e in rows(ExtensionRequest)],
            "supervision": [{"id": n.id, "ticket_id": n.ticket_id, "actor": n.actor, "note": n.note,
                             "created_at": iso(n.created_at)} for n in rows(SupervisionNote)],
            "feedback": [_feedback(f) for f in rows(CitizenFeedback)]}


def supervision_overview(session: Session, labels: LabelSet) -> dict[str, Any]:
    """(admin) Across departments: the overdue tickets of each queue, the longest overdue first, with how long,
    the due-soon count and the extension requests waiting for a decision. Ids, labels and times only."""
    now = utcnow()
    conditions = due_conditions(now)
    out = {q: {"queue": q, "department": r.department, "overdue": 0, "due_soon": 0, "tickets": [],
               "pending_extensions": []} for q, r in labels.queues().items()}
    supervised = set(session.scalars(select(SupervisionNote.ticket_id)))
    for t in session.scalars(select(Ticket).where(*conditions["overdue"]).order_by(Ticket.due_at, Ticket.id)):
        row = out[t.queue]
        row["overdue"] += 1
        row["tickets"].append({"id": t.id, "domain": t.domain, "appeal": t.appeal, "urgent": t.urgent,
                               "status": t.status, "claimed_by": t.claimed_by, "due_rule": t.due_rule,
                               "due_at": iso(t.due_at), "overdue_hours": round((now - t.due_at).total_seconds() / 3600, 1),
                               "supervised": t.id in supervised})
    for (queue,) in session.execute(select(Ticket.queue).where(*conditions["soon"])):
        out[queue]["due_soon"] += 1
    pending = session.execute(select(ExtensionRequest, Ticket.queue).join(Ticket, Ticket.id == ExtensionRequest.ticket_id)
                              .where(ExtensionRequest.status == "pending").order_by(ExtensionRequest.id))
    for request, queue in pending:
        out[queue]["pending_extensions"].append(_extension(request))
    departments = sorted(out.values(), key=lambda d: (-d["overdue"], -d["due_soon"], d["queue"]))
    return {"now": iso(now), "departments": departments}


class _Tally:
    """One cell of the closed-loop figures: a department or domain in one week, or over all weeks."""

    def __init__(self) -> None:
        self.resolved = self.on_time = self.timed = self.reopened = self.overdue = 0
        self.feedback = self.satisfied = 0
        self.hours: list[float] = []

    def figures(self) -> dict[str, Any]:
        def rate(part: int, whole: int) -> float | None:
            return round(part / whole, 4) if whole else None

        return {"resolved": self.resolved, "on_time_rate": rate(self.on_time, self.timed),
                "median_hours": round(median(self.hours), 1) if self.hours else None, "overdue": self.overdue,
                "feedback": self.feedback, "satisfaction_rate": rate(self.satisfied, self.feedback),
                "reopen_rate": rate(self.reopened, self.resolved)}


def loop_analytics(session: Session, labels: LabelSet, visible: Visible, weeks: int) -> dict[str, Any]:
    """Per department (the queue that resolved or missed it) and per domain, per ISO week (Beijing time) of the
    last `weeks` and over them all: resolutions, on-time rate (of those with a due time), median handling hours
    (from the clock's start to the resolution), reopen rate (resolutions reopened since, by an official or the
    citizen), tickets that became overdue (the sweep's "ticket.overdue") and the satisfaction rate (满意 or 基本满意
    among the verdicts received)."""
    today = utcnow().astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    week_ids = [_iso_week(start + timedelta(weeks=i)) for i in range(weeks)]
    cells: dict[tuple[str, str], defaultdict[str, _Tally]] = defaultdict(lambda: defaultdict(_Tally))

    def tallies(queue: str, domain: str, moment: datetime) -> list[_Tally]:
        week = _iso_week(moment)
        return [cells[key][w] for key in (("department", queue), ("domain", domain)) for w in (week, "total")]

    def mine(queue: str) -> bool:
        return visible is None or queue in visible

    for r in session.scalars(select(TicketResolution).where(TicketResolution.resolved_at >= start)):
        if not mine(r.queue):
            continue
        for t in tallies(r.queue, r.domain, r.resolved_at):
            t.resolved += 1
            t.timed += r.on_time is not None
            t.on_time += bool(r.on_time)
            t.reopened += r.reopened_at is not None
            t.hours.append((r.resolved_at - r.started_at).total_seconds() / 3600)
    for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.overdue",
                                                      AuditEvent.created_at >= start)):
        if mine(e.detail.get("queue")):
            for t in tallies(e.detail["queue"], e.detail["domain"], e.created_at):
                t.overdue += 1
    feedback = session.execute(select(CitizenFeedback.verdict, CitizenFeedback.created_at, TicketResolution.queue,
                                      TicketResolution.domain)
                               .join(TicketResolution, TicketResolution.id == CitizenFeedback.resolution_id)
                               .where(CitizenFeedback.created_at >= start))
    for verdict, created_at, queue, domain in feedback:
        if mine(queue):
            for t in tallies(queue, domain, created_at):
                t.feedback += 1
                t.satisfied += verdict in SATISFIED

    def series(kind: str, keys: dict[str, str]) -> list[dict[str, Any]]:
        return [{"key": key, "name": name, "weeks": [cells[(kind, key)][w].figures() for w in week_ids],
                 "total": cells[(kind, key)]["total"].figures()}
                for key, name in keys.items() if (kind, key) in cells]

    return {"weeks": week_ids,
            "by_department": series("department", {q: r.department for q, r in labels.queues().items()}),
            "by_domain": series("domain", {d: d for d in labels.domains})}

"""A ticket's time limit and resolutions, kept inside the transactions that route, relabel, resolve and reopen it
(store/queues.py, store/tickets.py, store/closed_loop.py). Audit details hold rule ids and times only."""
from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from minsheng.core.deadlines import load_deadlines
from minsheng.core.routing import intake_cues

from .models import AuditEvent, Prediction, Ticket, TicketResolution, utcnow


def iso(moment: datetime | None) -> str | None:
    return moment and moment.astimezone(UTC).isoformat()


def start_clock(ticket: Ticket, cues: Collection[str], start: datetime) -> None:
    """Sets the ticket's time limit by the rule its labels (and intake cues) match, counted from `start`."""
    rule = load_deadlines().rule_for(ticket.domain, ticket.appeal, ticket.urgent, cues)
    ticket.due_rule, ticket.due_started_at, ticket.due_at, ticket.overdue_at = rule.id, start, rule.due(start), None


def _cues(session: Session, ticket_id: int) -> list[str]:
    """The possible-emergency kinds found in the message at intake (e.g. 停水停电: the utilities rule)."""
    first = session.scalars(select(Prediction).where(Prediction.ticket_id == ticket_id)
                            .order_by(Prediction.id).limit(1)).one_or_none()
    return intake_cues(first and first.scores)["possible_emergency_cues"]


def reschedule(session: Session, ticket: Ticket, actor: str, cause: str, restart: bool = False) -> None:
    """After a relabel: a new rule re-computes the due time from the same start. After a reopening (`restart`): the
    clock starts again now. A change is recorded as "ticket.due_changed"."""
    before = ticket.due_at, ticket.due_rule
    cues = _cues(session, ticket.id)
    if not restart and load_deadlines().rule_for(ticket.domain, ticket.appeal, ticket.urgent, cues).id == ticket.due_rule:
        return
    start_clock(ticket, cues, utcnow() if restart or ticket.due_started_at is None else ticket.due_started_at)
    if (ticket.due_at, ticket.due_rule) != before:
        session.add(AuditEvent(ticket_id=ticket.id, actor=actor, action="ticket.due_changed",
                               detail={"cause": cause, "rule": ticket.due_rule, "from_rule": before[1],
                                       "from": iso(before[0]), "to": iso(ticket.due_at)}))


def move_due(session: Session, ticket: Ticket, due_at: datetime, actor: str, cause: str) -> dict[str, Any]:
    """A due time set by hand (an approved extension); the overdue sweep may record it missed again."""
    detail = {"cause": cause, "rule": ticket.due_rule, "from_rule": ticket.due_rule, "from": iso(ticket.due_at),
              "to": iso(due_at)}
    ticket.due_at, ticket.overdue_at = due_at, None
    session.add(AuditEvent(ticket_id=ticket.id, actor=actor, action="ticket.due_changed", detail=detail))
    return detail


def record_resolution(session: Session, ticket: Ticket, actor: str) -> TicketResolution:
    """The ticket was just resolved: its handling time and whether it kept its time limit."""
    resolution = TicketResolution(
        ticket_id=ticket.id, actor=actor, queue=ticket.queue, department=ticket.department, domain=ticket.domain,
        started_at=ticket.due_started_at or ticket.created_at, due_at=ticket.due_at, resolved_at=ticket.resolved_at,
        on_time=None if ticket.due_at is None else ticket.resolved_at <= ticket.due_at)
    session.add(resolution)
    session.flush()
    return resolution


def latest_resolution(session: Session, ticket_id: int) -> TicketResolution | None:
    return session.scalars(select(TicketResolution).where(TicketResolution.ticket_id == ticket_id)
                           .order_by(TicketResolution.id.desc()).limit(1)).one_or_none()


def reopen_resolved(session: Session, ticket: Ticket, actor: str, cause: str, detail: dict[str, Any]) -> None:
    """resolved → open and unclaimed, in its department: the last resolution counts as reopened, the clock starts
    again. The last reply stays until the next resolve replaces it."""
    ticket.status, ticket.claimed_by, ticket.claimed_at, ticket.resolved_at = "open", None, None, None
    resolution = latest_resolution(session, ticket.id)
    if resolution is not None:
        resolution.reopened_at, resolution.reopen_cause = utcnow(), cause
    session.add(AuditEvent(ticket_id=ticket.id, actor=actor, action="ticket.reopened", detail=detail))
    reschedule(session, ticket, actor, "reopen", restart=True)

"""Ticket repository: plain functions over SQLAlchemy sessions, for the API layer to call."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from minsheng.core.deadlines import due_state
from minsheng.core.routing import intake_cues

from .due import iso, start_clock
from .models import AuditEvent, Prediction, Ticket, utcnow


@dataclass(frozen=True)
class NewTicket:
    """A message as it arrives from a channel (hotline, mailbox, message board)."""

    channel: str
    text: str
    title: str | None = None
    external_id: str | None = None  # the channel's id; makes intake idempotent when given
    contact: str | None = None
    received_at: datetime | None = None  # timezone-aware


# what a channel sends: a repeated (channel, external_id) must repeat these to be the same delivery
SUBMITTED_FIELDS = ("text", "title", "contact", "received_at")


class SubmissionConflict(Exception):
    """A (channel, external_id) already names a ticket with other content: a new message under a used id, which
    must be refused rather than answered with the old ticket (the new complaint would be lost)."""

    def __init__(self, ticket_id: int, fields: list[str]):
        super().__init__(f"external_id names ticket {ticket_id}, whose {', '.join(fields)} differ")
        self.ticket_id, self.fields = ticket_id, fields


@dataclass(frozen=True)
class Routing:
    queue: str
    department: str
    priority: str = "normal"  # "high" / "normal"
    needs_review: bool = False


@dataclass(frozen=True)
class Analysis:
    keywords: list[str] = field(default_factory=list)
    places: list[str] = field(default_factory=list)
    pii: list[dict[str, Any]] = field(default_factory=list)  # [{"type", "start", "end"}]


def create_ticket(
    sessions: sessionmaker[Session],
    new: NewTicket,
    prediction: Mapping[str, Any],
    routing: Routing,
    analysis: Analysis,
    actor: str,
) -> tuple[dict[str, Any], bool]:
    """Store a ticket with its prediction and a "ticket.created" audit event, all or nothing.

    `prediction` holds Prediction's fields (model_version, label_version, <task> and <task>_confidence for
    domain/sentiment/appeal/urgent, scores). The ticket's time limit starts as it is routed. Returns (ticket as a dict, created). A (channel, external_id)
    seen before returns the stored ticket with created=False and writes nothing, also when concurrent
    calls race: the unique constraint decides and the losers read the winner's ticket; with other content it
    raises SubmissionConflict."""
    if new.external_id is not None:
        # cheap path for the common case, a channel retrying a delivery
        with sessions() as session:
            existing = find_submitted(session, new)
            if existing is not None:
                return ticket_to_dict(existing), False
    try:
        with sessions.begin() as session:
            ticket = Ticket(
                channel=new.channel,
                external_id=new.external_id,
                title=new.title,
                text=new.text,
                contact=new.contact,
                received_at=new.received_at,
                queue=routing.queue,
                department=routing.department,
                priority=routing.priority,
                needs_review=routing.needs_review,
                domain=prediction.get("domain"),
                sentiment=prediction.get("sentiment"),
                appeal=prediction.get("appeal"),
                urgent=prediction.get("urgent"),
                keywords=list(analysis.keywords),
                places=list(analysis.places),
                pii=[dict(p) for p in analysis.pii],
                model_version=prediction.get("model_version"),
                created_at=utcnow(),
            )
            start_clock(ticket, intake_cues(prediction.get("scores"))["possible_emergency_cues"], ticket.created_at)
            session.add(ticket)
            session.flush()  # assigns ticket.id; a duplicate (channel, external_id) fails here
            # serialized now, so it does not matter whether the caller's sessionmaker expires on commit
            created = ticket_to_dict(ticket)
            session.add(Prediction(ticket_id=ticket.id, **prediction))
            session.add(
                AuditEvent(
                    ticket_id=ticket.id,
                    actor=actor,
                    action="ticket.created",
                    detail={
                        "channel": new.channel,
                        "external_id": new.external_id,
                        "queue": routing.queue,
                        "department": routing.department,
                        "priority": routing.priority,
                        "needs_review": routing.needs_review,
                        "model_version": prediction.get("model_version"),
                        "due_rule": ticket.due_rule,
                        "due_at": iso(ticket.due_at),
                    },
                )
            )
        return created, True
    except IntegrityError:
        # The transaction is rolled back. If another writer took this (channel, external_id) in the meantime,
        # its ticket is committed and visible now; anything else (e.g. a missing field) is the caller's error.
        if new.external_id is None:
            raise
        with sessions() as session:
            existing = find_submitted(session, new)
            if existing is None:
                raise
            return ticket_to_dict(existing), False


def find_ticket(session: Session, channel: str, external_id: str) -> Ticket | None:
    return session.scalars(
        select(Ticket).where(Ticket.channel == channel, Ticket.external_id == external_id)
    ).one_or_none()


def find_submitted(session: Session, new: NewTicket) -> Ticket | None:
    """The ticket stored for new's (channel, external_id), if any; SubmissionConflict if its content differs (an
    erased ticket's content is gone: a late retry of it is taken as the same delivery)."""
    existing = find_ticket(session, new.channel, new.external_id)
    if existing is not None and existing.erased_at is None:
        differ = [f for f in SUBMITTED_FIELDS if getattr(existing, f) != getattr(new, f)]
        if differ:
            raise SubmissionConflict(existing.id, differ)
    return existing


def first_prediction(session: Session, ticket_id: int) -> Prediction | None:
    """The prediction made at intake (later ones come from re-classification by newer models)."""
    return session.scalars(
        select(Prediction).where(Prediction.ticket_id == ticket_id).order_by(Prediction.id).limit(1)
    ).one_or_none()


def get_ticket(session: Session, ticket_id: int) -> Ticket | None:
    return session.get(Ticket, ticket_id)


def count_tickets(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Ticket))


def ticket_to_dict(ticket: Ticket) -> dict[str, Any]:
    """All columns, datetimes as ISO 8601 strings (UTC, with offset), and whether it is overdue or due soon now."""
    out = {}
    for column in Ticket.__table__.columns:
        value = getattr(ticket, column.key)
        # in UTC, as stored, so a just-created ticket serializes the same as one read back
        out[column.key] = value.astimezone(UTC).isoformat() if isinstance(value, datetime) else value
    out["overdue"], out["due_soon"] = due_state(ticket.due_at, ticket.status, utcnow())
    return out

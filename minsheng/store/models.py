"""Tables of the ticket store. Schema changes need a new migration in migrations/versions/."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from minsheng.core.clock import now


def utcnow() -> datetime:
    """The service's clock (minsheng.core.clock), which tests can move."""
    return now()


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes on both backends, stored as UTC.

    SQLite has no timezone-aware type and hands back naive values; this rejects naive input and returns
    aware UTC datetimes everywhere, so comparisons and ISO output agree between SQLite and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give a timezone (e.g. Asia/Shanghai)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    # Deterministic constraint names, so later migrations (SQLite batch mode included) can refer to them.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Ticket(Base):
    __tablename__ = "ticket"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(128))
    # what the citizen's app looks progress up by (Open311): random, so nobody can walk the sequential ids
    public_id: Mapped[str] = mapped_column(String(32), index=True, unique=True,
                                           default=lambda: uuid.uuid4().hex)
    title: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # routing
    queue: Mapped[str] = mapped_column(String(64))  # indexed by the leading column of the queue index below
    department: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    needs_review: Mapped[bool] = mapped_column(default=False)
    # current labels: the model's at first, a human's after relabeling (history in prediction / human_label)
    domain: Mapped[str] = mapped_column(String(64))
    sentiment: Mapped[str] = mapped_column(String(32))
    appeal: Mapped[str] = mapped_column(String(32))
    urgent: Mapped[bool]
    # analysis
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    places: Mapped[list[Any]] = mapped_column(default=list)
    pii: Mapped[list[Any]] = mapped_column(default=list)  # [{type, start, end}], character offsets into text
    # handling
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    reply: Mapped[str | None] = mapped_column(Text)
    model_version: Mapped[str] = mapped_column(String(100))
    # privacy: when retention replaced title, text and reply by their masked forms and removed the contact
    erased_at: Mapped[datetime | None]
    # time limit (labels/deadlines.yaml): the rule that set it, when its clock started (routing or the latest
    # reopening), the due time (an approved extension moves it), and when the overdue sweep recorded it as missed
    due_rule: Mapped[str | None] = mapped_column(String(32))
    due_started_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    overdue_at: Mapped[datetime | None]

    __table_args__ = (
        # Idempotent intake: a channel's retry of the same message must not create a second ticket.
        # external_id NULLs never collide, so channels without ids always create.
        UniqueConstraint("channel", "external_id", name="uq_ticket_channel_external"),
        # the work-queue listing: one queue, one status, ordered by priority then age
        Index("ix_ticket_queue_status_priority_created", "queue", "status", "priority", "created_at"),
        CheckConstraint("priority IN ('high', 'normal')", name="priority"),
        CheckConstraint("status IN ('open', 'claimed', 'resolved')", name="status"),
    )


class Prediction(Base):
    """Every model output for a ticket, kept so relabels and model upgrades can be audited and evaluated."""

    __tablename__ = "prediction"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(100))
    label_version: Mapped[str] = mapped_column(String(64))
    domain: Mapped[str] = mapped_column(String(64))
    domain_confidence: Mapped[float]
    sentiment: Mapped[str] = mapped_column(String(32))
    sentiment_confidence: Mapped[float]
    appeal: Mapped[str] = mapped_column(String(32))
    appeal_confidence: Mapped[float]
    urgent: Mapped[bool]
    urgent_confidence: Mapped[float]
    scores: Mapped[dict[str, Any]]  # {task: {label: probability}}
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HumanLabel(Base):
    """A reviewer's relabel or confirmation of one task's label: the feedback that becomes training data."""

    __tablename__ = "human_label"

    id: Mapped[int] = mapped_column(primary_key=True)
    # cascades: the labels are of the ticket's text and go with it (e.g. when a citizen's data is erased)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    task: Mapped[str] = mapped_column(String(32))  # domain / sentiment / appeal / urgent
    before: Mapped[str] = mapped_column(String(64))
    after: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (CheckConstraint("kind IN ('relabel', 'confirm')", name="kind"),)


class AuditEvent(Base):
    """Who did what. Details hold ids and labels, never the citizen's text or contact."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    # SET NULL rather than cascade: the trail outlives an erased ticket
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class User(Base):
    """An API token holder. Only the token's sha256 is stored: a copy of the database yields no usable token."""

    __tablename__ = "api_user"  # "user" is reserved in PostgreSQL

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    departments: Mapped[list[Any]] = mapped_column(default=list)  # queue ids an official works on
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("role IN ('intake', 'official', 'admin')", name="role"),
        # one active holder per name; a revoked name can be issued again (a new token for the same person)
        Index("uq_api_user_active_name", "name", unique=True,
              sqlite_where=sql("revoked_at IS NULL"), postgresql_where=sql("revoked_at IS NULL")),
    )


class ModelPromotion(Base):
    """Every promotion decision, refused ones included: which model, against which, the figures and who."""

    __tablename__ = "model_promotion"

    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(200))
    previous_tag: Mapped[str | None] = mapped_column(String(200))
    accepted: Mapped[bool]
    forced: Mapped[bool] = mapped_column(default=False)
    actor: Mapped[str] = mapped_column(String(100))
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class CaseEntry(Base):
    """A past case for "similar past cases": a message with the official reply it got, from data/cases or a
    resolved ticket. Text, title and reply are PII-masked; `vector` is the masked message's sentence vector
    (float32 bytes) from the encoder of `model_version`, comparable only with vectors of the same model."""

    __tablename__ = "case_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16))  # "replies" (data/cases) or "ticket"
    source_id: Mapped[str] = mapped_column(String(64))  # the data file's id, or the ticket id
    # the ticket's case goes with the ticket (e.g. when a citizen's data is erased)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    domain: Mapped[str] = mapped_column(String(64))
    domain_confidence: Mapped[float | None]  # the model's, where it predicted the domain; None: a person's
    queue: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(100))
    answered_at: Mapped[datetime | None]
    model_version: Mapped[str] = mapped_column(String(100), index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("source", "source_id", name="uq_case_entry_source"),
        CheckConstraint("source IN ('replies', 'ticket')", name="source"),
    )


class HotIssue(Base):
    """A group of tickets raising the same issue (reposts, the same problem at the same place). Its size, times,
    places, keywords and departments are computed from its tickets, which can be relabeled or resolved."""

    __tablename__ = "hot_issue"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))  # the first ticket's, PII-masked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)  # the last ticket joined


class HotIssueTicket(Base):
    """A ticket's membership of its hot issue (one each), with what grouping compared: the vector of its masked
    text, and the places and keywords of its title and text."""

    __tablename__ = "hot_issue_ticket"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True)
    issue_id: Mapped[int] = mapped_column(ForeignKey("hot_issue.id", ondelete="CASCADE"), index=True)
    matched_ticket_id: Mapped[int | None]  # the ticket it was found to repeat; None: it started the issue
    similarity: Mapped[float | None]  # cosine similarity to that ticket
    places: Mapped[list[Any]] = mapped_column(default=list)
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    model_version: Mapped[str] = mapped_column(String(100))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    """A receiver of the public events (store/events.py): the CRM, a dashboard, an SMS gateway. `secret` signs
    each delivery (HMAC-SHA256) and is kept as given: the sender must hold it to sign (README.md, "Events out")."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list[Any]] = mapped_column(default=list)  # the event types it takes; empty: all
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """A public event, written in the transaction of the change it reports (the outbox). The payload holds ids,
    labels, queues and times, never a citizen's text or contact. Events of one ticket are numbered (`id`) in the
    order of their transactions, since each change of a ticket holds the ticket's row lock."""

    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # what receivers de-duplicate on
    type: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(index=True)  # no foreign key: the event outlives nothing it names
    payload: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class WebhookDelivery(Base):
    """One event owed to one webhook, until a 2xx answer. A deliverer claims it by setting `lease_until`; a
    deliverer killed mid-send leaves the lease to expire and the event is sent again (receivers de-duplicate)."""

    __tablename__ = "webhook_delivery"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_event.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int | None]  # the event's, for the per-ticket order
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))  # an HTTP status or an error type, no body

    event: Mapped[OutboxEvent] = relationship(lazy="joined")

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_delivery_webhook_event"),
        # what is due, and the order check: an earlier undelivered event of the same ticket to the same webhook
        Index("ix_webhook_delivery_due", "delivered_at", "next_attempt_at"),
        Index("ix_webhook_delivery_order", "webhook_id", "ticket_id", "event_id"),
    )


class TicketResolution(Base):
    """One resolution of a ticket (a reopened ticket is resolved again): where and by whom, how long it took against
    its time limit, and whether it was reopened (by an official, or by the citizen's verdict) — the closed loop's
    figures."""

    __tablename__ = "ticket_resolution"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    queue: Mapped[str] = mapped_column(String(64))
    department: Mapped[str] = mapped_column(String(100))
    domain: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]  # when its clock started
    due_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime] = mapped_column(index=True)
    on_time: Mapped[bool | None]  # None: the ticket had no due time (stored before time limits)
    reopened_at: Mapped[datetime | None]
    reopen_cause: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (CheckConstraint("reopen_cause IN ('official', 'feedback')", name="reopen_cause"),)


class ExtensionRequest(Base):
    """An official's request for more time (延期), with the reason, and an admin's decision."""

    __tablename__ = "extension_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    due_at_before: Mapped[datetime | None]
    requested_due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decided_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)  # the admin's word on the decision
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (CheckConstraint("status IN ('pending', 'approved', 'refused')", name="status"),)


class SupervisionNote(Base):
    """An admin's 督办 note to the department handling a ticket."""

    __tablename__ = "supervision_note"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CitizenFeedback(Base):
    """The citizen's verdict on a resolution (回访/评价), as the hotline's call-back system records it. The comment
    is the citizen's own text: it lives here, never in an audit detail."""

    __tablename__ = "citizen_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    resolution_id: Mapped[int] = mapped_column(ForeignKey("ticket_resolution.id", ondelete="CASCADE"), unique=True)
    client_id: Mapped[str | None] = mapped_column(String(128))  # the call-back system's id: a retry repeats it
    actor: Mapped[str] = mapped_column(String(100))
    verdict: Mapped[str] = mapped_column(String(8))
    solved: Mapped[bool]
    comment: Mapped[str | None] = mapped_column(Text)
    reopened: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    __table_args__ = (
        UniqueConstraint("ticket_id", "client_id", name="uq_citizen_feedback_client"),
        CheckConstraint("verdict IN ('满意', '基本满意', '不满意')", name="verdict"),
    )

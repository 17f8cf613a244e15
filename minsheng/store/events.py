"""Public events out: the outbox and the webhooks that receive it.

Every ticket change writes an AuditEvent in its transaction; a `before_flush` hook turns each audit action that
other systems hear about into an OutboxEvent, and one WebhookDelivery per webhook that takes its type, in the same
flush, so an event exists exactly when its change is committed. Deliverers (serving/delivery.py) claim due
deliveries with a lease, in the order of each ticket's events, and mark them delivered after a 2xx."""
from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, exists, func, inspect, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from .models import AuditEvent, OutboxEvent, Ticket, Webhook, WebhookDelivery, utcnow

# audit action → the public event type it becomes (ticket.overdue and feedback.received come with the time
# limits and citizens' feedback; the spelling of ticket.relabelled is the public one)
PUBLIC_TYPES = {
    "ticket.created": "ticket.created",
    "ticket.relabeled": "ticket.relabelled",
    "ticket.claimed": "ticket.claimed",
    "ticket.resolved": "ticket.resolved",
    "ticket.reopened": "ticket.reopened",
    "ticket.overdue": "ticket.overdue",
    "feedback.received": "feedback.received",
}
EVENT_TYPES = ("ticket.created", "ticket.routed", "ticket.relabelled", "ticket.claimed", "ticket.resolved",
               "ticket.reopened", "ticket.overdue", "feedback.received")
# audit detail keys that carry ids, labels, queues, counts and times only: anything else (a reason, a comment)
# could quote the citizen and stays out of events
DETAIL_KEYS = ("changes", "from_queue", "to_queue", "channel", "external_id", "model_version", "reply_chars",
               "due_at", "rule", "queue", "domain", "feedback_id", "resolution_id", "verdict", "solved", "reopened")
TICKET_FIELDS = ("id", "channel", "external_id", "status", "queue", "department", "priority", "needs_review",
                 "domain", "sentiment", "appeal", "urgent")
MAX_BACKOFF_STEP = 20  # 2**20 s is far beyond any max_backoff: the exponent stops growing there


class WebhookError(ValueError):
    """A webhook the store refuses (a taken name, an unknown event type, a URL that is not http(s))."""


def _events_of(audit: AuditEvent, ticket: Ticket | None) -> list[tuple[str, dict[str, Any]]]:
    """The public events (type, payload) an audit row stands for: a creation also routes the ticket, and a
    relabel that moves it to another queue routes it again."""
    kind = PUBLIC_TYPES.get(audit.action)
    if kind is None:
        return []
    detail = {k: v for k, v in (audit.detail or {}).items() if k in DETAIL_KEYS}
    base = {"occurred_at": audit.created_at.isoformat(), "actor": audit.actor,
            "ticket": _ticket_view(ticket) if ticket is not None else {"id": audit.ticket_id}}
    out = [(kind, {**base, "detail": detail})]
    moved = "to_queue" in detail and detail["to_queue"] != detail.get("from_queue")
    if (kind == "ticket.created" or moved) and ticket is not None:
        out.append(("ticket.routed", {**base, "detail": {"queue": ticket.queue, "department": ticket.department,
                                                          "from_queue": detail.get("from_queue")}}))
    return out


def _ticket_view(ticket: Ticket) -> dict[str, Any]:
    view = {f: getattr(ticket, f) for f in TICKET_FIELDS}
    for f in ("created_at", "resolved_at", "due_at"):
        value = getattr(ticket, f)
        view[f] = value.isoformat() if value is not None else None
    return view


@event.listens_for(Session, "before_flush")
def _outbox(session: Session, _context, _instances) -> None:
    audits = [o for o in session.new if isinstance(o, AuditEvent) and o.action in PUBLIC_TYPES]
    if not audits:
        return
    with session.no_autoflush:
        hooks = session.execute(select(Webhook.id, Webhook.events)).all()
        for audit in sorted(audits, key=lambda a: inspect(a).insert_order):  # session.new has no order; add()'s
            ticket = session.get(Ticket, audit.ticket_id) if audit.ticket_id is not None else None
            audit.created_at = audit.created_at or utcnow()  # the event's occurred_at is the audit row's time
            for kind, payload in _events_of(audit, ticket):
                event_id = str(uuid.uuid4())
                row = OutboxEvent(event_id=event_id, type=kind, ticket_id=audit.ticket_id,
                                  payload={"id": event_id, "type": kind, **payload})
                session.add(row)
                for hook_id, types in hooks:
                    if not types or kind in types:
                        session.add(WebhookDelivery(webhook_id=hook_id, event=row, ticket_id=audit.ticket_id,
                                                    next_attempt_at=utcnow()))


# --- webhooks ---------------------------------------------------------------------------------------------------

def add_webhook(sessions: sessionmaker[Session], name: str, url: str, events: Collection[str] = (),
                secret: str | None = None, actor: str = "admin") -> tuple[Webhook, str]:
    """A new webhook and its signing secret (generated unless given). It receives the events written after it."""
    if not url.startswith(("http://", "https://")):
        raise WebhookError(f"url must be http:// or https://, not {url[:40]!r}")
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if unknown:
        raise WebhookError(f"unknown event type {', '.join(unknown)}; known: {', '.join(EVENT_TYPES)}")
    secret = secret or secrets.token_hex(32)
    with sessions.begin() as session:
        if session.scalar(select(Webhook.id).where(Webhook.name == name)) is not None:
            raise WebhookError(f"a webhook named {name!r} exists; remove it first")
        hook = Webhook(name=name, url=url, secret=secret, events=sorted(set(events)))
        session.add(hook)
        session.flush()
        session.add(AuditEvent(actor=actor, action="webhook.added", detail={"webhook_id": hook.id, "name": name}))
    return hook, secret


def remove_webhook(sessions: sessionmaker[Session], name: str, actor: str = "admin") -> Webhook:
    """Removes the webhook and what it was still owed."""
    with sessions.begin() as session:
        hook = session.scalars(select(Webhook).where(Webhook.name == name)).one_or_none()
        if hook is None:
            raise WebhookError(f"no webhook named {name!r}")
        session.delete(hook)
        session.add(AuditEvent(actor=actor, action="webhook.removed", detail={"webhook_id": hook.id, "name": name}))
    return hook


def list_webhooks(session: Session) -> list[dict[str, Any]]:
    """Every webhook (no secret) with its pending deliveries and the oldest one's last error."""
    pending = dict(session.execute(
        select(WebhookDelivery.webhook_id, func.count()).where(WebhookDelivery.delivered_at.is_(None))
        .group_by(WebhookDelivery.webhook_id)).all())
    delivered = dict(session.execute(
        select(WebhookDelivery.webhook_id, func.count()).where(WebhookDelivery.delivered_at.is_not(None))
        .group_by(WebhookDelivery.webhook_id)).all())
    out = []
    for hook in session.scalars(select(Webhook).order_by(Webhook.id)):
        oldest = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id, WebhookDelivery.delivered_at.is_(None))
            .order_by(WebhookDelivery.event_id).limit(1)).one_or_none()
        out.append({"id": hook.id, "name": hook.name, "url": hook.url, "events": hook.events,
                    "created_at": hook.created_at, "pending": pending.get(hook.id, 0),
                    "delivered": delivered.get(hook.id, 0),
                    "last_error": oldest.last_error if oldest is not None else None})
    return out


# --- delivery ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Due:
    """A claimed delivery: what to send where, signed with which secret."""

    delivery_id: int
    webhook_id: int
    url: str
    secret: str
    event_id: str
    type: str
    payload: dict[str, Any]
    attempt: int


def claim_due(sessions: sessionmaker[Session], limit: int, lease: timedelta) -> list[Due]:
    """Claims up to `limit` due deliveries for `lease`, never one with an earlier undelivered event of the same
    ticket for the same webhook (so each ticket's events arrive in order, one at a time). Safe across deliverers:
    PostgreSQL skips rows another transaction holds (FOR UPDATE SKIP LOCKED); SQLite serializes writers (a write
    first takes the database's lock). A claim whose lease ran out (its deliverer died) is due again."""
    now = utcnow()
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(earlier.webhook_id == WebhookDelivery.webhook_id,
                             earlier.ticket_id == WebhookDelivery.ticket_id,
                             earlier.event_id < WebhookDelivery.event_id, earlier.delivered_at.is_(None))
    query = (select(WebhookDelivery.id)
             .where(WebhookDelivery.delivered_at.is_(None), WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now),
                    or_(WebhookDelivery.ticket_id.is_(None), ~blocked))
             .order_by(WebhookDelivery.event_id).limit(limit))
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "sqlite":
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id == -1).values(attempts=0))
        else:
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        ids = session.scalars(query).all()
        if not ids:
            return []
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                        .values(lease_until=now + lease, attempts=WebhookDelivery.attempts + 1))
        rows = session.execute(
            select(WebhookDelivery, Webhook).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(WebhookDelivery.id.in_(ids)).order_by(WebhookDelivery.event_id)
            .execution_options(populate_existing=True)).all()
        return [Due(d.id, h.id, h.url, h.secret, d.event.event_id, d.event.type, d.event.payload, d.attempts)
                for d, h in rows]


def delivered(sessions: sessionmaker[Session], delivery_id: int) -> None:
    with sessions.begin() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                      WebhookDelivery.delivered_at.is_(None))
                        .values(delivered_at=utcnow(), lease_until=None, last_error=None))


def failed(sessions: sessionmaker[Session], due: Due, error: str, base: float, max_backoff: float) -> datetime:
    """The attempt failed: due again after base·2^(attempt−1) seconds, at most max_backoff; returns when."""
    delay = min(max_backoff, base * 2 ** min(due.attempt - 1, MAX_BACKOFF_STEP))
    when = utcnow() + timedelta(seconds=delay)
    with sessions.begin() as session:
        session.execute(update(WebhookDelivery).where(WebhookDelivery.id == due.delivery_id,
                                                      WebhookDelivery.delivered_at.is_(None))
                        .values(next_attempt_at=when, lease_until=None, last_error=error[:200]))
    return when


def release(sessions: sessionmaker[Session], dues: Collection[Due]) -> None:
    """Gives claims back unsent (their webhook just failed): due again at once, the attempt not counted."""
    if not dues:
        return
    with sessions.begin() as session:
        for due in dues:
            session.execute(update(WebhookDelivery).where(WebhookDelivery.id == due.delivery_id)
                            .values(lease_until=None, attempts=due.attempt - 1))

"""The citizen's details in the store: reads of unmasked text are audited, and retention erases them.

Erasing a ticket keeps what the service and retraining need and nothing that points at the citizen: the title,
text and reply become their masked forms (PII replaced by its type, found again with today's rules on top of the
spans found at intake), the contact is removed, the human labels' and extension requests' reasons, the 督办 notes
and the citizen's feedback comments are masked too; labels, predictions,
the case base (masked already) and the audit trail stay. Every erasure is recorded: a "ticket.erased" event per
ticket and one "retention.run" event for the run, whose details never carry the contact that was asked for."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from minsheng.core.nlp import find_pii, mask_pii
from minsheng.core.text import normalize

from .models import (
    AuditEvent,
    CitizenFeedback,
    ExtensionRequest,
    HumanLabel,
    SupervisionNote,
    Ticket,
    utcnow,
)
from .queues import LOCAL_TZ

UNMASKED_READ = "ticket.unmasked_read"


def record_unmasked_read(sessions: sessionmaker[Session], actor: str, ticket_id: int, route: str) -> None:
    """Who read a ticket's unmasked text (and contact), which ticket, through which route; the event's time is
    when."""
    with sessions.begin() as session:
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action=UNMASKED_READ, detail={"route": route}))


def _masked(text: str | None, spans: Sequence[dict] = ()) -> str | None:
    """`text` normalized, with the given spans (offsets into the normalized text) and whatever find_pii finds
    now masked."""
    if text is None:
        return None
    text = normalize(text)
    return mask_pii(text, [*spans, *({"type": s.type, "start": s.start, "end": s.end} for s in find_pii(text))])


def _erase(session: Session, ticket: Ticket, actor: str, reason: str) -> None:
    ticket.text = _masked(ticket.text, ticket.pii or [])
    ticket.title, ticket.reply = _masked(ticket.title), _masked(ticket.reply)
    ticket.contact, ticket.pii, ticket.erased_at = None, [], utcnow()
    for model, field in ((HumanLabel, "reason"), (ExtensionRequest, "reason"), (SupervisionNote, "note"),
                         (CitizenFeedback, "comment")):
        for row in session.scalars(select(model).where(model.ticket_id == ticket.id)):
            setattr(row, field, _masked(getattr(row, field)))
    session.add(AuditEvent(ticket_id=ticket.id, actor=actor, action="ticket.erased", detail={"reason": reason}))


def _erase_all(sessions: sessionmaker[Session], query, actor: str, detail: dict[str, Any]) -> list[int]:
    with sessions.begin() as session:
        tickets = list(session.scalars(query.where(Ticket.erased_at.is_(None)).with_for_update()))
        for ticket in tickets:
            _erase(session, ticket, actor, detail["reason"])
        ids = sorted(t.id for t in tickets)
        session.add(AuditEvent(actor=actor, action="retention.run", detail={**detail, "erased": len(ids)}))
    return ids


def erase_closed_before(sessions: sessionmaker[Session], day: date, actor: str) -> list[int]:
    """Erases the tickets resolved before `day` (Beijing time); returns their ids. Idempotent: erased tickets are
    skipped."""
    before = datetime.combine(day, time(), LOCAL_TZ)
    query = select(Ticket).where(Ticket.status == "resolved", Ticket.resolved_at < before)
    return _erase_all(sessions, query, actor, {"reason": "retention", "closed_before": day.isoformat()})


_PHONE_PREFIX = re.compile(r"^(?:\+|00)?86(?=1\d{10}$)")


def contact_key(contact: str | None) -> str:
    """A contact as a hotline would say it, compared loosely: full-width, spaces, dashes, brackets and a +86
    prefix do not matter, nor the case of an e-mail address."""
    key = re.sub(r"[\s\-()]", "", unicodedata.normalize("NFKC", contact or "")).lower()
    return _PHONE_PREFIX.sub("", key)


def erase_citizen(sessions: sessionmaker[Session], actor: str, contact: str | None = None,
                  ticket_ids: Sequence[int] = (), external: Sequence[tuple[str, str]] = ()) -> list[int]:
    """Erases one citizen's tickets on request, found by the contact they gave (every ticket with that contact),
    by ticket id or by (channel, external id) as the hotline knows them; returns the ids erased. The request's
    contact is not recorded, only how the tickets were found."""
    key = contact_key(contact) if contact is not None else None
    if key == "" or not (key or ticket_ids or external):
        raise ValueError("say whose data: a contact, ticket ids or external ids")
    ids = set(ticket_ids)
    with sessions() as session:
        for channel, external_id in external:
            ids.update(session.scalars(select(Ticket.id).where(Ticket.channel == channel,
                                                               Ticket.external_id == external_id)))
        if key:  # compared loosely, so in Python: contacts are stored as given
            ids.update(i for i, c in session.execute(select(Ticket.id, Ticket.contact).where(
                Ticket.contact.is_not(None))) if contact_key(c) == key)
    found_by = [name for name, given in (("contact", key), ("ticket_id", ticket_ids), ("external_id", external))
                if given]
    return _erase_all(sessions, select(Ticket).where(Ticket.id.in_(sorted(ids))), actor,
                      {"reason": "request", "found_by": found_by})

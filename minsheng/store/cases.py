"""The case base: past messages with their official replies (data/cases and resolved tickets), with the sentence
vector of each, for "similar past cases"."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from .models import CaseEntry, Ticket
from .queues import Visible


@dataclass(frozen=True)
class NewCase:
    source: str  # "replies" or "ticket"
    source_id: str
    text: str  # PII-masked
    reply: str  # PII-masked
    domain: str
    queue: str
    department: str
    model_version: str  # the embedding: model version and quantization (minsheng.model.embedding)
    vector: bytes  # float32
    title: str | None = None  # PII-masked
    domain_confidence: float | None = None  # the model's, where the domain is its prediction
    ticket_id: int | None = None
    answered_at: datetime | None = None


def case_versions(session: Session, source: str) -> dict[str, str]:
    """source_id → model_version of the stored cases of one source (what a rebuild may skip)."""
    return dict(session.execute(select(CaseEntry.source_id, CaseEntry.model_version)
                                .where(CaseEntry.source == source)).all())


def upsert_cases(sessions: sessionmaker[Session], cases: Sequence[NewCase]) -> list[int]:
    """Insert the cases, or replace the stored ones with the same (source, source_id): a ticket resolved again
    gets its new reply, a rebuild with a new model its new vector. One transaction; returns the case ids."""
    ids = []
    with sessions.begin() as session:
        for case in cases:
            row = session.scalars(select(CaseEntry).where(CaseEntry.source == case.source,
                                                          CaseEntry.source_id == case.source_id)).one_or_none()
            if row is None:
                row = CaseEntry(source=case.source, source_id=case.source_id)
                session.add(row)
            for name in ("ticket_id", "title", "text", "reply", "domain", "domain_confidence", "queue", "department",
                         "answered_at", "model_version", "vector"):
                setattr(row, name, getattr(case, name))
            session.flush()
            ids.append(row.id)
    return ids


def case_count(session: Session, model_version: str) -> int:
    return session.scalar(select(func.count()).select_from(CaseEntry).where(CaseEntry.model_version == model_version))


def other_embeddings_count(session: Session, embedding: str) -> int:
    """Cases whose vectors are of another model or quantization than `embedding` (to be re-embedded)."""
    return session.scalar(select(func.count()).select_from(CaseEntry).where(CaseEntry.model_version != embedding))


def case_vectors(session: Session, model_version: str, after_id: int = 0) -> list[tuple[int, bytes]]:
    """(id, vector) of the cases embedded by `model_version` with an id above `after_id`, by id."""
    return list(session.execute(
        select(CaseEntry.id, CaseEntry.vector)
        .where(CaseEntry.model_version == model_version, CaseEntry.id > after_id).order_by(CaseEntry.id)).all())


def cases_by_id(session: Session, ids: Iterable[int], visible: Visible) -> dict[int, CaseEntry]:
    """The cases among `ids` that a caller reading the queues `visible` (None: all) may see: the published replies
    of data/cases, and the cases of tickets now in one of its queues. Never another department's tickets, whose
    text and reply are that department's (a report to 纪检监察 must not reach the department it accuses)."""
    ids = list(ids)
    if not ids:
        return {}
    query = select(CaseEntry).where(CaseEntry.id.in_(ids))
    if visible is not None:
        query = (query.outerjoin(Ticket, Ticket.id == CaseEntry.ticket_id)
                 .where(or_(CaseEntry.source == "replies", Ticket.queue.in_(sorted(visible)))))
    return {c.id: c for c in session.scalars(query)}


def case_to_dict(case: CaseEntry) -> dict[str, Any]:
    """What an official sees of a past case (all of it is masked already)."""
    return {"case_id": case.id, "source": case.source, "ticket_id": case.ticket_id, "title": case.title,
            "text": case.text, "reply": case.reply, "domain": case.domain,
            "domain_predicted": case.domain_confidence is not None, "domain_confidence": case.domain_confidence,
            "queue": case.queue, "department": case.department,
            "answered_at": case.answered_at.isoformat() if case.answered_at else None}

"""Which model is in production: the latest accepted promotion. Refused ones are kept for the record."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from minsheng.settings import settings

from .models import AuditEvent, ModelPromotion


def production_tag(session: Session) -> str | None:
    return session.scalars(select(ModelPromotion.tag).where(ModelPromotion.accepted)
                           .order_by(ModelPromotion.id.desc()).limit(1)).first()


def serving_tag(session: Session) -> str | None:
    """The one answer to "which model serves": $MINSHENG_MODEL if it pins one, else the latest accepted
    promotion, else $MINSHENG_DEFAULT_MODEL (a bento's packed model), else None (the shipped model;
    `minsheng.model.registry.resolve(None)`)."""
    return settings().model or production_tag(session) or settings().default_model


def record_promotion(sessions: sessionmaker[Session], tag: str, previous_tag: str | None, accepted: bool,
                     forced: bool, actor: str, reasons: list[str], figures: dict[str, Any]) -> int:
    with sessions.begin() as session:
        row = ModelPromotion(tag=tag, previous_tag=previous_tag, accepted=accepted, forced=forced, actor=actor,
                             reasons=reasons, figures=figures)
        session.add(row)
        session.flush()
        session.add(AuditEvent(actor=actor, action="model.promoted" if accepted else "model.promotion_refused",
                               detail={"tag": tag, "previous": previous_tag, "forced": forced}))
        return row.id

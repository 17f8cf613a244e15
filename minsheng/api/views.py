"""What a caller sees of a ticket: whole where it needs to know (and that read is audited), else with the
citizen's details masked. Every route that answers with a ticket's text passes it through here."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from minsheng.api.auth import may_see_pii
from minsheng.core.nlp import find_pii, mask_pii
from minsheng.core.text import normalize
from minsheng.store import Principal
from minsheng.store.privacy import record_unmasked_read

EXCERPT_CHARS = 120


def masked(ticket: dict[str, Any]) -> dict[str, Any]:
    """The ticket with PII replaced by its type in text, title, reply, the reasons of its human labels and
    extension requests, the 督办 notes and the citizen's feedback comments, and no contact. The stored spans index the normalized text; the rest is not analyzed at intake, so here."""
    def mask(value: str | None) -> str | None:
        value = normalize(value)
        return value and mask_pii(value, find_pii(value))

    shown = {**ticket, "pii_visible": False, "contact": None,
             "text": mask_pii(normalize(ticket["text"]), ticket["pii"]),
             "title": mask(ticket["title"]), "reply": mask(ticket["reply"])}
    # officials' words may quote the citizen; the feedback comment is the citizen's own
    for key, field in (("human_labels", "reason"), ("extensions", "reason"), ("supervision", "note"),
                       ("feedback", "comment")):
        if key in ticket:
            shown[key] = [{**row, field: mask(row[field])} for row in ticket[key]]
    return shown


def shown(ticket: dict[str, Any], caller: Principal, sessions: sessionmaker[Session], route: str) -> dict[str, Any]:
    """The ticket as `caller` may see it: whole if may_see_pii (and that read is audited), else masked."""
    if not may_see_pii(caller, ticket):
        return masked(ticket)
    record_unmasked_read(sessions, caller.name, ticket["id"], route)
    return {**ticket, "pii_visible": True}


def listing_row(ticket: dict[str, Any], row: type[BaseModel]) -> dict[str, Any]:
    """The fields of `row` (a listing row's schema) and an excerpt, masked for everyone: the whole text is read
    on the ticket itself, where the read is audited."""
    view = masked(ticket)
    view["excerpt"] = view["text"][:EXCERPT_CHARS]
    return {k: view[k] for k in row.model_fields}

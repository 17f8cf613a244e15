"""The officials' review API under /api and the review web page under /ui.

Routes are thin: the store (minsheng.store.queues) enforces which queues a caller may see, inside its
transactions; here store errors become HTTP errors and PII is masked for callers who may not read it."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from pydantic import Field
from sqlalchemy.orm import Session, sessionmaker

from minsheng.api.auth import may_see_pii, principal, require, reviewer
from minsheng.api.schemas import RowId, Strict
from minsheng.core.labels import TASKS, LabelSet
from minsheng.core.nlp import find_pii, mask_pii
from minsheng.core.text import normalize
from minsheng.store import (
    LOCAL_TZ,
    Conflict,
    Invalid,
    NotFound,
    NotVisible,
    Principal,
    Relabel,
    TicketFilter,
    analytics,
    assign,
    claim,
    confirm,
    list_tickets,
    queue_summaries,
    relabel,
    reopen,
    resolve,
    ticket_detail,
    unclaim,
)
from minsheng.store.privacy import record_unmasked_read

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
EXCERPT_CHARS = 120
SUMMARY_FIELDS = ("id", "channel", "title", "status", "priority", "urgent", "needs_review", "domain", "sentiment",
                  "appeal", "confidence", "keywords", "places", "queue", "department", "created_at", "claimed_by")


def _store_errors() -> Iterator[None]:
    """Store refusals as the app's JSON errors; an invalid value goes through the validation handler, so it
    reads like any other 422 ({"error", "problems": [{"field", "problem"}]})."""
    try:
        yield
    except NotFound as e:
        raise HTTPException(404, str(e)) from None
    except NotVisible:
        raise HTTPException(403, "this ticket or queue belongs to another department") from None
    except Conflict as e:
        raise HTTPException(409, str(e)) from None
    except Invalid as e:
        raise RequestValidationError([{"type": "value_error", "loc": (e.field,), "msg": e.problem}]) from None


router = APIRouter(dependencies=[Depends(_store_errors)])
router.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


def _labels(request: Request) -> LabelSet:
    return request.app.state.labels


Reviewer = Annotated[Principal, Depends(reviewer)]
Admin = Annotated[Principal, Depends(require("admin"))]
Sessions = Annotated[sessionmaker[Session], Depends(_sessions)]
Labels = Annotated[LabelSet, Depends(_labels)]


class RelabelRequest(Strict):
    reason: str = Field(min_length=1, max_length=1000)
    domain: str | None = None
    sentiment: str | None = None
    appeal: str | None = None
    urgent: bool | None = None


class ResolveRequest(Strict):
    reply: str = Field(min_length=1, max_length=5000)


class ConfirmRequest(Strict):
    tasks: list[str] = Field(min_length=1, max_length=len(TASKS),
                             description=f"the tasks whose current labels the caller checked: {', '.join(TASKS)}")


class AssignRequest(Strict):
    to: str = Field(min_length=1, max_length=100, description="an active official of the ticket's queue, or an admin")


def _masked(ticket: dict[str, Any]) -> dict[str, Any]:
    """The ticket with PII replaced by its type in text, title, reply and the reasons of its human labels, and no
    contact. The stored spans index the normalized text; the rest is not analyzed at intake, so here."""
    def masked(value: str | None) -> str | None:
        value = normalize(value)
        return value and mask_pii(value, find_pii(value))

    shown = {**ticket, "pii_visible": False, "contact": None,
             "text": mask_pii(normalize(ticket["text"]), ticket["pii"]),
             "title": masked(ticket["title"]), "reply": masked(ticket["reply"])}
    if "human_labels" in ticket:
        shown["human_labels"] = [{**h, "reason": masked(h["reason"])} for h in ticket["human_labels"]]
    return shown


def _shown(ticket: dict[str, Any], caller: Principal, sessions: sessionmaker[Session],
           route: str) -> dict[str, Any]:
    """The ticket as `caller` may see it: whole if may_see_pii (and that read is audited), else masked."""
    if not may_see_pii(caller, ticket):
        return _masked(ticket)
    record_unmasked_read(sessions, caller.name, ticket["id"], route)
    return {**ticket, "pii_visible": True}


def _summary(ticket: dict[str, Any]) -> dict[str, Any]:
    """A listing row: masked for everyone (the whole text is read on the ticket itself, where it is audited)."""
    shown = _masked(ticket)
    return {**{k: shown[k] for k in SUMMARY_FIELDS}, "excerpt": shown["text"][:EXCERPT_CHARS]}


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL_TZ)


@router.get("/api/me")
def me(caller: Annotated[Principal, Depends(principal)]) -> dict[str, Any]:
    """Who the token belongs to (any role): the web page's sign-in check."""
    return {"name": caller.name, "role": caller.role,
            "queues": None if caller.queues is None else sorted(caller.queues)}


@router.get("/api/labels")
def label_values(_: Reviewer, labels: Labels) -> dict[str, Any]:
    """The values of each task, the queues with their departments, and which queue each domain goes to."""
    return {"values": {task: list(values) for task, values in labels.values.items()},
            "queues": {q: r.department for q, r in labels.queues().items()},
            "routes": {d: r.queue for d, r in labels.routes.items()}}


@router.get("/api/queues")
def queues(caller: Reviewer, sessions: Sessions, labels: Labels) -> dict[str, Any]:
    with sessions() as session:
        return {"queues": queue_summaries(session, labels, caller.queues)}


@router.get("/api/queues/{queue}/tickets")
def queue_tickets(
    queue: str, caller: Reviewer, sessions: Sessions, labels: Labels,
    status: str | None = None, urgent: bool | None = None, domain: str | None = None, sentiment: str | None = None,
    appeal: str | None = None, needs_review: bool | None = None,
    since: Annotated[date | None, Query(description="created on or after this day (Beijing time)")] = None,
    until: Annotated[date | None, Query(description="created on or before this day (Beijing time)")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1, page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[str, Query(description='"urgent" (urgent, then oldest first) or "uncertain" '
                                            '(lowest model confidence first: where a label teaches most)')] = "urgent",
) -> dict[str, Any]:
    """A page of the queue, urgent tickets first then the oldest, or the most uncertain first."""
    if since and until and until < since:
        raise Invalid("until", "must not be before since")
    filters = TicketFilter(status=status, urgent=urgent, domain=domain, sentiment=sentiment, appeal=appeal,
                           needs_review=needs_review, since=since and _day_start(since),
                           until=until and _day_start(until + timedelta(days=1)))
    with sessions() as session:
        tickets, total = list_tickets(session, labels, queue, filters, caller.queues, page_size,
                                      (page - 1) * page_size, order)
    return {"queue": queue, "total": total, "page": page, "page_size": page_size,
            "tickets": [_summary(t) for t in tickets]}


@router.get("/api/tickets/{ticket_id}")
def ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions, labels: Labels) -> dict[str, Any]:
    with sessions() as session:
        detail = ticket_detail(session, labels, ticket_id, caller.queues)
    return _shown(detail, caller, sessions, "ticket")


@router.post("/api/tickets/{ticket_id}/claim")
def claim_ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    return _shown(claim(sessions, ticket_id, caller.name, caller.queues), caller, sessions, "claim")


@router.post("/api/tickets/{ticket_id}/unclaim")
def unclaim_ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    """Release a claim: one's own, or (admins) anyone's, e.g. of an official who left."""
    ticket = unclaim(sessions, ticket_id, caller.name, caller.queues, anyones=caller.role == "admin")
    return _shown(ticket, caller, sessions, "unclaim")


@router.post("/api/tickets/{ticket_id}/assign")
def assign_ticket(ticket_id: RowId, body: AssignRequest, caller: Admin, sessions: Sessions) -> dict[str, Any]:
    """(admin) Give the ticket to an official of its queue, whoever holds it now."""
    return _shown(assign(sessions, ticket_id, body.to, caller.name, caller.queues), caller, sessions, "assign")


@router.post("/api/tickets/{ticket_id}/confirm")
def confirm_labels(ticket_id: RowId, body: ConfirmRequest, caller: Reviewer, sessions: Sessions,
                   labels: Labels) -> dict[str, Any]:
    """Confirm that the current labels of the given tasks are right: they teach the next model."""
    ticket = confirm(sessions, labels, ticket_id, body.tasks, caller.name, caller.queues)
    return _shown(ticket, caller, sessions, "confirm")


@router.post("/api/tickets/{ticket_id}/relabel")
def relabel_ticket(ticket_id: RowId, body: RelabelRequest, caller: Reviewer, sessions: Sessions,
                   labels: Labels) -> dict[str, Any]:
    """Correct labels; a new domain moves the ticket to that domain's queue."""
    change = Relabel(**body.model_dump())
    ticket = relabel(sessions, labels, ticket_id, change, caller.name, caller.queues)
    return _shown(ticket, caller, sessions, "relabel")


@router.post("/api/tickets/{ticket_id}/resolve")
def resolve_ticket(ticket_id: RowId, body: ResolveRequest, caller: Reviewer, sessions: Sessions,
                   labels: Labels, request: Request) -> dict[str, Any]:
    ticket = resolve(sessions, labels, ticket_id, body.reply, caller.name, caller.queues)
    if (assistant := getattr(request.app.state, "assistant", None)) is not None:
        assistant.resolved([ticket])  # joins the case base (similar past cases)
    return _shown(ticket, caller, sessions, "resolve")


@router.post("/api/tickets/{ticket_id}/reopen")
def reopen_ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    return _shown(reopen(sessions, ticket_id, caller.name, caller.queues), caller, sessions, "reopen")


@router.get("/api/analytics")
def ticket_analytics(caller: Reviewer, sessions: Sessions, labels: Labels,
                     weeks: Annotated[int, Query(ge=1, le=104)] = 12) -> dict[str, Any]:
    """Tickets per domain per ISO week, and the sentiment share per domain, over the caller's queues."""
    with sessions() as session:
        return analytics(session, labels, caller.queues, weeks)

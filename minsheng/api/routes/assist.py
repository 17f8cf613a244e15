"""Similar past cases and hot issues under /api, with the review API's tokens, roles and queue rules: a caller sees
the similar cases of the tickets it may see, drawn from the public case base and its own queues' tickets, and the
hot issues that have tickets in its queues, as its own tickets make them (the store applies both rules)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from minsheng.api.routes.review import (
    EXCERPT_CHARS,
    Labels,
    ResolveRequest,
    Reviewer,
    Sessions,
    _masked,
    _store_errors,
)
from minsheng.api.schemas import RowId
from minsheng.assist.assistant import Assistant
from minsheng.store.hot_issues import (
    hot_issue_detail,
    issue_of,
    list_hot_issues,
    resolve_hot_issue,
)
from minsheng.store.models import Ticket
from minsheng.store.queues import _visible

router = APIRouter(dependencies=[Depends(_store_errors)])
TICKET_FIELDS = ("id", "title", "status", "priority", "urgent", "domain", "queue", "department", "created_at",
                 "claimed_by", "similarity", "matched_ticket_id")


def _assistant(request: Request) -> Assistant:
    return request.app.state.assistant


Assist = Annotated[Assistant, Depends(_assistant)]


def _ticket_summary(ticket: dict[str, Any]) -> dict[str, Any]:
    shown = _masked(ticket)
    return {**{k: shown[k] for k in TICKET_FIELDS}, "excerpt": shown["text"][:EXCERPT_CHARS]}


@router.get("/api/tickets/{ticket_id}/similar")
def similar_cases(ticket_id: RowId, caller: Reviewer, assistant: Assist,
                  k: Annotated[int, Query(ge=1, le=20)] = 5) -> dict[str, Any]:
    """The k past cases most similar to the ticket that the caller may read (the public case base and the
    tickets of its queues), with the reply each got and the department that gave it (cosine similarity of the
    encoder's sentence vectors; masked texts). Distinct replies only."""
    return assistant.similar(ticket_id, caller.queues, k)


@router.get("/api/tickets/{ticket_id}/hot-issue")
def ticket_hot_issue(ticket_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    """The hot issue the ticket belongs to, as the caller's tickets make it, or null."""
    with sessions() as session:
        _visible(session.get(Ticket, ticket_id), ticket_id, caller.queues)
        issue_id = issue_of(session, ticket_id)
        return {"hot_issue": None if issue_id is None else hot_issue_detail(session, issue_id, caller.queues)[0]}


@router.get("/api/hot-issues")
def hot_issues(caller: Reviewer, sessions: Sessions, labels: Labels, queue: str | None = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 20,
               min_size: Annotated[int, Query(ge=1, le=1000)] = 2) -> dict[str, Any]:
    """Hot issues with unresolved tickets in `queue` or in any of the caller's queues (admins: all queues), each
    made from the caller's tickets (`hidden`: how many are elsewhere), hottest first (its open tickets + its
    tickets of the last 7 days)."""
    with sessions() as session:
        issues = list_hot_issues(session, labels, caller.queues, queue, limit, min_size)
    return {"queue": queue, "hot_issues": issues}


@router.get("/api/hot-issues/{issue_id}")
def hot_issue(issue_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    """The hot issue as the caller's tickets make it, and those tickets (PII masked as in the queue listing);
    `hidden` counts its tickets in other departments' queues."""
    with sessions() as session:
        summary, tickets = hot_issue_detail(session, issue_id, caller.queues)
    return {**summary, "tickets": [_ticket_summary(t) for t in tickets]}


@router.post("/api/hot-issues/{issue_id}/resolve")
def resolve_issue(issue_id: RowId, body: ResolveRequest, caller: Reviewer, sessions: Sessions, labels: Labels,
                  assistant: Assist) -> dict[str, Any]:
    """One reply to every unresolved ticket of the hot issue in the caller's queues, each resolved and recorded on
    its own; tickets claimed by another official are skipped and listed."""
    done = resolve_hot_issue(sessions, labels, issue_id, body.reply, caller.name, caller.queues)
    assistant.resolved(done["resolved"])
    return {"hot_issue": issue_id, "resolved": [t["id"] for t in done["resolved"]], "skipped": done["skipped"]}

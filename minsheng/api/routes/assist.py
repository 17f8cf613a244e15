"""Similar past cases and hot issues under /api, with the review API's tokens, roles and queue rules: a caller sees
the similar cases of the tickets it may see, drawn from the public case base and its own queues' tickets, and the
hot issues that have tickets in its queues, as its own tickets make them (the store applies both rules)."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from minsheng.api.deps import Assist, CaseBase, Labels, Reviewer, Sessions, store_errors
from minsheng.api.schemas.assist import (
    HotIssueDetail,
    HotIssueResolved,
    HotIssues,
    HotIssueTicket,
    ReplyCheck,
    ReplyCheckRequest,
    SimilarCases,
    TicketHotIssue,
)
from minsheng.api.schemas.intake import RowId
from minsheng.api.schemas.review import ResolveRequest
from minsheng.api.views import listing_row
from minsheng.assist.reply_quality import check_reply
from minsheng.store.hot_issues import (
    hot_issue_detail,
    list_hot_issues,
    resolve_hot_issue,
    ticket_hot_issue,
)
from minsheng.store.queues import readable_ticket
from minsheng.store.tickets import ticket_to_dict

router = APIRouter(dependencies=[Depends(store_errors)])


@router.get("/api/tickets/{ticket_id}/similar", response_model=SimilarCases)
def similar_cases(ticket_id: RowId, caller: Reviewer, assistant: Assist,
                  k: Annotated[int, Query(ge=1, le=20)] = 5) -> dict[str, Any]:
    """The k past cases most similar to the ticket that the caller may read (the public case base and the
    tickets of its queues), with the reply each got and the department that gave it (cosine similarity of the
    encoder's sentence vectors; masked texts). Distinct replies only."""
    return assistant.similar(ticket_id, caller.queues, k)


@router.post("/api/tickets/{ticket_id}/reply-check", response_model=ReplyCheck)
def reply_check(ticket_id: RowId, body: ReplyCheckRequest, caller: Reviewer, sessions: Sessions,
                assistant: Assist) -> dict[str, Any]:
    """Scores a draft reply before the ticket is resolved: relevance to the message (the encoder's cosine),
    completeness (its places and keywords named) and form (salutation, action or result, legal basis, contact, more
    than boilerplate), with what is missing. Nothing is stored; resolving is never blocked. The ticket's access
    rules (officials of its department, admins)."""
    with sessions() as session:
        ticket = ticket_to_dict(readable_ticket(session, ticket_id, caller.queues))
    return check_reply(ticket, body.reply, assistant.embed)


@router.get("/api/tickets/{ticket_id}/hot-issue", response_model=TicketHotIssue)
def hot_issue_of_ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    """The hot issue the ticket belongs to, as the caller's tickets make it, or null."""
    with sessions() as session:
        return {"hot_issue": ticket_hot_issue(session, ticket_id, caller.queues)}


@router.get("/api/hot-issues", response_model=HotIssues)
def hot_issues(caller: Reviewer, sessions: Sessions, labels: Labels, queue: str | None = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 20,
               min_size: Annotated[int, Query(ge=1, le=1000)] = 2) -> dict[str, Any]:
    """Hot issues with unresolved tickets in `queue` or in any of the caller's queues (admins: all queues), each
    made from the caller's tickets (`hidden`: how many are elsewhere), hottest first (its open tickets + its
    tickets of the last 7 days)."""
    with sessions() as session:
        issues = list_hot_issues(session, labels, caller.queues, queue, limit, min_size)
    return {"queue": queue, "hot_issues": issues}


@router.get("/api/hot-issues/{issue_id}", response_model=HotIssueDetail)
def hot_issue(issue_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    """The hot issue as the caller's tickets make it, and those tickets (PII masked as in the queue listing);
    `hidden` counts its tickets in other departments' queues."""
    with sessions() as session:
        summary, tickets = hot_issue_detail(session, issue_id, caller.queues)
    return {**summary, "tickets": [listing_row(t, HotIssueTicket) for t in tickets]}


@router.post("/api/hot-issues/{issue_id}/resolve", response_model=HotIssueResolved)
def resolve_issue(issue_id: RowId, body: ResolveRequest, caller: Reviewer, sessions: Sessions, labels: Labels,
                  case_base: CaseBase) -> dict[str, Any]:
    """One reply to every unresolved ticket of the hot issue in the caller's queues, each resolved and recorded on
    its own; tickets claimed by another official are skipped and listed."""
    done = resolve_hot_issue(sessions, labels, issue_id, body.reply, caller.name, caller.queues)
    if case_base is not None:
        case_base.resolved(done["resolved"])
    return {"hot_issue": issue_id, "resolved": [t["id"] for t in done["resolved"]], "skipped": done["skipped"]}

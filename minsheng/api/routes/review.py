"""The officials' review API under /api and the review web page under /ui.

Routes are thin: the store (minsheng.store.queues) enforces which queues a caller may see, inside its
transactions; api/deps.py turns its refusals into HTTP errors, and api/views.py masks PII for callers who may not
read it."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.staticfiles import StaticFiles

from minsheng.api.deps import (
    Admin,
    Caller,
    CaseBase,
    Labels,
    Reviewer,
    Sessions,
    store_errors,
)
from minsheng.api.schemas.intake import RowId
from minsheng.api.schemas.review import (
    Analytics,
    AssignRequest,
    ConfirmRequest,
    LabelValues,
    Me,
    QueuePage,
    Queues,
    RelabelRequest,
    ResolveRequest,
    TicketDetail,
    TicketOut,
    TicketSummary,
)
from minsheng.api.views import listing_row, shown
from minsheng.store import (
    LOCAL_TZ,
    Invalid,
    Relabel,
    TicketFilter,
    analytics,
    assign,
    claim,
    confirm,
    list_tickets,
    loop_detail,
    queue_summaries,
    relabel,
    reopen,
    resolve,
    ticket_detail,
    unclaim,
)

UI_DIR = Path(__file__).resolve().parent.parent / "ui"

router = APIRouter(dependencies=[Depends(store_errors)])
router.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL_TZ)


@router.get("/api/me", response_model=Me)
def me(caller: Caller) -> dict[str, Any]:
    """Who the token belongs to (any role): the web page's sign-in check."""
    return {"name": caller.name, "role": caller.role,
            "queues": None if caller.queues is None else sorted(caller.queues)}


@router.get("/api/labels", response_model=LabelValues)
def label_values(_: Reviewer, labels: Labels) -> dict[str, Any]:
    """The values of each task, the queues with their departments, and which queue each domain goes to."""
    return {"values": {task: list(values) for task, values in labels.values.items()},
            "queues": {q: r.department for q, r in labels.queues().items()},
            "routes": {d: r.queue for d, r in labels.routes.items()}}


@router.get("/api/queues", response_model=Queues)
def queues(caller: Reviewer, sessions: Sessions, labels: Labels) -> dict[str, Any]:
    with sessions() as session:
        return {"queues": queue_summaries(session, labels, caller.queues)}


@router.get("/api/queues/{queue}/tickets", response_model=QueuePage)
def queue_tickets(
    queue: str, caller: Reviewer, sessions: Sessions, labels: Labels,
    status: str | None = None, urgent: bool | None = None, domain: str | None = None, sentiment: str | None = None,
    appeal: str | None = None, needs_review: bool | None = None,
    due: Annotated[str | None, Query(description='"overdue" (past its due time) or "soon" (due within 24 hours); '
                                                 'unresolved tickets only')] = None,
    since: Annotated[date | None, Query(description="created on or after this day (Beijing time)")] = None,
    until: Annotated[date | None, Query(description="created on or before this day (Beijing time)")] = None,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1, page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    order: Annotated[str, Query(description='"urgent" (urgent, then oldest first) or "uncertain" '
                                            '(lowest model confidence first: where a label teaches most) or "due" '
                                            '(earliest due time first)')] = "urgent",
) -> dict[str, Any]:
    """A page of the queue, urgent tickets first then the oldest, the most uncertain first, or the earliest due."""
    if since and until and until < since:
        raise Invalid("until", "must not be before since")
    filters = TicketFilter(status=status, urgent=urgent, domain=domain, sentiment=sentiment, appeal=appeal,
                           needs_review=needs_review, due=due, since=since and _day_start(since),
                           until=until and _day_start(until + timedelta(days=1)))
    with sessions() as session:
        tickets, total = list_tickets(session, labels, queue, filters, caller.queues, page_size,
                                      (page - 1) * page_size, order)
    return {"queue": queue, "total": total, "page": page, "page_size": page_size,
            "tickets": [listing_row(t, TicketSummary) for t in tickets]}


@router.get("/api/tickets/{ticket_id}", response_model=TicketDetail)
def ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions, labels: Labels) -> dict[str, Any]:
    with sessions() as session:
        detail = ticket_detail(session, labels, ticket_id, caller.queues)
        detail.update(loop_detail(session, ticket_id))
    return shown(detail, caller, sessions, "ticket")


@router.post("/api/tickets/{ticket_id}/claim", response_model=TicketOut)
def claim_ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    return shown(claim(sessions, ticket_id, caller.name, caller.queues), caller, sessions, "claim")


@router.post("/api/tickets/{ticket_id}/unclaim", response_model=TicketOut)
def unclaim_ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    """Release a claim: one's own, or (admins) anyone's, e.g. of an official who left."""
    ticket = unclaim(sessions, ticket_id, caller.name, caller.queues, anyones=caller.role == "admin")
    return shown(ticket, caller, sessions, "unclaim")


@router.post("/api/tickets/{ticket_id}/assign", response_model=TicketOut)
def assign_ticket(ticket_id: RowId, body: AssignRequest, caller: Admin, sessions: Sessions) -> dict[str, Any]:
    """(admin) Give the ticket to an official of its queue, whoever holds it now."""
    return shown(assign(sessions, ticket_id, body.to, caller.name, caller.queues), caller, sessions, "assign")


@router.post("/api/tickets/{ticket_id}/confirm", response_model=TicketOut)
def confirm_labels(ticket_id: RowId, body: ConfirmRequest, caller: Reviewer, sessions: Sessions,
                   labels: Labels) -> dict[str, Any]:
    """Confirm that the current labels of the given tasks are right: they teach the next model."""
    ticket = confirm(sessions, labels, ticket_id, body.tasks, caller.name, caller.queues)
    return shown(ticket, caller, sessions, "confirm")


@router.post("/api/tickets/{ticket_id}/relabel", response_model=TicketOut)
def relabel_ticket(ticket_id: RowId, body: RelabelRequest, caller: Reviewer, sessions: Sessions,
                   labels: Labels) -> dict[str, Any]:
    """Correct labels; a new domain moves the ticket to that domain's queue."""
    change = Relabel(**body.model_dump())
    ticket = relabel(sessions, labels, ticket_id, change, caller.name, caller.queues)
    return shown(ticket, caller, sessions, "relabel")


@router.post("/api/tickets/{ticket_id}/resolve", response_model=TicketOut)
def resolve_ticket(ticket_id: RowId, body: ResolveRequest, caller: Reviewer, sessions: Sessions,
                   labels: Labels, case_base: CaseBase) -> dict[str, Any]:
    ticket = resolve(sessions, labels, ticket_id, body.reply, caller.name, caller.queues)
    if case_base is not None:
        case_base.resolved([ticket])  # joins the case base (similar past cases)
    return shown(ticket, caller, sessions, "resolve")


@router.post("/api/tickets/{ticket_id}/reopen", response_model=TicketOut)
def reopen_ticket(ticket_id: RowId, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    return shown(reopen(sessions, ticket_id, caller.name, caller.queues), caller, sessions, "reopen")


@router.get("/api/analytics", response_model=Analytics)
def ticket_analytics(caller: Reviewer, sessions: Sessions, labels: Labels,
                     weeks: Annotated[int, Query(ge=1, le=104)] = 12) -> dict[str, Any]:
    """Tickets per domain per ISO week, and the sentiment share per domain, over the caller's queues."""
    with sessions() as session:
        return analytics(session, labels, caller.queues, weeks)

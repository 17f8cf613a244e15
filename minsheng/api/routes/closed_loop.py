"""The closed loop's routes: extensions (官员 ask, admins decide), supervision (admins), the citizen's feedback (the
hotline's call-back system, intake role) and the closed-loop figures. The store (minsheng.store.closed_loop)
checks visibility inside its transactions, as for the review routes."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from minsheng.api.deps import Admin, CallBack, Labels, Reviewer, Sessions, store_errors
from minsheng.api.schemas.closed_loop import (
    DecisionBody,
    ExtensionOut,
    ExtensionRequestBody,
    FeedbackAnswer,
    FeedbackBody,
    LoopAnalytics,
    SuperviseBody,
    Supervision,
    SupervisionOut,
)
from minsheng.api.schemas.intake import RowId
from minsheng.store import (
    Verdict,
    decide_extension,
    loop_analytics,
    record_feedback,
    request_extension,
    supervise,
    supervision_overview,
)

router = APIRouter(dependencies=[Depends(store_errors)])


@router.post("/api/tickets/{ticket_id}/extensions", response_model=ExtensionOut)
def ask_extension(ticket_id: RowId, body: ExtensionRequestBody, caller: Reviewer, sessions: Sessions) -> dict[str, Any]:
    """Ask for a later due time (延期), with the reason; an admin approves or refuses it."""
    return request_extension(sessions, ticket_id, body.reason, body.due_at, caller.name, caller.queues)


@router.post("/api/tickets/{ticket_id}/extensions/{request_id}/approve", response_model=ExtensionOut)
def approve_extension(ticket_id: RowId, request_id: RowId, body: DecisionBody, caller: Admin,
                      sessions: Sessions) -> dict[str, Any]:
    """(admin) The ticket's due time becomes the one asked for."""
    return decide_extension(sessions, ticket_id, request_id, True, body.note, caller.name)


@router.post("/api/tickets/{ticket_id}/extensions/{request_id}/refuse", response_model=ExtensionOut)
def refuse_extension(ticket_id: RowId, request_id: RowId, body: DecisionBody, caller: Admin,
                     sessions: Sessions) -> dict[str, Any]:
    """(admin) The due time stays."""
    return decide_extension(sessions, ticket_id, request_id, False, body.note, caller.name)


@router.post("/api/tickets/{ticket_id}/supervise", response_model=SupervisionOut)
def supervise_ticket(ticket_id: RowId, body: SuperviseBody, caller: Admin, sessions: Sessions) -> dict[str, Any]:
    """(admin) Send a 督办 note to the department handling the ticket."""
    return supervise(sessions, ticket_id, body.note, caller.name)


@router.get("/api/supervision", response_model=Supervision)
def supervision(_: Admin, sessions: Sessions, labels: Labels) -> dict[str, Any]:
    """(admin) Overdue tickets by department, the longest overdue first; due-soon counts; extensions waiting."""
    with sessions() as session:
        return supervision_overview(session, labels)


@router.post("/api/tickets/{ticket_id}/feedback", response_model=FeedbackAnswer, status_code=201,
             responses={200: {"model": FeedbackAnswer,
                              "description": "a repeat of feedback already recorded: nothing changed"}})
def feedback(ticket_id: RowId, body: FeedbackBody, caller: CallBack, sessions: Sessions) -> JSONResponse:
    """The citizen's verdict on the latest resolution (回访), from the hotline's call-back system. 不满意 or not
    solved reopens the ticket in its department. Idempotent (feedback_id, or the same verdict again)."""
    verdict = Verdict(verdict=body.verdict, solved=body.solved, comment=body.comment, client_id=body.feedback_id)
    answer = FeedbackAnswer(**record_feedback(sessions, ticket_id, verdict, caller.name))
    return JSONResponse(answer.model_dump(mode="json"), status_code=201 if answer.created else 200)


@router.get("/api/analytics/closed-loop", response_model=LoopAnalytics)
def closed_loop_analytics(caller: Reviewer, sessions: Sessions, labels: Labels,
                          weeks: Annotated[int, Query(ge=1, le=104)] = 12) -> dict[str, Any]:
    """On-time rate, median handling time, overdue count, satisfaction rate and reopen rate per department and
    per domain, per week and in all, over the caller's queues."""
    with sessions() as session:
        return loop_analytics(session, labels, caller.queues, weeks)

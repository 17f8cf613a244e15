"""Request bodies and answers of the closed loop (api/routes/closed_loop.py): extensions, supervision, the
citizen's feedback and the closed-loop figures. Times are ISO 8601 strings in UTC with their offset."""
from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from minsheng.api.schemas.intake import Strict


class ExtensionRequestBody(Strict):
    model_config = ConfigDict(extra="forbid", strict=False)  # due_at arrives as an ISO string
    reason: str = Field(min_length=1, max_length=1000, description="why the department needs more time")
    due_at: datetime = Field(description="the due time asked for, with a time zone; later than the current one")


class DecisionBody(Strict):
    note: str | None = Field(default=None, max_length=1000, description="the admin's word on the decision")


class SuperviseBody(Strict):
    note: str = Field(min_length=1, max_length=1000, description="the 督办 note shown to the department")


class FeedbackBody(Strict):
    verdict: Literal["满意", "基本满意", "不满意"]
    solved: bool = Field(description="whether the citizen's problem was solved")
    comment: str | None = Field(default=None, max_length=2000, description="the citizen's words, if any")
    feedback_id: str | None = Field(default=None, min_length=1, max_length=128,
                                    description="the call-back system's id of this feedback: a retry repeats it")


class ExtensionOut(BaseModel):
    id: int
    ticket_id: int
    requested_by: str
    reason: str
    due_at_before: str | None
    requested_due_at: str
    status: str = Field(description="pending, approved or refused")
    decided_by: str | None
    decided_at: str | None
    note: str | None
    created_at: str


class SupervisionOut(BaseModel):
    id: int
    ticket_id: int
    actor: str
    note: str
    created_at: str


class FeedbackOut(BaseModel):
    id: int
    ticket_id: int
    resolution_id: int = Field(description="the resolution judged")
    client_id: str | None
    verdict: str
    solved: bool
    comment: str | None
    reopened: bool = Field(description="the verdict reopened the ticket in its department")
    created_at: str


class FeedbackAnswer(BaseModel):
    feedback: FeedbackOut
    created: bool = Field(description="false: a repeat of feedback already recorded; nothing changed")
    ticket_status: str


class OverdueTicket(BaseModel):
    id: int
    domain: str
    appeal: str
    urgent: bool
    status: str
    claimed_by: str | None
    due_rule: str | None
    due_at: str | None
    overdue_hours: float = Field(description="hours since its due time")
    supervised: bool = Field(description="an admin has sent it a 督办 note")


class DepartmentSupervision(BaseModel):
    queue: str
    department: str
    overdue: int
    due_soon: int = Field(description="unresolved tickets due within 24 hours")
    tickets: list[OverdueTicket] = Field(description="overdue tickets, the longest overdue first")
    pending_extensions: list[ExtensionOut]


class Supervision(BaseModel):
    now: str
    departments: list[DepartmentSupervision] = Field(description="the most overdue first")


class LoopFigures(BaseModel):
    resolved: int
    on_time_rate: float | None = Field(description="share of resolutions within their due time; null: none timed")
    median_hours: float | None = Field(description="median hours from the clock's start to the resolution")
    overdue: int = Field(description="tickets that became overdue")
    feedback: int = Field(description="citizens' verdicts received")
    satisfaction_rate: float | None = Field(description="满意 or 基本满意 among the verdicts")
    reopen_rate: float | None = Field(description="share of resolutions reopened since")


class LoopSeries(BaseModel):
    key: str = Field(description="the queue id, or the domain")
    name: str = Field(description="the department, or the domain")
    weeks: list[LoopFigures] = Field(description="per week, in the order of `weeks`")
    total: LoopFigures


class LoopAnalytics(BaseModel):
    weeks: list[str] = Field(description="ISO weeks (Beijing time), oldest first")
    by_department: list[LoopSeries]
    by_domain: list[LoopSeries]

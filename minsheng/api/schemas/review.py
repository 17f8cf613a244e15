"""The review API's request bodies and answers (api/routes/review.py). Times are ISO 8601 strings in UTC with
their offset, as the store writes them."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from minsheng.api.schemas.closed_loop import ExtensionOut, FeedbackOut, SupervisionOut
from minsheng.api.schemas.intake import PiiSpanOut, Strict, TopDomain
from minsheng.core.labels import TASKS


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


class Me(BaseModel):
    name: str
    role: str
    queues: list[str] | None = Field(description="the queues an official works on; null: all (admin)")


class LabelValues(BaseModel):
    values: dict[str, list[str]] = Field(description="task -> its labels")
    queues: dict[str, str] = Field(description="queue -> department")
    routes: dict[str, str] = Field(description="domain -> queue")


class QueueSummary(BaseModel):
    queue: str
    department: str
    counts: dict[str, int] = Field(description="tickets by status")
    urgent: int = Field(description="unresolved urgent tickets")
    overdue: int = Field(description="unresolved tickets past their due time")
    due_soon: int = Field(description="unresolved tickets due within 24 hours")


class Queues(BaseModel):
    queues: list[QueueSummary]


class TicketSummary(BaseModel):
    """A listing row: PII masked for everyone."""
    id: int
    channel: str
    title: str | None
    status: str
    priority: str
    urgent: bool
    needs_review: bool
    domain: str
    sentiment: str
    appeal: str
    confidence: dict[str, float | None] = Field(description="per task, the model's confidence where the current "
                                                            "label is the model's; null where a person set it")
    keywords: list[str]
    places: list[str]
    queue: str
    department: str
    created_at: str
    claimed_by: str | None
    due_at: str | None = Field(description="the time limit (办理时限): labels/deadlines.yaml's rule, or an approved "
                                           "extension; null for tickets stored before time limits")
    overdue: bool = Field(description="unresolved and past its due time")
    due_soon: bool = Field(description="unresolved and due within 24 hours")
    excerpt: str


class QueuePage(BaseModel):
    queue: str
    total: int
    page: int
    page_size: int
    tickets: list[TicketSummary]


class TicketOut(BaseModel):
    """A ticket as the caller may see it: whole for its claimer and admins (the read is audited), else with PII
    masked in text, title and reply, and no contact."""
    id: int
    channel: str
    external_id: str | None
    title: str | None
    text: str
    contact: str | None
    received_at: str | None
    created_at: str
    updated_at: str
    queue: str
    department: str
    priority: str
    status: str
    needs_review: bool
    domain: str
    sentiment: str
    appeal: str
    urgent: bool
    keywords: list[str]
    places: list[str]
    pii: list[PiiSpanOut]
    claimed_by: str | None
    claimed_at: str | None
    resolved_at: str | None
    reply: str | None
    model_version: str
    erased_at: str | None = Field(description="when retention erased the contact and the unmasked text")
    due_at: str | None = Field(description="the time limit (办理时限): labels/deadlines.yaml's rule, or an approved "
                                           "extension; null for tickets stored before time limits")
    overdue: bool = Field(description="unresolved and past its due time")
    due_soon: bool = Field(description="unresolved and due within 24 hours")
    due_rule: str | None = Field(description="the id of the deadlines.yaml rule that set the time limit")
    due_started_at: str | None = Field(description="when the time limit's clock started: routing or the latest reopening")
    pii_visible: bool = Field(description="false: PII is masked for this caller")


class HumanLabelOut(BaseModel):
    task: str
    before: str
    after: str
    kind: str = Field(description="relabel or confirm")
    reason: str | None
    actor: str
    created_at: str


class HistoryEntry(BaseModel):
    action: str
    actor: str
    detail: dict[str, Any]
    created_at: str


class TicketDetail(TicketOut):
    """The ticket with the model's view of it at intake, its human labels and its audit trail."""
    confidence: dict[str, float | None]
    domain_top3: list[TopDomain]
    urgent_cues: list[str]
    praise_cues: list[str]
    possible_emergency: bool
    possible_emergency_cues: list[str]
    human_labels: list[HumanLabelOut]
    history: list[HistoryEntry]
    extensions: list[ExtensionOut] = Field(description="extension requests (延期) and their decisions")
    supervision: list[SupervisionOut] = Field(description="admins' 督办 notes")
    feedback: list[FeedbackOut] = Field(description="the citizen's verdicts (回访), one per resolution at most")


class DomainWeeks(BaseModel):
    domain: str
    counts: list[int] = Field(description="tickets per week, in the order of `weeks`")


class SentimentShare(BaseModel):
    domain: str
    total: int
    share: dict[str, float] = Field(description="sentiment -> share of the domain's tickets")


class Analytics(BaseModel):
    weeks: list[str] = Field(description="ISO weeks (Beijing time), oldest first")
    sentiments: list[str]
    tickets_per_week: list[DomainWeeks]
    sentiment_share: list[SentimentShare]

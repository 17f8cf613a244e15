"""The answers of similar cases and hot issues (api/routes/assist.py)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from minsheng.api.schemas.intake import Strict


class SimilarCase(BaseModel):
    case_id: int
    source: str = Field(description='"replies" (the public case base) or "ticket" (a resolved ticket)')
    ticket_id: int | None
    title: str | None
    text: str = Field(description="masked, shortened")
    reply: str
    domain: str
    domain_predicted: bool
    domain_confidence: float | None
    queue: str
    department: str
    answered_at: str | None
    similarity: float = Field(description="cosine of the sentence vectors")


class SimilarCases(BaseModel):
    ticket_id: int
    model_version: str
    case_base_size: int
    cases: list[SimilarCase]


class HotIssueScope(BaseModel):
    queues: list[str] | None
    tickets: int
    open: int


class DepartmentCount(BaseModel):
    queue: str
    department: str
    tickets: int


class HotIssueSummary(BaseModel):
    """A hot issue as the caller's tickets make it."""
    id: int
    title: str
    size: int
    hidden: int = Field(description="its tickets in queues the caller may not read: a count, nothing else")
    open: int
    recent: int
    heat: int
    scope: HotIssueScope
    first_seen: str | None
    last_seen: str | None
    places: list[str]
    keywords: list[str]
    departments: list[DepartmentCount]


class HotIssues(BaseModel):
    queue: str | None
    hot_issues: list[HotIssueSummary]


class TicketHotIssue(BaseModel):
    hot_issue: HotIssueSummary | None


class HotIssueTicket(BaseModel):
    id: int
    title: str | None
    status: str
    priority: str
    urgent: bool
    domain: str
    queue: str
    department: str
    created_at: str
    claimed_by: str | None
    similarity: float | None
    matched_ticket_id: int | None
    excerpt: str


class HotIssueDetail(HotIssueSummary):
    tickets: list[HotIssueTicket]


class Skipped(BaseModel):
    ticket_id: int
    reason: str


class HotIssueResolved(BaseModel):
    hot_issue: int
    resolved: list[int]
    skipped: list[Skipped]


class ReplyCheckRequest(Strict):
    reply: str = Field(min_length=1, max_length=5000, description="the draft reply, not stored")


class ReplyCheck(BaseModel):
    """A draft reply's quality (assist/reply_quality.py): advice for the official, never a gate."""

    ticket_id: int
    model_version: str = Field(description="the embedding the cosine was computed with")
    score: int = Field(description="0..100: 40% relevance, 30% completeness, 30% form")
    cosine: float = Field(description="of the message's and the reply's sentence vectors")
    relevance: float = Field(description="the cosine mapped onto 0..1")
    completeness: float = Field(description="share of the message's places and keywords the reply names")
    form: float = Field(description="weighted share of the form checks passed")
    checks: dict[str, bool] = Field(description="salutation, action, basis, contact, substance")
    covered: list[str]
    not_covered: list[str]
    missing: list[str] = Field(description="what to add, in words for the official")

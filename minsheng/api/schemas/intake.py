"""The intake routes' bodies (/classify, /submit, /info) and the limits that protect the service; the\nrequest-body base class and path types every route uses."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from minsheng.core.text import MAX_TEXT_CHARS, normalize

MAX_MESSAGES = 64
MAX_TITLE_CHARS = 500
# The largest valid request is /classify with MAX_MESSAGES messages at their longest. A JSON encoder may write a
# character as an escaped surrogate pair ("\ud83d\ude00", 12 bytes; Python's json.dumps does by default); the
# slack holds the keys, punctuation and indentation. Larger bodies are refused unread (serving/limits.py).
MAX_BODY_BYTES = MAX_MESSAGES * (MAX_TEXT_CHARS + MAX_TITLE_CHARS) * 12 + 64 * 1024
# C0/C1 control characters but tab, newline and carriage return, and lone surrogates: PostgreSQL refuses NUL,
# neither database can encode a lone surrogate, and none of them belongs in a citizen's message.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# a row id in a path: beyond int64 SQLite raises OverflowError (a 500) where a 422 is the answer
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]  # the id columns are 32-bit INTEGER on PostgreSQL


def _not_blank(value: str) -> str:
    if not normalize(value):
        raise ValueError("must not be empty or whitespace only")
    return value


Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS, description=f"at most {MAX_TEXT_CHARS} characters"),
                 AfterValidator(_not_blank)]
Title = Annotated[str | None, Field(default=None, max_length=MAX_TITLE_CHARS)]


class Strict(BaseModel):
    """A request body: unknown or mistyped fields are errors, and so are control characters in any text field."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("*")
    @classmethod
    def _no_control_characters(cls, value):
        if isinstance(value, str) and CONTROL_CHARACTERS.search(value):
            raise ValueError("must not contain control characters (tab, newline and carriage return are allowed)")
        return value


class Message(Strict):
    title: Title = None
    text: Text


class ClassifyRequest(Strict):
    messages: list[Message] = Field(min_length=1, max_length=MAX_MESSAGES)


class SubmitRequest(Strict):
    text: Text
    title: Title = None
    channel: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$",
                         description='where the message came from, e.g. "12345", "mailbox", "web"')
    external_id: str | None = Field(default=None, min_length=1, max_length=128,
                                    description="the channel's own id: resubmitting it returns the same ticket")
    received_at: datetime | None = Field(default=None, description="ISO 8601 with a time zone")
    contact: str | None = Field(default=None, max_length=200)

    model_config = ConfigDict(extra="forbid", strict=False)  # received_at arrives as an ISO string


class TopDomain(BaseModel):
    domain: str
    confidence: float


class PiiSpanOut(BaseModel):
    type: str
    start: int
    end: int


class Tags(BaseModel):
    domain: str
    domain_confidence: float
    domain_top3: list[TopDomain]
    sentiment: str
    sentiment_confidence: float
    appeal: str
    appeal_confidence: float
    urgent: bool
    urgent_confidence: float = Field(description="the model's probability that the message is urgent")
    urgent_cues: list[str] = Field(description="emergencies the message names (routing.yaml urgent_cues): each "
                                               "makes it urgent whatever urgent_confidence says")
    possible_emergency: bool = Field(
        default=False, description="a wide net for emergencies (routing.yaml possible_emergency, urgent cues said as "
                                   "a risk, or urgent_confidence >= its threshold): high recall, low precision "
                                   "(bench/urgent.md); read these before the rest")
    possible_emergency_cues: list[str] = Field(default_factory=list, description="the hazards it names")
    praise_cues: list[str] = Field(default_factory=list,
                                   description="thanks the message names (routing.yaml praise): it is tagged as "
                                               "praise whatever the model says; empty otherwise")
    queue: str
    department: str
    priority: str
    needs_review: bool
    keywords: list[str]
    places: list[str]
    pii: list[PiiSpanOut] = Field(description="offsets into the normalized text (NFKC, whitespace collapsed)")
    model_version: str


class ClassifyResponse(BaseModel):
    results: list[Tags]


class SubmitResponse(Tags):
    ticket_id: int
    public_id: str = Field(description="the citizen's lookup code: Open311's service_request_id for this ticket")
    created: bool = Field(description="false when (channel, external_id) was submitted before")
    status: str
    due_at: str | None = Field(default=None, description="the time limit (办理时限) the routing set, ISO 8601 UTC")


class ModelInfo(BaseModel):
    model_version: str
    label_version: str
    base_model: str
    model_created_at: str | None
    quantize: str = Field(description="int8 (dynamic, the default) or off (fp32 as trained): MINSHENG_QUANTIZE")


class Info(ModelInfo):
    domains: list[str]
    queues: dict[str, str]

"""Bodies and answers of the webhook admin API (api/routes/webhooks.py)."""
from __future__ import annotations

from pydantic import BaseModel, Field

from minsheng.api.schemas.intake import Strict
from minsheng.store.events import EVENT_TYPES


class WebhookRequest(Strict):
    name: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://", description="http:// or https://")
    events: list[str] = Field(default_factory=list, max_length=len(EVENT_TYPES),
                              description=f"the event types it takes (default: all): {', '.join(EVENT_TYPES)}")


class WebhookOut(BaseModel):
    id: int
    name: str
    url: str
    events: list[str] = Field(description="the event types it takes; empty: all")
    created_at: str
    pending: int = Field(description="events owed to it, not yet answered with a 2xx")
    delivered: int
    last_error: str | None = Field(description="the last failure of its oldest pending event (a status or an "
                                               "error type)")


class WebhookCreated(WebhookOut):
    secret: str = Field(description="the HMAC-SHA256 signing secret, shown only now")


class Webhooks(BaseModel):
    webhooks: list[WebhookOut]
    event_types: list[str]


class WebhookRemoved(BaseModel):
    removed: str

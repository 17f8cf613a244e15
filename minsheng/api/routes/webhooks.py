"""Webhooks for the public events (admins only): register one (its signing secret is answered once), list them
with what each is still owed, remove one."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path

from minsheng.api.deps import Admin, Sessions
from minsheng.api.schemas.webhooks import (
    WebhookCreated,
    WebhookRemoved,
    WebhookRequest,
    Webhooks,
)
from minsheng.store.events import (
    EVENT_TYPES,
    WebhookError,
    add_webhook,
    list_webhooks,
    remove_webhook,
)

router = APIRouter()
Name = Annotated[str, Path(min_length=1, max_length=100)]


def _listed(sessions, name: str) -> dict[str, Any]:
    with sessions() as session:
        row = next(h for h in list_webhooks(session) if h["name"] == name)
    return {**row, "created_at": row["created_at"].isoformat()}


@router.get("/api/admin/webhooks", response_model=Webhooks)
def webhooks(_: Admin, sessions: Sessions) -> dict[str, Any]:
    """Every webhook (never its secret) with its pending and delivered events."""
    with sessions() as session:
        rows = list_webhooks(session)
    return {"webhooks": [{**r, "created_at": r["created_at"].isoformat()} for r in rows],
            "event_types": list(EVENT_TYPES)}


@router.post("/api/admin/webhooks", response_model=WebhookCreated)
def add(body: WebhookRequest, caller: Admin, sessions: Sessions) -> dict[str, Any]:
    """Registers a receiver; it gets the events written from now on. The answer holds its signing secret once."""
    try:
        _, secret = add_webhook(sessions, body.name, body.url, body.events, actor=caller.name)
    except WebhookError as e:
        raise HTTPException(409 if "exists" in str(e) else 422, str(e)) from None
    return {**_listed(sessions, body.name), "secret": secret}


@router.delete("/api/admin/webhooks/{name}", response_model=WebhookRemoved)
def remove(name: Name, caller: Admin, sessions: Sessions) -> dict[str, Any]:
    """Removes the webhook and the events it was still owed."""
    try:
        hook = remove_webhook(sessions, name, actor=caller.name)
    except WebhookError as e:
        raise HTTPException(404, str(e)) from None
    return {"removed": hook.name}

"""Sends the outbox (store/events.py) to the webhooks: JSON, signed, retried with backoff until a 2xx.

The signature: `X-Minsheng-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook's
secret>`; a receiver recomputes it over the raw body and may refuse an old t (replays). Each delivery also names
the event (`X-Minsheng-Event-Id`, the payload's `id`): a delivery can arrive twice (a deliverer killed after
sending and before recording it), never not at all, and receivers de-duplicate on that id."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from datetime import timedelta

import httpx
from sqlalchemy.orm import Session, sessionmaker

from minsheng.settings import settings
from minsheng.store.events import Due, claim_due, delivered, failed, release

log = logging.getLogger("minsheng.delivery")
BATCH = 50  # deliveries claimed at a time
BASE_BACKOFF = 1.0  # seconds before the first retry; doubled each attempt up to MINSHENG_DELIVER_MAX_BACKOFF
IDLE_WAIT = 1.0  # seconds between looks at the outbox when nothing was due


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def body_of(due: Due) -> bytes:
    return json.dumps(due.payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def deliver_once(sessions: sessionmaker[Session], client: httpx.Client) -> int:
    """One round: claims what is due and sends it. A webhook that fails is not tried again this round (its other
    claims go back unsent), so a receiver that is down costs one attempt per round. Returns the number sent."""
    config = settings()
    lease = timedelta(seconds=config.deliver_lease)
    dues = claim_due(sessions, BATCH, lease)
    sent, down = 0, set()
    for i, due in enumerate(dues):
        if due.webhook_id in down:
            continue
        error = _send(client, due)
        if error is None:
            delivered(sessions, due.delivery_id)
            sent += 1
            continue
        down.add(due.webhook_id)
        when = failed(sessions, due, error, BASE_BACKOFF, config.deliver_max_backoff)
        log.info("event %s to webhook %s: %s (attempt %d), next at %s", due.event_id, due.webhook_id, error,
                 due.attempt, when.isoformat(timespec="seconds"))
        release(sessions, [d for d in dues[i + 1:] if d.webhook_id == due.webhook_id])
    return sent


def _send(client: httpx.Client, due: Due) -> str | None:
    """None on a 2xx answer, else what went wrong (a status or an error type: nothing the receiver wrote)."""
    body = body_of(due)
    headers = {"Content-Type": "application/json", "User-Agent": "minsheng-webhooks/1",
               "X-Minsheng-Event": due.type, "X-Minsheng-Event-Id": due.event_id,
               "X-Minsheng-Delivery-Attempt": str(due.attempt),
               "X-Minsheng-Signature": signature(due.secret, int(time.time()), body)}
    try:
        answer = client.post(due.url, content=body, headers=headers)
    except httpx.HTTPError as e:
        return type(e).__name__
    return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"


def client() -> httpx.Client:
    """No redirects followed (a 3xx is a failure to fix at the receiver), a timeout well inside the lease."""
    return httpx.Client(timeout=settings().deliver_lease / 3, follow_redirects=False, trust_env=False)


def deliver_all_due(sessions: sessionmaker[Session]) -> int:
    """`minsheng deliver`: rounds until nothing due is left that can be sent now; returns the number sent."""
    total = 0
    with client() as http:
        while (sent := deliver_once(sessions, http)) > 0:
            total += sent
    return total


class Deliverer:
    """The service's background deliverer: a daemon thread, one round after another, waiting when idle or when the
    database fails (its error type is logged, nothing else)."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-delivery", daemon=True)

    def start(self) -> Deliverer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        with client() as http:
            while not self._stop.is_set():
                try:
                    sent = deliver_once(self.sessions, http)
                except Exception as e:  # the database restarting, say: try again shortly, never die
                    log.warning("webhook delivery: %s", type(e).__name__)
                    sent = 0
                if not sent:
                    self._stop.wait(IDLE_WAIT)

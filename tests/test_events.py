"""Events out: the outbox is written with each change (or not at all), deliveries keep each ticket's order, and
a real receiving HTTP server that fails at first, or a deliverer killed with SIGKILL mid-send, loses nothing
(duplicates carry the same event id). SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from minsheng.core.labels import load_labels
from minsheng.serving.delivery import deliver_all_due
from minsheng.settings import settings
from minsheng.store import (
    Analysis,
    AuditEvent,
    Conflict,
    NewTicket,
    OutboxEvent,
    Relabel,
    Routing,
    claim,
    create_ticket,
    relabel,
    reopen,
    resolve,
)
from minsheng.store.events import (
    add_webhook,
    claim_due,
    failed,
    list_webhooks,
    remove_webhook,
)
from tests.receiver import Receiver

LABELS = load_labels()
ROOT = Path(__file__).resolve().parent.parent
TEXT, CONTACT = "建设路路灯坏了一个月没人修", "13912345678"


def new_ticket(sessions, external_id: str | None = None) -> int:
    prediction = {"model_version": "test", "label_version": LABELS.version, "domain": "城乡建设",
                  "domain_confidence": 0.9, "sentiment": "中性", "sentiment_confidence": 0.8, "appeal": "求助",
                  "appeal_confidence": 0.7, "urgent": False, "urgent_confidence": 0.1, "scores": {}}
    route = LABELS.routes["城乡建设"]
    ticket, _ = create_ticket(sessions, NewTicket(channel="web", text=TEXT, contact=CONTACT, external_id=external_id),
                              prediction, Routing(queue=route.queue, department=route.department),
                              Analysis(places=["建设路"]), actor="intake:web")
    return ticket["id"]


def events(sessions, ticket_id=None) -> list[OutboxEvent]:
    with sessions() as session:
        query = select(OutboxEvent).order_by(OutboxEvent.id)
        if ticket_id is not None:
            query = query.where(OutboxEvent.ticket_id == ticket_id)
        return session.scalars(query).all()


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setenv("MINSHENG_DELIVER_MAX_BACKOFF", "1")
    monkeypatch.setenv("MINSHENG_DELIVER_LEASE", "3")
    settings.cache_clear()
    yield
    settings.cache_clear()


def test_each_change_writes_its_events_in_its_transaction(sessions):
    add_webhook(sessions, "crm", "http://127.0.0.1:9/hook")
    add_webhook(sessions, "sms", "http://127.0.0.1:9/sms", ["ticket.resolved"])
    ticket_id = new_ticket(sessions, "call-1")
    assert new_ticket(sessions, "call-1") == ticket_id  # a repeated delivery: no second ticket, no events
    visible = None
    relabel(sessions, LABELS, ticket_id, Relabel(reason="应属环保", domain="环境保护"), "wang", visible)
    relabel(sessions, LABELS, ticket_id, Relabel(reason="情绪", sentiment="负面"), "wang", visible)  # stays
    claim(sessions, ticket_id, "li", visible)
    with pytest.raises(Conflict):  # refused: nothing changed, no event
        claim(sessions, ticket_id, "zhang", visible)
    resolve(sessions, LABELS, ticket_id, f"已修复，请联系{CONTACT}", "li", visible)
    reopen(sessions, ticket_id, "admin", visible)
    written = events(sessions, ticket_id)
    assert [e.type for e in written] == ["ticket.created", "ticket.routed", "ticket.relabelled", "ticket.routed",
                                         "ticket.relabelled", "ticket.claimed", "ticket.resolved",
                                         "ticket.reopened"]
    routed = [e.payload for e in written if e.type == "ticket.routed"]
    assert [r["detail"]["queue"] for r in routed] == [LABELS.routes["城乡建设"].queue, LABELS.routes["环境保护"].queue]
    first = written[0].payload
    assert first["id"] == written[0].event_id and first["type"] == "ticket.created"
    assert first["ticket"]["id"] == ticket_id and first["ticket"]["external_id"] == "call-1"
    with sessions() as session:
        audits = session.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket_id)
                                 .order_by(AuditEvent.id)).all()
    assert [a.created_at.isoformat() for a in audits if a.action == "ticket.created"] == [first["occurred_at"]]
    assert written[2].payload["detail"]["changes"] == {"domain": ["城乡建设", "环境保护"]}
    assert written[2].payload["ticket"]["domain"] == "环境保护"  # the state after the change
    everything = json.dumps([e.payload for e in written], ensure_ascii=False)
    assert TEXT not in everything and CONTACT not in everything and "建设路" not in everything
    assert len({e.event_id for e in written}) == len(written)
    with sessions() as session:
        hooks = {h["name"]: h for h in list_webhooks(session)}
    assert hooks["crm"]["pending"] == len(written) and hooks["sms"]["pending"] == 1  # its one type
    remove_webhook(sessions, "crm")
    with sessions() as session:
        assert [h["name"] for h in list_webhooks(session)] == ["sms"]


def test_claims_keep_each_tickets_order_and_are_exclusive(sessions):
    add_webhook(sessions, "crm", "http://127.0.0.1:9/hook")
    a, b = new_ticket(sessions), new_ticket(sessions)
    claim(sessions, a, "li", None)
    lease = timedelta(seconds=60)
    first = claim_due(sessions, 50, lease)
    # one event per ticket at a time: each ticket's first
    assert [(d.payload["ticket"]["id"], d.type) for d in first] == [(a, "ticket.created"), (b, "ticket.created")]
    assert claim_due(sessions, 50, lease) == []  # leased: no other deliverer takes them, nor what follows them
    failed(sessions, first[0], "HTTP 500", base=0, max_backoff=0)  # due again at once, still first of its ticket
    again = claim_due(sessions, 50, lease)
    assert [(d.delivery_id, d.attempt) for d in again] == [(first[0].delivery_id, 2)]


def test_a_receiver_that_fails_at_first_gets_everything_in_order_signed(sessions, fast_retries):
    receiver = Receiver(secret="s3cret", fail_first=3)
    try:
        add_webhook(sessions, "crm", receiver.url, secret="s3cret")
        tickets = [new_ticket(sessions) for _ in range(3)]
        for t in tickets:
            claim(sessions, t, "li", None)
            resolve(sessions, LABELS, t, "已处理", "li", None)
        deadline = time.monotonic() + 60
        while len(receiver.unique()) < 12 and time.monotonic() < deadline:
            deliver_all_due(sessions)
            time.sleep(0.2)
        got = receiver.unique()
        assert sorted(e["id"] for e in got) == sorted(e.event_id for e in events(sessions))
        for t in tickets:
            assert [e["type"] for e in got if e["ticket"]["id"] == t] == [
                "ticket.created", "ticket.routed", "ticket.claimed", "ticket.resolved"]
        with sessions() as session:
            hook = list_webhooks(session)[0]
        assert hook["pending"] == 0 and hook["delivered"] == 12 and receiver.forged == 0
    finally:
        receiver.close()


def test_a_deliverer_killed_mid_send_loses_nothing(sessions, engine, fast_retries):
    """`minsheng deliver` is SIGKILLed while the receiver holds its first request; the next run, once the lease
    has run out, sends that event again and everything after it. The webhook is registered with the CLI."""
    receiver = Receiver(secret="", hold_first=True)
    env = {**os.environ, "MINSHENG_DB_URL": engine.url.render_as_string(hide_password=False),
           "MINSHENG_DELIVER_LEASE": "3", "MINSHENG_DELIVER_MAX_BACKOFF": "1"}

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "minsheng.cli", *args], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    try:
        receiver.secret = cli("webhooks", "add", "crm", receiver.url).strip().splitlines()[-1]
        ticket_id = new_ticket(sessions)
        claim(sessions, ticket_id, "li", None)
        proc = subprocess.Popen([sys.executable, "-m", "minsheng.cli", "deliver"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert receiver.held.wait(120), proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        receiver.release.set()
        assert receiver.received == []
        assert "3 pending" in cli("webhooks", "list")
        time.sleep(3.5)  # the dead deliverer's lease runs out
        assert "3 events delivered" in cli("deliver")
        assert [e["type"] for e in receiver.unique()] == ["ticket.created", "ticket.routed", "ticket.claimed"]
        assert receiver.requests == 4 and receiver.forged == 0  # the held one, then each once
        assert "0 pending\t3 delivered" in cli("webhooks", "list")
        cli("webhooks", "remove", "crm")
        assert cli("webhooks", "list") == ""
    finally:
        receiver.close()


def test_the_service_killed_mid_delivery_loses_nothing(tmp_path_factory, bentoml_home):
    """The real service is SIGKILLed (every process of it) while its background deliverer waits on the receiver;
    restarted, it sends that event again once the lease has run out, then the rest."""
    from minsheng.store import make_engine, session_factory
    from tests.serving import ServerProcess

    receiver = Receiver(secret="svc", hold_first=True)
    proc = ServerProcess(tmp_path_factory.mktemp("server"),
                         {"BENTOML_HOME": str(bentoml_home), "MINSHENG_DELIVER_LEASE": "3"}).start()
    engine = make_engine(proc.db_url)
    try:
        add_webhook(session_factory(engine), "crm", receiver.url, secret="svc")
        with proc.client(proc.token("intake")) as client:
            r = client.post("/submit", json={"channel": "web", "text": TEXT, "contact": CONTACT})
        assert r.status_code == 201, r.text
        ticket_id = r.json()["ticket_id"]
        assert receiver.held.wait(120)
        proc.stop(signal.SIGKILL)
        assert proc.proc.poll() is not None and not proc.processes()
        receiver.release.set()
        proc.start()
        deadline = time.monotonic() + 120
        while len(receiver.unique()) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert [(e["type"], e["ticket"]["id"]) for e in receiver.unique()] == [("ticket.created", ticket_id),
                                                                              ("ticket.routed", ticket_id)]
        assert receiver.requests == 3 and receiver.forged == 0  # the held one, then each once
    finally:
        engine.dispose()
        proc.stop()
        receiver.close()

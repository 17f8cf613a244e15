"""Retention and the audit of unmasked reads (minsheng.store.privacy, `minsheng retention`) on SQLite and
PostgreSQL: erased tickets keep their masked text, labels and audit trail, and nothing that points at the
citizen."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from minsheng.core.nlp import find_pii
from minsheng.store import (
    LOCAL_TZ,
    AuditEvent,
    HumanLabel,
    Relabel,
    Ticket,
    claim,
    relabel,
    resolve,
)
from minsheng.store.privacy import (
    contact_key,
    erase_citizen,
    erase_closed_before,
    record_unmasked_read,
)
from tests.test_review_store import LABELS, add_ticket

PHONE = "13800138000"
TEXT = "我叫黄尊富,住丽发新城3栋2单元502室,楼下工地夜间施工噪音扰民,电话13800138000"


def _ticket(sessions, contact=PHONE, resolved_at=None, external_id=None):
    ticket_id = add_ticket(sessions)
    with sessions.begin() as session:
        t = session.get(Ticket, ticket_id)
        t.text, t.title, t.contact, t.external_id = TEXT, "黄尊富投诉工地噪音", contact, external_id
        t.pii = [{"type": s.type, "start": s.start, "end": s.end} for s in find_pii(TEXT)]
    relabel(sessions, LABELS, ticket_id, Relabel(reason="王先生说是噪音", sentiment="中性"), "wang", None)
    if resolved_at is not None:
        claim(sessions, ticket_id, "wang", None)
        resolve(sessions, LABELS, ticket_id, "已联系黄尊富,工地已停工。", "wang", None)
        with sessions.begin() as session:
            session.get(Ticket, ticket_id).resolved_at = resolved_at
    return ticket_id


def _state(sessions, ticket_id):
    with sessions() as session:
        t = session.get(Ticket, ticket_id)
        reasons = [h.reason for h in session.scalars(select(HumanLabel).where(HumanLabel.ticket_id == ticket_id))]
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket_id))]
        return t, reasons, actions


def _assert_erased(sessions, ticket_id):
    t, reasons, actions = _state(sessions, ticket_id)
    dump = json.dumps([t.text, t.title, t.reply, t.contact, reasons], ensure_ascii=False)
    for pii in ("黄尊富", "502室", PHONE, "王先生"):
        assert pii not in dump
    assert t.contact is None and t.erased_at is not None and t.pii == []
    assert "[NAME]" in t.text and "[ADDRESS]" in t.text and "[PHONE]" in t.text and "噪音扰民" in t.text
    assert (t.domain, t.sentiment) == ("城乡建设", "中性") and "[NAME]先生说是噪音" in reasons  # labels stay
    assert actions[0] == "ticket.created" and actions[-1] == "ticket.erased"  # the trail stays and grows


def _assert_intact(sessions, ticket_id):
    t, _, actions = _state(sessions, ticket_id)
    assert t.text == TEXT and t.contact is not None and t.erased_at is None and "ticket.erased" not in actions


def test_closed_before_erases_only_tickets_resolved_before_the_day(sessions):
    old = _ticket(sessions, resolved_at=datetime(2026, 1, 10, 12, tzinfo=LOCAL_TZ))
    recent = _ticket(sessions, resolved_at=datetime(2026, 3, 1, 12, tzinfo=LOCAL_TZ))
    still_open = _ticket(sessions)
    assert erase_closed_before(sessions, date(2026, 2, 1), "dpo") == [old]
    _assert_erased(sessions, old)
    _assert_intact(sessions, recent)
    _assert_intact(sessions, still_open)
    assert erase_closed_before(sessions, date(2026, 2, 1), "dpo") == []  # idempotent
    with sessions() as session:
        runs = [e.detail for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run"))]
    assert runs == [{"reason": "retention", "closed_before": "2026-02-01", "erased": 1},
                    {"reason": "retention", "closed_before": "2026-02-01", "erased": 0}]


def test_a_citizen_is_erased_by_contact_ticket_id_or_external_id(sessions):
    mine = [_ticket(sessions, contact="+86 138-0013-8000"), _ticket(sessions, resolved_at=datetime.now(LOCAL_TZ))]
    by_id, by_external = _ticket(sessions, contact=None), _ticket(sessions, contact=None, external_id="call-7")
    other = _ticket(sessions, contact="13900139000")
    assert erase_citizen(sessions, "dpo", contact="138 0013 8000") == sorted(mine)
    assert erase_citizen(sessions, "dpo", ticket_ids=[by_id], external=[("12345", "call-7")]) == sorted(
        [by_id, by_external])
    for ticket_id in mine + [by_id, by_external]:
        _assert_erased(sessions, ticket_id)
    _assert_intact(sessions, other)
    with sessions() as session:
        runs = [e.detail for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run"))]
    assert "0013" not in json.dumps(runs) and runs[0]["found_by"] == ["contact"]
    with pytest.raises(ValueError):
        erase_citizen(sessions, "dpo", contact=" ")


def test_contact_keys_ignore_spacing_and_country_code():
    assert contact_key("+86 138-0013-8000") == contact_key("13800138000") == contact_key("(138)00138000")
    assert contact_key("Li@Example.com") == "li@example.com" and contact_key("13800138000") != contact_key("13800138001")


def test_unmasked_reads_are_recorded(sessions):
    ticket_id = add_ticket(sessions)
    record_unmasked_read(sessions, "wang", ticket_id, "ticket")
    with sessions() as session:
        (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "ticket.unmasked_read"))
    assert (event.ticket_id, event.actor, event.detail) == (ticket_id, "wang", {"route": "ticket"})
    assert datetime.now(event.created_at.tzinfo) - event.created_at < timedelta(minutes=5)


def test_retention_command(db_url, sessions):
    old = _ticket(sessions, resolved_at=datetime(2026, 1, 10, 12, tzinfo=LOCAL_TZ))
    env = {**os.environ, "MINSHENG_DB_URL": db_url}
    run = [sys.executable, "-m", "minsheng.cli", "retention"]
    refused = subprocess.run(run, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and "--closed-before" in refused.stderr
    done = subprocess.run(run + ["--closed-before", "2026-02-01", "--actor", "dpo"], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert "1 tickets" in done.stdout
    _assert_erased(sessions, old)
    bad = subprocess.run(run + ["--closed-before", "yesterday"], env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and "ISO date" in bad.stderr

"""Open311 GeoReport v2 against the real service, read with a third-party client written to the spec (the
`georeport` package: JSON and XML) and requests POSTed as the spec describes (form-encoded, api_key); and the
service's own deliverer sending events to a real receiver that fails at first. SQLite and PostgreSQL."""
from __future__ import annotations

import json
import time
from datetime import datetime

import requests
from georeport import GeoReport
from sqlalchemy import select

from minsheng.core.labels import load_labels
from minsheng.store import Ticket
from minsheng.store.db import make_engine
from tests.receiver import Receiver

LABELS = load_labels()
PHONE, ADDRESS = "13912345678", "建设路88号"
DESCRIPTION = "小区门口路灯坏了一个月没人修，晚上很黑，老人经常摔倒，请尽快维修"


def ticket_id_of(srv, public_id: str) -> int:
    engine = make_engine(srv.db_url)
    try:
        with engine.connect() as connection:
            return connection.execute(select(Ticket.id).where(Ticket.public_id == public_id)).scalar_one()
    finally:
        engine.dispose()


def post_request(root: str, **fields) -> requests.Response:
    """POST requests.json as GeoReport v2 specifies: application/x-www-form-urlencoded fields, api_key among them."""
    return requests.post(f"{root}/requests.json", data=fields, timeout=120)


def test_open311_services_intake_and_progress_with_a_spec_client(srv):
    root = f"{srv.url}/open311/v2"
    client, xml_client = GeoReport(root), GeoReport(root, output_format="xml")
    intake, official = srv.token("intake"), srv.token("official", ["urban"])
    admin = srv.client(srv.token("admin"))

    services = client.get_service_list()
    assert len(services) == 15
    assert {s["service_name"]: s["group"] for s in services} == {d: r.department for d, r in LABELS.routes.items()}
    for s in services:
        assert {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"} <= set(s)
        assert s["metadata"] is False and s["type"] == "realtime"
    assert [s["service_code"] for s in xml_client.get_service_list()] == [s["service_code"] for s in services]
    assert client.get_service_definition("urban") == {"service_code": "urban", "attributes": []}

    # intake: the spec's fields; the api_key is an intake token
    for fields, code in [({}, 401), ({"api_key": "nope"}, 401), ({"api_key": official}, 403),
                         ({"api_key": intake, "service_code": "urban"}, 400),
                         ({"api_key": intake, "service_code": "nope", "description": "x"}, 400),
                         ({"api_key": intake, "service_code": "urban", "description": "坏了\x00"}, 400)]:
        r = post_request(root, **fields)
        assert r.status_code == code, (fields, r.text)
        errors = r.json()
        assert [set(e) for e in errors] == [{"code", "description"}] and errors[0]["code"] == code
    r = post_request(root, api_key=intake, service_code="urban", description=DESCRIPTION, address_string=ADDRESS,
                     lat="30.6", long="104.1", first_name="明", last_name="王", phone=PHONE)
    assert 200 <= r.status_code < 300, r.text
    [created] = r.json()
    public = created["service_request_id"]
    ticket_id = ticket_id_of(srv, public)
    assert public != str(ticket_id) and len(public) == 32  # random: nobody can walk the sequential ids
    assert created["service_notice"]
    ticket = admin.get(f"/api/tickets/{ticket_id}").json()
    assert ticket["channel"] == "open311" and ADDRESS in ticket["text"] and PHONE in ticket["contact"]
    other = post_request(root, api_key=intake, service_code="environment",
                         description="河里有死鱼，水发臭").json()[0]["service_request_id"]

    # progress: open, then closed; nothing of the content
    status = client.get_service_request(public)
    assert status["service_request_id"] == public and status["status"] == "open"
    assert status["agency_responsible"] in (None, ticket["department"]) and status["status_notes"]
    assert status["requested_datetime"] and status["updated_datetime"]
    assert datetime.fromisoformat(status["expected_datetime"]) == datetime.fromisoformat(ticket["due_at"])
    shown = json.dumps(status, ensure_ascii=False)
    assert "description" not in status and PHONE not in shown and ADDRESS not in shown and "路灯" not in shown
    assert xml_client.get_service_request(public)["status"] == "open"
    both = client.get_service_requests(service_request_id=f"{public},{other},{'f' * 32}")
    assert [s["service_request_id"] for s in both] == [public, other]
    assert admin.post(f"/api/tickets/{ticket_id}/resolve", json={"reply": "路灯已于今日修复"}).status_code == 200
    closed = client.get_service_request(public)
    assert closed["status"] == "closed" and closed["status_notes"] == "已办结" and "修复" not in json.dumps(closed)
    assert closed["expected_datetime"] is None
    # not offered: a listing without ids; unknown ids are 404s in the spec's error shape
    for path, code in [("requests.json", 400), (f"requests/{'f' * 32}.json", 404), (f"requests/{ticket_id}.json", 400),
                       ("requests/abc.json", 400),
                       ("services.yaml", 404)]:
        r = requests.get(f"{root}/{path}", timeout=30)
        assert r.status_code == code and r.json()[0]["code"] == code, path


def test_the_service_delivers_events_to_a_webhook_that_fails_at_first(srv):
    admin_token = srv.token("admin")
    admin, official = srv.client(admin_token), srv.client(srv.token("official", ["urban"]))
    name = f"crm-{time.monotonic_ns()}"
    receiver = Receiver(secret="", fail_first=2)
    try:
        assert official.post("/api/admin/webhooks", json={"name": name, "url": receiver.url}).status_code == 403
        bad = admin.post("/api/admin/webhooks", json={"name": name, "url": receiver.url, "events": ["ticket.eaten"]})
        assert bad.status_code == 422
        r = admin.post("/api/admin/webhooks", json={"name": name, "url": receiver.url})
        assert r.status_code == 200, r.text
        receiver.secret = r.json()["secret"]
        submitted = srv.client(srv.token("intake")).post(
            "/submit", json={"channel": "web", "text": DESCRIPTION, "contact": PHONE})
        ticket_id = submitted.json()["ticket_id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and len(receiver.unique()) < 2:
            time.sleep(0.5)
        got = receiver.unique()
        assert [(e["type"], e["ticket"]["id"]) for e in got] == [("ticket.created", ticket_id),
                                                                  ("ticket.routed", ticket_id)]
        assert receiver.requests >= 4 and receiver.forged == 0  # two refused, then each event
        assert DESCRIPTION not in json.dumps(got, ensure_ascii=False) and PHONE not in json.dumps(got)
        listed = {h["name"]: h for h in admin.get("/api/admin/webhooks").json()["webhooks"]}
        assert listed[name]["delivered"] == 2 and "secret" not in listed[name]
    finally:
        admin.delete(f"/api/admin/webhooks/{name}")
        receiver.close()
    assert name not in {h["name"] for h in admin.get("/api/admin/webhooks").json()["webhooks"]}

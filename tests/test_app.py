"""The API app in process (api/app.py's create_app, FastAPI's TestClient) on SQLite and PostgreSQL, without a
model service: the review routes' rules hold there too, and the OpenAPI document describes every answer."""
import pytest
from fastapi.testclient import TestClient

from minsheng.api.app import create_app
from minsheng.core.labels import load_labels
from minsheng.store import Analysis, NewTicket, Routing, create_ticket, create_user

LABELS = load_labels()
PHONE = "13912345678"
TEXT = f"小区门口路灯坏了一个月没人修，晚上很黑，请尽快处理。联系电话{PHONE}"


@pytest.fixture
def app(sessions):
    tokens = {name: create_user(sessions, LABELS, name, role, queues)[1]
              for name, role, queues in [("li", "official", ["urban"]), ("zhao", "official", ["urban"]),
                                         ("wang", "official", ["labor"]), ("admin", "admin", [])]}
    client = TestClient(create_app(sessions, LABELS), raise_server_exceptions=False)
    client.tokens = tokens
    return client


def call(app, who, method, path, **kwargs):
    return app.request(method, path, headers={"Authorization": f"Bearer {app.tokens[who]}"}, **kwargs)


def urban_ticket(sessions) -> int:
    start = TEXT.index(PHONE)
    prediction = {"model_version": "m-test", "label_version": LABELS.version, "domain": "城乡建设",
                  "domain_confidence": 0.9, "sentiment": "负面", "sentiment_confidence": 0.8, "appeal": "求助",
                  "appeal_confidence": 0.7, "urgent": False, "urgent_confidence": 0.1,
                  "scores": {"urgent_cues": [], "domain_top3": [{"domain": "城乡建设", "confidence": 0.9}]}}
    ticket, _ = create_ticket(sessions, NewTicket(channel="web", text=TEXT, contact=PHONE), prediction,
                              Routing(queue="urban", department=LABELS.routes["城乡建设"].department),
                              Analysis(keywords=["路灯"], places=[], pii=[{"type": "PHONE", "start": start,
                                                                          "end": start + len(PHONE)}]),
                              actor="intake")
    return ticket["id"]


def test_review_routes_run_in_process_with_their_rules(app, sessions):
    ticket_id = urban_ticket(sessions)
    assert call(app, "li", "GET", "/api/me").json() == {"name": "li", "role": "official", "queues": ["urban"]}
    listed = call(app, "li", "GET", "/api/queues/urban/tickets").json()
    assert [t["id"] for t in listed["tickets"]] == [ticket_id] and PHONE not in listed["tickets"][0]["excerpt"]
    assert call(app, "wang", "GET", f"/api/tickets/{ticket_id}").status_code == 403
    assert call(app, "wang", "GET", "/api/queues/urban/tickets").status_code == 403

    browsed = call(app, "zhao", "GET", f"/api/tickets/{ticket_id}").json()
    assert (browsed["pii_visible"], browsed["contact"]) == (False, None) and PHONE not in browsed["text"]
    assert browsed["domain_top3"] == [{"domain": "城乡建设", "confidence": 0.9}]  # the intake cues, as stored
    claimed = call(app, "li", "POST", f"/api/tickets/{ticket_id}/claim").json()
    assert (claimed["pii_visible"], claimed["contact"]) == (True, PHONE) and PHONE in claimed["text"]
    history = call(app, "admin", "GET", f"/api/tickets/{ticket_id}").json()["history"]
    assert {"ticket.claimed", "ticket.unmasked_read"} <= {e["action"] for e in history}

    resolved = call(app, "li", "POST", f"/api/tickets/{ticket_id}/resolve", json={"reply": "已修复。"})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"  # no case base here: no error
    assert call(app, "li", "POST", f"/api/tickets/{ticket_id}/resolve", json={"reply": "x"}).status_code == 409
    bad = call(app, "li", "POST", f"/api/tickets/{ticket_id}/relabel", json={"reason": "", "domain": 1})
    assert bad.status_code == 422 and {p["field"] for p in bad.json()["problems"]} == {"reason", "domain"}
    assert call(app, "li", "GET", f"/api/tickets/{ticket_id}/similar").status_code == 503  # needs the model


def test_every_api_answer_is_described_in_the_openapi_document():
    """Each /api route of the service (its own routes and the routers it mounts) declares the model of its
    answer: the document names a schema, not an untyped object."""
    from minsheng.serving.service import app

    paths = app.openapi()["paths"]
    untyped = [f"{method.upper()} {path}" for path, methods in paths.items() if path.startswith("/api/")
               for method, op in methods.items()
               if "$ref" not in op["responses"].get("200", {}).get("content", {}).get("application/json", {})
               .get("schema", {})]
    assert len(paths) >= 20 and untyped == []

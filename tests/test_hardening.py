"""Bad input, overload and privacy at the edge, against the real service: control characters, oversized bodies,
reused external ids, what the logs keep, what /metrics exposes, and that no page or process calls out."""
import json
import socket
import subprocess
import sys
import uuid
from urllib.parse import urlsplit

import pytest

from minsheng.api.schemas.intake import MAX_BODY_BYTES, MAX_MESSAGES, MAX_TITLE_CHARS
from minsheng.core.text import MAX_TEXT_CHARS
from tests.test_service import _counts

CONTROL = [
    ("/submit", {"channel": "12345", "text": "井盖丢了\u0000有人掉进去"}, "text"),  # issue 15: a 500 on PostgreSQL
    ("/submit", {"channel": "12345", "text": "井盖丢了", "title": "井盖\u0007"}, "title"),
    ("/submit", {"channel": "12345", "text": "井盖丢了", "contact": "138\u00000000"}, "contact"),
    ("/submit", {"channel": "12345", "text": "井盖丢了", "external_id": "a\u001bb"}, "external_id"),
    ("/submit", {"channel": "12345", "text": "井盖丢了\u0085"}, "text"),
    ("/classify", {"messages": [{"text": "井盖丢了\u0000"}]}, "messages[0].text"),
]


@pytest.mark.parametrize("path,body,field", CONTROL, ids=[f"{p}:{f}" for p, _, f in CONTROL])
def test_control_characters_are_refused_naming_the_field(srv, path, body, field):
    token = srv.token("intake")  # before counting: a new user is an audit event
    before = _counts(srv)
    with srv.client(token) as c:
        r = c.post(path, json=body)
    assert r.status_code == 422, r.text
    assert any(p["field"] == field and "control characters" in p["problem"] for p in r.json()["problems"])
    assert _counts(srv) == before


def test_ordinary_whitespace_is_kept(server):
    with server.client(server.token("intake")) as c:
        r = c.post("/submit", json={"channel": "web", "text": "井盖丢了\r\n\t有人掉进去", "title": "井盖\t丢失"})
    assert r.status_code == 201, r.text


def test_review_bodies_refuse_control_characters(srv):
    with srv.client(srv.token("intake")) as c:
        ticket = c.post("/submit", json={"channel": "web", "text": "小区路灯坏了一个月没人修"}).json()["ticket_id"]
    with srv.client(srv.token("admin")) as admin:
        relabel = admin.post(f"/api/tickets/{ticket}/relabel", json={"sentiment": "中性", "reason": "核实\u0000"})
        resolve = admin.post(f"/api/tickets/{ticket}/resolve", json={"reply": "已修复\u0000"})
        assert admin.get(f"/api/tickets/{ticket}").json()["status"] == "open"
    assert (relabel.status_code, resolve.status_code) == (422, 422)
    assert relabel.json()["problems"][0]["field"] == "reason" and resolve.json()["problems"][0]["field"] == "reply"


def test_logs_carry_no_message_text_or_contact(pg_server):
    """A message and a contact nobody else sends, stored, repeated with other content (409) and with a NUL (a
    500 from PostgreSQL before control characters were refused, its parameters in the log): never in the log."""
    marker, contact = f"井盖丢了{uuid.uuid4().hex[:8]}", f"1{uuid.uuid4().int % 10**10:010d}"
    body = {"channel": "12345", "external_id": f"log-{uuid.uuid4().hex[:8]}", "text": marker, "contact": contact}
    with pg_server.client(pg_server.token("intake")) as c:
        assert c.post("/submit", json=body).status_code == 201
        assert c.post("/submit", json={**body, "text": marker + "，又有人掉进去"}).status_code == 409
        assert c.post("/submit", json={**body, "external_id": None, "text": marker + "\u0000"}).status_code == 422
        assert c.post("/submit", json={**body, "external_id": None, "contact": contact + "\u0000"}).status_code == 422
    log = pg_server.log.read_text(encoding="utf-8", errors="replace")
    assert marker not in log and contact not in log


def test_reused_external_id_with_other_content_is_409(srv):
    body = {"channel": "mailbox", "external_id": f"conflict-{uuid.uuid4().hex[:8]}", "text": "小区电梯经常困人，物业不修"}
    with srv.client(srv.token("intake")) as c:
        first = c.post("/submit", json=body)
        before = _counts(srv)
        again = c.post("/submit", json=body)
        other = c.post("/submit", json={**body, "text": "楼下餐馆油烟直排，熏得开不了窗"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["ticket_id"] == first.json()["ticket_id"]
    assert other.status_code == 409
    assert str(first.json()["ticket_id"]) in other.json()["error"]
    assert other.json()["problems"] == [{"field": "text", "problem": f"differs from ticket {first.json()['ticket_id']}'s"}]
    assert _counts(srv) == before


def _raw(server, head: str, body_parts) -> int:
    """Sends a request head and body parts over a plain socket, then reads the answer's status (the server may
    answer, and close, before it has the whole body)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=120) as s:
        s.sendall(head.encode())
        for part in body_parts:
            s.sendall(part)
        answer = b""
        while b"\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


OVERSIZE_ROUTES = [("POST", "/classify", True), ("POST", "/submit", False), ("POST", "/api/tickets/1/resolve", True),
                   ("POST", "/api/admin/reload", False), ("GET", "/readyz", False), ("POST", "/no/such/route", False)]


@pytest.mark.parametrize("method,path,with_token", OVERSIZE_ROUTES, ids=[f"{m} {p}" for m, p, _ in OVERSIZE_ROUTES])
def test_oversized_bodies_are_refused_unread(server, method, path, with_token):
    """A Content-Length over the limit is answered 413 with only the head sent: the server did not wait for the
    body. The same for a chunked body (no Content-Length) as soon as it goes over."""
    auth = f"Authorization: Bearer {server.token('admin')}\r\n" if with_token else ""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n"
    assert _raw(server, head + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n", [b'{"messages": [']) == 413
    chunk = b"x" * 65536
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (MAX_BODY_BYTES // len(chunk) + 1)
    assert _raw(server, head + "Transfer-Encoding: chunked\r\n\r\n", chunks) == 413


def test_the_largest_valid_request_fits_the_limit(server):
    """64 messages at their longest, every character an escaped surrogate pair (json.dumps' default), pretty
    printed: read and validated (the extra field makes it a cheap 422), not refused for its size; chunked too."""
    emoji = "\U0001F6A7"
    body = json.dumps({"messages": [{"title": emoji * MAX_TITLE_CHARS, "text": emoji * MAX_TEXT_CHARS}] * MAX_MESSAGES,
                       "note": "x"}, indent=2).encode()
    assert len(body) > MAX_BODY_BYTES * 0.98
    with server.client(server.token("intake")) as c:
        sized = c.post("/classify", content=body, headers={"content-type": "application/json"})
        chunked = c.post("/classify", content=iter([body[:1 << 20], body[1 << 20:]]),
                         headers={"content-type": "application/json"})
    for r in (sized, chunked):
        assert r.status_code == 422, r.text[:200]
        assert r.json()["problems"] == [{"field": "note", "problem": "Extra inputs are not permitted"}]


def test_metrics_are_labelled_by_route_template(server):
    ids = [987654301, 987654302, 987654303]
    probe = f"probe{uuid.uuid4().hex[:8]}"
    with server.client(server.token("admin")) as c:
        for ticket_id in ids:
            assert c.get(f"/api/tickets/{ticket_id}").status_code == 404
        assert c.get(f"/{probe}").status_code == 404
        metrics = c.get("/metrics").text
    assert not any(str(i) in metrics for i in ids) and probe not in metrics
    assert 'endpoint="/api/tickets/{ticket_id}"' in metrics


def test_usage_tracking_is_off_unless_switched_on(server, tmp_path):
    """BentoML reads BENTOML_DO_NOT_TRACK in every process of `minsheng serve`; the CLI sets it unless
    MINSHENG_USAGE_TRACKING=on."""
    assert all(p.environ().get("BENTOML_DO_NOT_TRACK") == "True" for p in server.processes())
    check = ("from minsheng.cli import main; main(['models', 'list']);"
             "from bentoml._internal.utils.analytics.usage_stats import do_not_track; print(do_not_track())")
    env = {k: v for k, v in server.env.items() if k != "BENTOML_DO_NOT_TRACK"}
    answers = [subprocess.run([sys.executable, "-c", check], env={**env, **switch}, capture_output=True, text=True,
                              check=True).stdout.split()[-1] for switch in ({}, {"MINSHENG_USAGE_TRACKING": "on"})]
    assert answers == ["True", "False"]


def test_pages_load_nothing_from_other_hosts(server, browser):
    """The index (BentoML's page loaded a third-party tag manager), the officials' page and the API docs
    (FastAPI's loaded Swagger UI from a CDN): every request they make goes to this server."""
    page = browser.new_page()
    page.set_default_timeout(60_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{server.url}/", wait_until="networkidle")
    assert urlsplit(page.url).path == "/ui/"
    page.goto(f"{server.url}/docs", wait_until="networkidle")
    page.wait_for_selector("text=/submit")  # Swagger UI ran and read /openapi.json
    assert page.goto(f"{server.url}/redoc").status == 404  # FastAPI's ReDoc page loads from a CDN too: none
    hosts = {urlsplit(url).hostname for url in requested if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, requested

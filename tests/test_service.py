"""The real BentoML service (a `minsheng serve` subprocess) on SQLite and on PostgreSQL."""
import os

import pytest
from sqlalchemy import func, select

from minsheng.cli import MALLOC_ARENA_MAX
from minsheng.store import AuditEvent, Prediction, Ticket, make_engine, session_factory

OBVIOUS = [
    ({"title": "公司拖欠工资", "text": "老板拖欠我们三个月工资一直不发,请劳动监察部门帮忙讨薪"}, "labor"),
    ({"title": "工厂夜间排放废气", "text": "工厂每天晚上排放刺鼻废气,污染严重,居民无法开窗"}, "environment"),
    ({"title": "孩子入学问题", "text": "孩子户口在本区,为什么不能在对口小学入学?学位分配不公平"}, "education"),
]


@pytest.fixture
def intake(srv):
    """A client of the hotline intake system (role intake) on `srv`."""
    with srv.client(srv.token("intake")) as c:
        yield c


def _db(srv):
    engine = make_engine(srv.db_url)
    return engine, session_factory(engine)


def _counts(srv) -> tuple[int, int, int]:
    engine, sessions = _db(srv)
    with sessions() as s:
        out = tuple(s.scalar(select(func.count()).select_from(m)) for m in (Ticket, Prediction, AuditEvent))
    engine.dispose()
    return out


def test_classify_tags_obvious_messages(server):
    with server.client(server.token("intake")) as c:
        info = c.get("/info").json()
        r = c.post("/classify", json={"messages": [m for m, _ in OBVIOUS] + [
            {"title": "楼道煤气泄漏", "text": "整栋楼都是煤气味,请马上派人处理"},
            {"text": "我的电话是138-1234-5678,A市A3区联丰路米兰春天小区路灯坏了"}]})
    assert r.status_code == 200
    results = r.json()["results"]
    assert [x["queue"] for x in results[:3]] == [q for _, q in OBVIOUS]
    assert [(x["urgent"], x["urgent_cues"]) for x in results[2:4]] == [(False, []), (True, ["燃气泄漏"])]
    assert results[3]["possible_emergency"]  # the urgent are in the possible-emergency lane too
    for x in results:
        assert x["model_version"] == info["model_version"]
        assert len(x["domain_top3"]) == 3 and x["domain_top3"][0]["domain"] == x["domain"]
        assert 0 <= x["domain_confidence"] <= 1 and x["department"]
    last = results[-1]
    assert last["pii"] == [{"type": "PHONE", "start": 5, "end": 18}]
    assert "A3区" in last["places"] and last["keywords"]


def test_submit_routes_stores_and_is_idempotent(srv, intake):
    body = {"channel": "12345", "external_id": f"ext-{srv.port}", "title": OBVIOUS[0][0]["title"],
            "text": OBVIOUS[0][0]["text"], "contact": "13812345678", "received_at": "2026-11-24T09:30:00+08:00"}
    before = _counts(srv)
    first = intake.post("/submit", json=body)
    again = intake.post("/submit", json=body)
    assert first.status_code == 201 and again.status_code == 200
    a, b = first.json(), again.json()
    assert a["created"] is True and b["created"] is False and a["ticket_id"] == b["ticket_id"]
    assert a["queue"] == "labor" and a["department"] == "人力资源和社会保障局" and a["status"] == "open"
    assert _counts(srv) == (before[0] + 1, before[1] + 1, before[2] + 1)
    engine, sessions = _db(srv)
    with sessions() as s:
        t = s.get(Ticket, a["ticket_id"])
        p = s.scalars(select(Prediction).where(Prediction.ticket_id == t.id)).one()
        assert t.queue == "labor" and t.contact == "13812345678" and t.model_version == a["model_version"]
        assert set(p.scores) >= {"domain", "sentiment", "appeal", "urgent"}  # all scores kept
        assert sum(p.scores["domain"].values()) == pytest.approx(1, abs=1e-4)
    engine.dispose()


def test_without_external_id_each_submit_is_a_new_ticket(server):
    with server.client(server.token("intake")) as c:
        ids = {c.post("/submit", json={"channel": "web", "text": "路灯坏了很久没人修"}).json()["ticket_id"]
               for _ in range(2)}
    assert len(ids) == 2


BAD = [
    ("/classify", {"messages": [{"text": "   "}]}, 422, "messages[0].text"),
    ("/classify", {"messages": [{"text": "字" * 5001}]}, 422, "messages[0].text"),
    ("/classify", {"messages": [{"text": "路灯坏了"}] * 65}, 422, "messages"),
    ("/classify", {"messages": []}, 422, "messages"),
    ("/classify", {"messages": [{"text": 5}]}, 422, "messages[0].text"),
    ("/classify", {"messages": [{"text": "路灯坏了", "body": "x"}]}, 422, "messages[0].body"),
    ("/classify", {"msgs": []}, 422, "messages"),
    ("/submit", {"text": "路灯坏了"}, 422, "channel"),
    ("/submit", {"channel": "12345", "text": ""}, 422, "text"),
    ("/submit", {"channel": "12345", "text": "路灯坏了", "received_at": "yesterday"}, 422, "received_at"),
    ("/submit", {"channel": "12345", "text": "路灯坏了", "priority": "high"}, 422, "priority"),
    ("/submit", {"channel": "bad channel!", "text": "路灯坏了"}, 422, "channel"),
]


@pytest.mark.parametrize("path,body,status,field", BAD, ids=[f"{p}:{f}" for p, _, _, f in BAD])
def test_bad_input_is_a_4xx_naming_the_field(srv, intake, path, body, status, field):
    before = _counts(srv)
    r = intake.post(path, json=body)
    assert r.status_code == status
    problems = r.json()["problems"]
    assert any(p["field"] == field for p in problems), problems
    assert "Traceback" not in r.text
    assert _counts(srv) == before  # nothing half-written


@pytest.mark.parametrize("raw,status,error", [
    (b'{"messages": [', 400, "malformed JSON"),
    (b'{"messages": [{"text": "\xff\xfe"}]}', 400, "not valid UTF-8"),
    (b"[1, 2]", 422, "invalid request"),
])
def test_unparseable_bodies(server, raw, status, error):
    with server.client(server.token("intake")) as c:
        r = c.post("/classify", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == status and error in r.json()["error"]


def test_naive_received_at_is_refused(server):
    with server.client(server.token("intake")) as c:
        r = c.post("/submit", json={"channel": "12345", "text": "路灯坏了", "received_at": "2026-11-24T09:30:00"})
    assert r.status_code == 422 and "time zone" in r.json()["error"]


def test_info_and_operations_endpoints(server):
    with server.client() as c:
        info = c.get("/info").json()
        assert c.get("/readyz").status_code == 200 and c.get("/livez").status_code == 200
        assert "bentoml_service_request" in c.get("/metrics").text
    assert info["model_version"] and len(info["label_version"]) == 12
    assert info["queues"]["triage"] == "人工分拨" and len(info["domains"]) == 15


def test_every_server_process_runs_with_few_malloc_arenas(server):
    """minsheng serve sets MALLOC_ARENA_MAX (unless its environment does) before BentoML starts, so each worker's
    glibc reads it at its start."""
    workers = server.processes()
    assert len(workers) >= 3  # minsheng serve (now bentoml serve), the entry worker and the model worker
    assert {p.environ().get("MALLOC_ARENA_MAX") for p in workers} == {os.environ.get("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)}


def test_restart_keeps_tickets(srv):
    body = {"channel": "mailbox", "external_id": f"restart-{srv.port}", "text": "小区电梯经常困人,物业不修"}
    token = srv.token("intake")
    with srv.client(token) as c:
        first = c.post("/submit", json=body).json()
    srv.restart()
    with srv.client(token) as c:  # users and tickets both survive
        again = c.post("/submit", json=body)
    assert again.status_code == 200 and again.json()["ticket_id"] == first["ticket_id"]


def test_traditional_and_full_width_input_tags_like_simplified(server):
    simplified = {"title": "建议政府加强对食品安全的监管", "text": "最近小区附近超市多次卖过期食品,请市场监管部门加强检查"}
    written = {"title": "建議政府加強對食品安全的監管", "text": "最近小區附近超市多次賣過期食品，請市場監管部門加強檢查"}
    with server.client(server.token("intake")) as c:
        r = c.post("/classify", json={"messages": [simplified, written]})
    assert r.status_code == 200
    plain, traditional = r.json()["results"]
    for field in ("domain", "sentiment", "appeal", "queue", "keywords", "places"):
        assert traditional[field] == plain[field], field
    assert traditional["domain_confidence"] == pytest.approx(plain["domain_confidence"], abs=1e-4)


def test_a_thank_you_message_reaches_the_department_as_praise(server):
    with server.client(server.token("intake")) as c:
        r = c.post("/classify", json={"messages": [{"text": "感谢派出所民警帮我找回了丢失的钱包"}]})
    assert r.status_code == 200
    thanks = r.json()["results"][0]
    assert (thanks["sentiment"], thanks["appeal"], thanks["praise_cues"]) == ("正面", "表扬", ["感谢"])


def test_an_id_beyond_the_id_columns_range_is_refused_not_a_database_error(srv):
    with srv.client(srv.token("admin")) as c:
        for method, path in [("GET", "/api/tickets/2147483648"), ("POST", "/api/tickets/9223372036854775806/claim"),
                             ("GET", "/api/hot-issues/2147483648")]:
            r = c.request(method, path)
            assert r.status_code == 422, (path, r.status_code, r.text)
            assert r.json()["problems"], r.text


def test_the_service_reads_a_message_as_the_model_does_with_its_pii_names_included_masked(server):
    """The intake's one spaCy/jieba pass gives the PII that the model input masks: the served tags are those of
    the shipped model reading masked_input(title, text) in-process (the batch command's path)."""
    from minsheng.core.labels import load_labels
    from minsheng.core.routing import route
    from minsheng.model.classifier import Classifier
    from minsheng.model.registry import SHIPPED_MODEL

    message = {"title": "路灯坏了", "text": "我是刘德明,电话13812345678,A市A3区联丰路米兰春天小区的路灯坏了一个月没人修"}
    with server.client(server.token("intake")) as c:
        assert c.get("/info").json()["quantize"] == "int8"
        served = c.post("/classify", json={"messages": [message]}).json()["results"][0]
    assert [p["type"] for p in served["pii"]] == ["NAME", "PHONE"]
    scores = Classifier.load(SHIPPED_MODEL, quantize="int8").predict([(message["title"], message["text"])])[0]
    expected = route(scores, load_labels(), message["title"], message["text"]).to_dict()
    for field in ("domain", "sentiment", "appeal", "queue", "domain_top3"):
        assert served[field] == expected[field], field
    for task in ("domain", "sentiment", "appeal"):
        assert served[f"{task}_confidence"] == pytest.approx(expected[f"{task}_confidence"], abs=1e-4), task

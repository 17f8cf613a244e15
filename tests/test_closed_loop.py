"""The 12345 closed loop: time limits set at routing and re-computed by relabels and reopenings, extensions,
supervision, the overdue sweep, the citizen's verdict and the closed-loop figures. First in the store on SQLite
and PostgreSQL with the clock moved in process; then against a real server (both databases) whose clock the test
moves through MINSHENG_CLOCK_OFFSET_FILE, with every new route called as every role, and the officials' page in
Chromium."""
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from minsheng.core.clock import LOCAL_TZ
from minsheng.core.labels import load_labels
from minsheng.core.text import normalize
from minsheng.settings import settings
from minsheng.store import (
    Analysis,
    AuditEvent,
    Conflict,
    Invalid,
    NewTicket,
    NotVisible,
    OutboxEvent,
    Relabel,
    Routing,
    TicketFilter,
    Verdict,
    create_ticket,
    decide_extension,
    list_tickets,
    loop_analytics,
    loop_detail,
    queue_summaries,
    record_feedback,
    relabel,
    request_extension,
    resolve,
    supervise,
    supervision_overview,
    sweep_overdue,
)
from tests.conftest import served
from tests.test_review_api import Api

LABELS = load_labels()
URBAN = "城乡建设"
COMMENT = "路灯还是不亮，没人来修过"  # the citizen's words: never in an audit detail


def beijing(*args) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


class Clock:
    """Moves the service's clock by writing MINSHENG_CLOCK_OFFSET_FILE."""

    def __init__(self, path):
        self.path = path

    def set(self, moment: datetime) -> None:
        self.path.write_text(str((moment - datetime.now(UTC)).total_seconds()), encoding="utf-8")


@pytest.fixture
def clock(tmp_path, monkeypatch):
    monkeypatch.setenv("MINSHENG_CLOCK_OFFSET_FILE", str(tmp_path / "offset"))
    settings.cache_clear()
    yield Clock(tmp_path / "offset")
    monkeypatch.delenv("MINSHENG_CLOCK_OFFSET_FILE")
    settings.cache_clear()


def new_ticket(sessions, appeal="投诉", urgent=False, cues=()) -> int:
    prediction = {"model_version": "m-test", "label_version": LABELS.version, "domain": URBAN, "domain_confidence": 0.9,
                  "sentiment": "负面", "sentiment_confidence": 0.8, "appeal": appeal, "appeal_confidence": 0.7,
                  "urgent": urgent, "urgent_confidence": 0.1,
                  "scores": {"possible_emergency": bool(cues), "possible_emergency_cues": list(cues)}}
    ticket, _ = create_ticket(sessions, NewTicket(channel="12345", text="小区门口路灯坏了一个月没人修"), prediction,
                              Routing(queue="urban", department=LABELS.routes[URBAN].department), Analysis(),
                              actor="intake:12345")
    return ticket["id"]


def events(sessions, ticket_id, *actions) -> list[dict]:
    with sessions() as s:
        return [{"action": e.action, **e.detail} for e in s.scalars(
            select(AuditEvent).where(AuditEvent.ticket_id == ticket_id).order_by(AuditEvent.id))
            if not actions or e.action in actions]


def ticket_row(sessions, ticket_id) -> dict:
    with sessions() as s:
        rows, _ = list_tickets(s, LABELS, "urban", TicketFilter(), None, 100, order="due")
    return next(t for t in rows if t["id"] == ticket_id)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def to_second(stamp: str) -> str:
    """An ISO time to the second: the moved clock is the real one plus an offset, exact to a few microseconds."""
    return iso(datetime.fromisoformat(stamp).replace(microsecond=0))


def test_the_loop_in_the_store(sessions, clock):
    clock.set(beijing(2026, 9, 30, 10))  # the day before National Day
    ticket_id = new_ticket(sessions)  # 投诉: 13 working days
    created = events(sessions, ticket_id, "ticket.created")[0]
    assert (created["due_rule"], created["due_at"]) == ("complaint", iso(beijing(2026, 10, 23, 23, 59, 59)))
    # a relabel to 咨询 changes the rule: 3 working days from the same start, the adjusted Saturday the third
    change = Relabel(reason="咨询类", appeal="咨询")
    assert relabel(sessions, LABELS, ticket_id, change, "wang", None)["due_at"] == iso(beijing(2026, 10, 10, 23, 59, 59))
    relabel(sessions, LABELS, ticket_id, Relabel(reason="情感", sentiment="中性"), "wang", None)  # same rule: no change
    assert [(e["cause"], e["from_rule"], e["rule"], e["to"]) for e in events(sessions, ticket_id, "ticket.due_changed")] == [
        ("relabel", "complaint", "consult", iso(beijing(2026, 10, 10, 23, 59, 59)))]

    # extensions: one waits at a time; refused keeps the due time, approved moves it
    with pytest.raises(Invalid):
        request_extension(sessions, ticket_id, "需要协调", beijing(2026, 10, 9), "wang", None)  # not later
    with pytest.raises(NotVisible):
        request_extension(sessions, ticket_id, "需要协调", beijing(2026, 10, 15), "li", {"environment"})
    first = request_extension(sessions, ticket_id, "需要协调供电公司", beijing(2026, 10, 15, 18), "wang", None)
    with pytest.raises(Conflict):
        request_extension(sessions, ticket_id, "再申请", beijing(2026, 10, 16), "wang", None)
    assert decide_extension(sessions, ticket_id, first["id"], False, "理由不足", "admin")["status"] == "refused"
    with pytest.raises(Conflict):
        decide_extension(sessions, ticket_id, first["id"], True, None, "admin")
    second = request_extension(sessions, ticket_id, "需要更换线路", beijing(2026, 10, 15, 18), "wang", None)
    assert decide_extension(sessions, ticket_id, second["id"], True, None, "admin")["status"] == "approved"
    assert ticket_row(sessions, ticket_id)["due_at"] == iso(beijing(2026, 10, 15, 18))

    # the clock passes the due time: overdue in the listing at once, recorded once by the sweep
    clock.set(beijing(2026, 10, 15, 10))
    assert (ticket_row(sessions, ticket_id)["overdue"], ticket_row(sessions, ticket_id)["due_soon"]) == (False, True)
    assert ticket_id not in sweep_overdue(sessions)
    clock.set(beijing(2026, 10, 16, 9))
    assert ticket_row(sessions, ticket_id)["overdue"]
    assert ticket_id in sweep_overdue(sessions) and ticket_id not in sweep_overdue(sessions)
    with sessions() as s:
        overdue, _ = list_tickets(s, LABELS, "urban", TicketFilter(due="overdue"), None, 100)
        assert ticket_id in {t["id"] for t in overdue}
        assert next(q for q in queue_summaries(s, LABELS, None) if q["queue"] == "urban")["overdue"] >= 1
        urban = next(d for d in supervision_overview(s, LABELS)["departments"] if d["queue"] == "urban")
        assert next(t for t in urban["tickets"] if t["id"] == ticket_id)["overdue_hours"] == 15.0
    supervise(sessions, ticket_id, "请今日内答复", "admin")

    # resolved late; the citizen is not satisfied: reopened in its department, the clock starts again
    resolve(sessions, LABELS, ticket_id, "已修复路灯。", "wang", None)
    with pytest.raises(Invalid):
        record_feedback(sessions, ticket_id, Verdict("一般", True), "callback")
    verdict = Verdict("不满意", False, COMMENT, client_id="cb-1")
    answer = record_feedback(sessions, ticket_id, verdict, "callback")
    assert (answer["created"], answer["ticket_status"], answer["feedback"]["reopened"]) == (True, "open", True)
    assert record_feedback(sessions, ticket_id, verdict, "callback")["created"] is False  # a retry
    assert record_feedback(sessions, ticket_id, Verdict("不满意", False, COMMENT), "callback")["created"] is False
    with pytest.raises(Conflict):
        record_feedback(sessions, ticket_id, Verdict("满意", True), "callback")
    reopened = ticket_row(sessions, ticket_id)
    assert (reopened["status"], reopened["claimed_by"], reopened["due_rule"]) == ("open", None, "consult")
    assert reopened["due_at"] == iso(beijing(2026, 10, 21, 23, 59, 59))  # 3 working days from Fri Oct 16
    with sessions() as s:
        loop = loop_detail(s, ticket_id)
    assert [f["comment"] for f in loop["feedback"]] == [COMMENT]
    assert [e["status"] for e in loop["extensions"]] == ["refused", "approved"]
    assert [n["note"] for n in loop["supervision"]] == ["请今日内答复"]

    trail = events(sessions, ticket_id)
    actions = [e["action"] for e in trail]
    for action in ("ticket.extension_requested", "ticket.extension_refused", "ticket.extension_approved",
                   "ticket.overdue", "ticket.supervised", "feedback.received"):
        assert action in actions
    assert actions.count("ticket.overdue") == 1 and actions.count("feedback.received") == 1
    assert actions[-3:] == ["feedback.received", "ticket.reopened", "ticket.due_changed"]
    assert COMMENT not in json.dumps(trail, ensure_ascii=False) and "需要协调" not in json.dumps(trail, ensure_ascii=False)
    # the public events (issue 19's outbox) hear of the overdue and of the verdict, without the citizen's words
    with sessions() as s:
        public = [(e.type, e.payload) for e in s.scalars(select(OutboxEvent).where(OutboxEvent.ticket_id == ticket_id)
                                                         .order_by(OutboxEvent.id))]
    assert [t for t, _ in public].count("ticket.overdue") == 1
    [(_, heard)] = [e for e in public if e[0] == "feedback.received"]
    assert (heard["detail"]["verdict"], heard["detail"]["solved"], heard["detail"]["reopened"]) == ("不满意", False, True)
    assert COMMENT not in json.dumps(public, ensure_ascii=False)

    # a feedback on an unresolved ticket has nothing to judge
    with pytest.raises(Conflict):
        record_feedback(sessions, new_ticket(sessions), Verdict("满意", True), "callback")
    with sessions() as s:
        figures = loop_analytics(s, LABELS, None, 12)
        hidden = loop_analytics(s, LABELS, {"environment"}, 12)
    urban = next(d for d in figures["by_department"] if d["key"] == "urban")["total"]
    assert urban == {"resolved": 1, "on_time_rate": 0.0, "median_hours": 383.0, "overdue": 1, "feedback": 1,
                     "satisfaction_rate": 0.0, "reopen_rate": 1.0}
    assert next(d for d in figures["by_domain"] if d["key"] == URBAN)["total"]["resolved"] == 1
    assert hidden["by_department"] == [] and hidden["by_domain"] == []


def test_emergencies_and_utilities_count_in_hours(sessions, clock):
    clock.set(beijing(2026, 12, 4, 17))
    urgent, utilities = new_ticket(sessions, urgent=True), new_ticket(sessions, appeal="求助", cues=["停水停电"])
    assert to_second(ticket_row(sessions, urgent)["due_at"]) == iso(beijing(2026, 12, 4, 19))
    assert to_second(ticket_row(sessions, utilities)["due_at"]) == iso(beijing(2026, 12, 5, 17))
    assert ticket_row(sessions, urgent)["due_soon"]
    # un-marking urgent falls back to the next rule, from the same start
    relabel(sessions, LABELS, urgent, Relabel(reason="不紧急", urgent=False), "wang", None)
    assert ticket_row(sessions, urgent)["due_at"] == iso(beijing(2026, 12, 23, 23, 59, 59))


# --- against a real server, on SQLite and PostgreSQL -----------------------------------------------------------------
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loop(request, tmp_path_factory, bentoml_home):
    """A server of this module's own whose clock the tests move, sweeping for overdue tickets every second; its
    users by role (tests/test_review_api.py's Api: admin, intake, urban, urban2, env) and its clock."""
    offset = tmp_path_factory.mktemp("clock") / "offset"
    pg_admin = request.getfixturevalue("pg_admin") if request.param == "postgresql" else None
    env = {"MINSHENG_CLOCK_OFFSET_FILE": str(offset), "MINSHENG_OVERDUE_SWEEP_SECONDS": "1"}
    with served(tmp_path_factory, bentoml_home, pg_admin, env) as server:
        api = Api(server)
        yield request.param, api, Clock(offset)
        api.client.close()
        api.engine.dispose()


def ok(api, who, method, path, status=200, **kwargs) -> dict:
    r = api(who, method, path, **kwargs)
    assert r.status_code == status, (who, path, r.text)
    return r.json()


def wait_for(check, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(1)
    raise AssertionError("not in time")


def test_the_loop_against_a_real_server(loop):
    _, api, clock = loop
    clock.set(beijing(2026, 9, 30, 10))
    assert api.submit()["due_at"] > iso(beijing(2026, 9, 30, 10))  # the intake answer carries the time limit
    ticket_id = api.ticket_in(URBAN)
    page = f"/api/tickets/{ticket_id}"

    def relabel_to(appeal):
        return ok(api, "admin", "POST", f"{page}/relabel", json={"appeal": appeal, "reason": "复核诉求类型"})

    # working days across National Day: 投诉 13 of them, 咨询 3 (the adjusted Saturday Oct 10 the third)
    assert relabel_to("投诉")["due_at"] == iso(beijing(2026, 10, 23, 23, 59, 59))
    assert relabel_to("咨询")["due_at"] == iso(beijing(2026, 10, 10, 23, 59, 59))
    changes = [e["detail"] for e in ok(api, "admin", "GET", page)["history"] if e["action"] == "ticket.due_changed"]
    assert changes[-1]["cause"] == "relabel" and (changes[-1]["from_rule"], changes[-1]["rule"]) == ("complaint", "consult")

    # an extension refused, then one approved
    extension = {"reason": "需协调供电公司更换线路", "due_at": "2026-10-15T18:00:00+08:00"}
    first = ok(api, "urban", "POST", f"{page}/extensions", json=extension)
    assert ok(api, "urban", "POST", f"{page}/extensions", status=409, json=extension)["error"]
    assert ok(api, "admin", "POST", f"{page}/extensions/{first['id']}/refuse", json={"note": "先行处置"})["status"] == "refused"
    assert ok(api, "urban", "GET", page)["due_at"] == iso(beijing(2026, 10, 10, 23, 59, 59))
    second = ok(api, "urban", "POST", f"{page}/extensions", json=extension)
    ok(api, "admin", "POST", f"{page}/extensions/{second['id']}/approve", json={})
    assert ok(api, "urban", "GET", page)["due_at"] == iso(beijing(2026, 10, 15, 18))

    # due within 24 hours, then past due: listed, counted, recorded once by the server's sweep
    clock.set(beijing(2026, 10, 15, 9))
    assert ticket_id in api.queue_ids("urban", "urban", due="soon")
    assert ticket_id not in api.queue_ids("urban", "urban", due="overdue")
    clock.set(beijing(2026, 10, 16, 9))
    assert ticket_id in api.queue_ids("urban", "urban", due="overdue", order="due")
    row = next(t for t in ok(api, "urban", "GET", "/api/queues/urban/tickets", params={"due": "overdue"})["tickets"]
               if t["id"] == ticket_id)
    assert (row["overdue"], row["due_soon"]) == (True, False)
    assert next(q for q in ok(api, "urban", "GET", "/api/queues")["queues"] if q["queue"] == "urban")["overdue"] >= 1
    wait_for(lambda: any(e["action"] == "ticket.overdue" for e in ok(api, "admin", "GET", page)["history"]))
    time.sleep(2)  # two more sweeps: still one event
    assert [e["action"] for e in ok(api, "admin", "GET", page)["history"]].count("ticket.overdue") == 1
    urban = next(d for d in ok(api, "admin", "GET", "/api/supervision")["departments"] if d["queue"] == "urban")
    assert next(t for t in urban["tickets"] if t["id"] == ticket_id)["overdue_hours"] == 15.0
    ok(api, "admin", "POST", f"{page}/supervise", json={"note": "请今日内答复群众"})
    assert [n["note"] for n in ok(api, "urban", "GET", page)["supervision"]] == ["请今日内答复群众"]

    # resolved; the citizen is not satisfied: reopened in its department, the comment shown, the clock restarted
    ok(api, "urban", "POST", f"{page}/claim")
    ok(api, "urban", "POST", f"{page}/resolve", json={"reply": "已更换路灯线路。"})
    verdict = {"verdict": "不满意", "solved": False, "comment": COMMENT, "feedback_id": "cb-0001"}
    answer = ok(api, "intake", "POST", f"{page}/feedback", status=201, json=verdict)
    assert (answer["created"], answer["ticket_status"], answer["feedback"]["reopened"]) == (True, "open", True)
    assert ok(api, "intake", "POST", f"{page}/feedback", json=verdict)["created"] is False  # the retried call
    assert ok(api, "intake", "POST", f"{page}/feedback", status=409, json={**verdict, "comment": "另一条"})["error"]
    ticket = ok(api, "urban", "GET", page)
    assert (ticket["status"], ticket["queue"], ticket["claimed_by"]) == ("open", "urban", None)
    assert [f["comment"] for f in ticket["feedback"]] == [normalize(COMMENT)]  # as the department reads it, masked
    assert [f["comment"] for f in ok(api, "admin", "GET", page)["feedback"]] == [COMMENT]
    assert ticket["due_at"] == iso(beijing(2026, 10, 21, 23, 59, 59))  # 3 working days from Fri Oct 16
    actions = [e["action"] for e in ticket["history"]]
    assert actions[-3:] == ["feedback.received", "ticket.reopened", "ticket.due_changed"]
    assert COMMENT not in json.dumps(ticket["history"], ensure_ascii=False)
    for bad in ({**verdict, "verdict": "一般"}, {"verdict": "满意"}, {**verdict, "solved": "yes"}):
        assert ok(api, "intake", "POST", f"{page}/feedback", status=422, json=bad)["problems"]

    figures = ok(api, "urban", "GET", "/api/analytics/closed-loop")
    urban = next(d for d in figures["by_department"] if d["key"] == "urban")["total"]
    assert (urban["resolved"], urban["on_time_rate"], urban["reopen_rate"], urban["satisfaction_rate"]) == (1, 0.0, 1.0, 0.0)
    assert urban["overdue"] >= 1
    assert {d["key"] for d in ok(api, "env", "GET", "/api/analytics/closed-loop")["by_department"]} <= {"environment"}


ROLES = ("nobody", "intake", "urban", "env", "admin")  # urban: the ticket's department; env: another one


def test_every_new_route_answers_each_role_as_its_department_allows(loop):
    _, api, clock = loop
    clock.set(datetime.now(UTC) + timedelta(days=1))

    def fresh(kind):
        ticket_id = api.ticket_in(URBAN)
        if kind == "pending":
            request = ok(api, "urban", "POST", f"/api/tickets/{ticket_id}/extensions",
                         json={"reason": "需要协调", "due_at": (datetime.now(UTC) + timedelta(days=60)).isoformat()})
            return f"{ticket_id}/extensions/{request['id']}"
        if kind == "resolved":
            ok(api, "admin", "POST", f"/api/tickets/{ticket_id}/resolve", json={"reply": "已处理。"})
        return str(ticket_id)

    later = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    routes = [  # method, path, body, target kind, roles allowed
        ("POST", "/api/tickets/{}/extensions", {"reason": "需要协调", "due_at": later}, "open", {"urban", "admin"}),
        ("POST", "/api/tickets/{}/approve", {}, "pending", {"admin"}),
        ("POST", "/api/tickets/{}/refuse", {"note": "不予延期"}, "pending", {"admin"}),
        ("POST", "/api/tickets/{}/supervise", {"note": "请加快办理"}, "open", {"admin"}),
        ("POST", "/api/tickets/{}/feedback", {"verdict": "满意", "solved": True}, "resolved", {"intake", "admin"}),
        ("GET", "/api/supervision", None, None, {"admin"}),
        ("GET", "/api/analytics/closed-loop", None, None, {"urban", "env", "admin"}),
        ("GET", "/api/queues/urban/tickets?due=overdue&order=due", None, None, {"urban", "admin"}),
        ("GET", "/api/tickets/{}", None, "open", {"urban", "admin"}),
    ]
    shared = {kind: fresh(kind) for kind in ("open", "pending", "resolved")}
    for method, path, body, kind, allowed in routes:
        for role in ROLES:
            target = fresh(kind) if kind and method == "POST" and role in allowed else shared.get(kind)
            ticket_id = target and target.split("/")[0]
            before = ticket_id and state(api, ticket_id)
            r = api(None if role == "nobody" else role, method, path.format(target), json=body)
            expected = 401 if role == "nobody" else 403 if role not in allowed else 201 if "feedback" in path else 200
            assert r.status_code == expected, (role, path, r.text)
            if expected >= 400:
                assert "error" in r.json()
                assert before == (ticket_id and state(api, ticket_id)), ("a refused call changed something", role, path)
            elif "closed-loop" in path and role == "env":
                assert {d["key"] for d in r.json()["by_department"]} <= {"environment"}
                assert URBAN not in {d["key"] for d in r.json()["by_domain"]}


def state(api, ticket_id) -> tuple:
    """What a refused call must leave as it was (the admin's own reads, audited, aside)."""
    t = ok(api, "admin", "GET", f"/api/tickets/{ticket_id}")
    changes = [e for e in t["history"] if e["action"] != "ticket.unmasked_read"]
    return t["status"], t["due_at"], len(t["extensions"]), len(t["supervision"]), len(t["feedback"]), len(changes)


def test_erasing_a_citizen_masks_the_loops_free_text(sessions, clock):
    from minsheng.store.privacy import erase_citizen

    clock.set(beijing(2026, 12, 1, 9))
    ticket_id = new_ticket(sessions)
    phone = "13912345678"
    request_extension(sessions, ticket_id, f"需联系{phone}核实", beijing(2026, 12, 30), "wang", None)
    supervise(sessions, ticket_id, f"请回电{phone}", "admin")
    resolve(sessions, LABELS, ticket_id, "已处理。", "wang", None)
    record_feedback(sessions, ticket_id, Verdict("不满意", False, f"打{phone}没人接"), "callback")
    erase_citizen(sessions, "dpo", ticket_ids=[ticket_id])
    with sessions() as s:
        loop = loop_detail(s, ticket_id)
    texts = [loop["extensions"][0]["reason"], loop["supervision"][0]["note"], loop["feedback"][0]["comment"]]
    assert all("[PHONE]" in t and phone not in t for t in texts), texts

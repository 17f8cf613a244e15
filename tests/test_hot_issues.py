"""Hot issues: grouping on submit (reposts form a group; different problems in the same street do not), the ranked
list per department and overall, a group's tickets, and one reply resolving a whole group with every ticket
recorded. Store-level tests run on SQLite and PostgreSQL with the shipped model's real vectors; the API tests
against the real server. No exact similarity is asserted: the shipped model can be replaced at any time."""
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from minsheng.assist.cases import ticket_input
from minsheng.assist.hot_issues import HotIssueIndex
from minsheng.core.labels import load_labels
from minsheng.core.nlp import find_pii
from minsheng.core.text import normalize
from minsheng.model.classifier import Classifier
from minsheng.model.registry import SHIPPED_MODEL
from minsheng.store import (
    Analysis,
    AuditEvent,
    Conflict,
    HotIssueTicket,
    HumanLabel,
    NewTicket,
    NotFound,
    NotVisible,
    Routing,
    Ticket,
    claim,
    create_ticket,
    reopen,
    resolve,
)
from minsheng.store.hot_issues import (
    hot_issue_detail,
    list_hot_issues,
    open_member_ids,
    resolve_hot_issue,
)
from minsheng.store.models import utcnow

LABELS = load_labels()
PHONE = "13912345678"
STREETLIGHT = ("A3区桂花路与枫林路交叉口的三盏路灯已经坏了一个多月，晚上一片漆黑，行人和电动车经过很危险，"
               "多次打12345反映一直没人来修，请相关部门尽快维修。")
REPOSTS = [  # the same complaint posted again: verbatim, copied under a title, a follow-up with a phone number
    (None, STREETLIGHT),
    ("桂花路路灯坏了一个多月没人修", STREETLIGHT),
    ("桂花路路灯坏了一个多月没人修（后续）",
     "再次反映：" + STREETLIGHT.replace("，", ",") + f"到现在还是没人管！联系电话{PHONE}"),
]
SAME_STREET = [  # other problems in the same street, at the same crossing even
    (None, "A3区桂花路与枫林路交叉口的红绿灯经常故障，早晚高峰车辆乱成一团，多次发生剐蹭，请交警部门尽快修复。"),
    (None, "A3区桂花路上的一家烧烤店每天晚上把桌椅摆到人行道上占道经营，油烟和噪音一直持续到凌晨两点，严重影响周边居民休息。"),
    (None, "A3区桂花路12号小区门口的垃圾站长期无人清运，垃圾堆积发臭，蚊蝇滋生，请环卫部门及时清理。"),
]
POLLUTION = [
    (None, "B2区河西工业园的造纸厂每天夜里往湘江支流偷排黑色污水，河面漂满死鱼，臭味熏天，请环保部门查处。"),
    ("造纸厂偷排污水", "B2区河西工业园的造纸厂每天夜里往湘江支流偷排黑色污水，河面漂满死鱼，臭味熏天，请环保部门查处。"),
    ("造纸厂偷排污水（后续）", "再次反映：B2区河西工业园的造纸厂每天夜里往湘江支流偷排黑色污水，河面漂满死鱼，臭味熏天，"
                               "至今没有处理，请环保部门查处。"),
]


@pytest.fixture(scope="module")
def clf():
    return Classifier.load(SHIPPED_MODEL)


def domain_of(queue):
    return next(d for d, r in LABELS.routes.items() if r.queue == queue)


def submit(sessions, index, clf, title, text, queue="urban"):
    """A ticket as /submit stores it, grouped as /submit groups it; returns (ticket, hot issue id)."""
    ticket = store(sessions, clf, title, text, queue)
    return ticket, group(index, clf, ticket)


def group(index, clf, ticket):
    return index.assign(ticket, clf.embed([ticket_input(ticket)])[0], clf.embedding)


def store(sessions, clf, title, text, queue="urban"):
    """A ticket as /submit stores it, before it is grouped."""
    route = LABELS.queues()[queue]
    pii = [{"type": p.type, "start": p.start, "end": p.end} for p in find_pii(normalize(text))]
    prediction = {"model_version": clf.version, "label_version": LABELS.version, "domain": domain_of(queue),
                  "domain_confidence": 0.9, "sentiment": "负面", "sentiment_confidence": 0.8, "appeal": "投诉",
                  "appeal_confidence": 0.7, "urgent": False, "urgent_confidence": 0.1, "scores": {}}
    ticket, _ = create_ticket(sessions, NewTicket(channel="web", text=text, title=title), prediction,
                              Routing(queue=queue, department=route.department), Analysis(pii=pii), actor="intake")
    return ticket


def test_reposts_form_one_group_and_other_problems_in_the_same_street_do_not(sessions, clf):
    index = HotIssueIndex(sessions)
    reposts = [submit(sessions, index, clf, title, text) for title, text in REPOSTS]
    others = [submit(sessions, index, clf, title, text) for title, text in SAME_STREET]
    issue = reposts[0][1]
    assert [i for _, i in reposts] == [issue] * 3
    assert len({i for _, i in others} | {issue}) == 4, "a different problem in the same street joined a group"
    with sessions() as s:
        members = {m.ticket_id: m for m in s.scalars(select(HotIssueTicket))}
    first, second, third = (t["id"] for t, _ in reposts)
    assert members[first].matched_ticket_id is None and members[first].similarity is None
    assert members[second].matched_ticket_id == first and members[second].similarity > 0.9
    assert members[third].matched_ticket_id in (first, second)
    assert "桂花路" in members[first].places and "路灯" in members[first].keywords
    assert PHONE not in str(members[third].keywords)

    with sessions() as s:
        [listed] = list_hot_issues(s, LABELS, None)  # groups of one ticket are not hot issues
    assert listed["id"] == issue and listed["title"] == normalize(REPOSTS[0][1])[:60]
    assert (listed["size"], listed["open"], listed["recent"], listed["heat"]) == (3, 3, 3, 6)
    assert listed["scope"] == {"queues": None, "tickets": 3, "open": 3}
    assert "桂花路" in listed["places"] and "路灯" in listed["keywords"]
    assert listed["departments"] == [{"queue": "urban", "department": LABELS.queues()["urban"].department,
                                      "tickets": 3}]
    assert listed["first_seen"] <= listed["last_seen"]

    # after a restart the open tickets are loaded from the store: a fourth repost still finds its group
    again = submit(sessions, HotIssueIndex(sessions), clf, None, STREETLIGHT)
    assert again[1] == issue


def test_list_per_department_and_overall_ranked_by_size_and_growth(sessions, clf):
    index = HotIssueIndex(sessions)
    light = [submit(sessions, index, clf, t, x, "urban") for t, x in REPOSTS[:2]]
    water = [submit(sessions, index, clf, t, x, "environment") for t, x in POLLUTION]
    light_id, water_id = light[0][1], water[0][1]
    assert {i for _, i in light} == {light_id} and {i for _, i in water} == {water_id} and light_id != water_id

    with sessions() as s:
        assert [i["id"] for i in list_hot_issues(s, LABELS, None)] == [water_id, light_id]  # 3 tickets before 2
        assert [i["id"] for i in list_hot_issues(s, LABELS, None, "urban")] == [light_id]
        [mine] = list_hot_issues(s, LABELS, {"urban"})
        assert (mine["id"], mine["scope"]) == (light_id, {"queues": ["urban"], "tickets": 2, "open": 2})
        assert list_hot_issues(s, LABELS, {"urban"}, min_size=3) == []
        with pytest.raises(NotVisible):
            list_hot_issues(s, LABELS, {"urban"}, "environment")
        with pytest.raises(NotFound):
            list_hot_issues(s, LABELS, None, "no-such-queue")
        with pytest.raises(NotVisible):
            hot_issue_detail(s, water_id, {"urban"})
        with pytest.raises(NotFound):
            hot_issue_detail(s, water_id + 1000, None)
    # growth: the same three tickets a month old rank below two of this week
    with sessions.begin() as s:
        s.execute(update(Ticket).where(Ticket.id.in_([t["id"] for t, _ in water]))
                  .values(created_at=utcnow() - timedelta(days=30)))
    with sessions() as s:
        ranked = list_hot_issues(s, LABELS, None)
    assert [i["id"] for i in ranked] == [light_id, water_id]
    assert [(i["open"], i["recent"], i["heat"]) for i in ranked] == [(2, 2, 4), (3, 0, 3)]

    # a repost routed to another department joins the group: that department sees the issue as its own ticket
    # makes it (title, counts, departments, rank), and how many tickets are elsewhere, nothing of them
    moved, issue = submit(sessions, index, clf, *REPOSTS[2], queue="environment")
    assert issue == light_id
    with sessions() as s:
        summary, tickets = hot_issue_detail(s, light_id, {"environment"})
        assert [t["id"] for t in tickets] == [moved["id"]]
        assert tickets[0]["matched_ticket_id"] is None and tickets[0]["similarity"] is None  # an urban ticket
        assert (summary["title"], summary["size"], summary["hidden"], summary["scope"]["tickets"]) == (
            normalize(REPOSTS[2][0]), 1, 2, 1)
        assert {d["queue"]: d["tickets"] for d in summary["departments"]} == {"environment": 1}
        # ranked by its own tickets: the issue with one open ticket of its own below the one with three
        assert [i["id"] for i in list_hot_issues(s, LABELS, {"environment"})] == [water_id, light_id]
        assert [(i["size"], i["hidden"]) for i in list_hot_issues(s, LABELS, None)] == [(3, 0), (3, 0)]


def test_resolving_a_group_records_every_ticket(sessions, clf):
    index = HotIssueIndex(sessions)
    tickets = [submit(sessions, index, clf, t, x)[0] for t, x in REPOSTS]
    issue = group(index, clf, tickets[0])  # already grouped
    taken = tickets[2]["id"]
    claim(sessions, taken, "official-b", {"urban"})
    reply = "经核查，桂花路与枫林路交叉口路灯线路老化，已于今日更换，恢复照明。"

    done = resolve_hot_issue(sessions, LABELS, issue, reply, "official-a", {"urban"})
    resolved = sorted(t["id"] for t in done["resolved"])
    assert resolved == sorted(t["id"] for t in tickets[:2])
    assert [s["ticket_id"] for s in done["skipped"]] == [taken] and "official-b" in done["skipped"][0]["reason"]
    with sessions() as s:
        for ticket_id in resolved:
            ticket = s.get(Ticket, ticket_id)
            assert (ticket.status, ticket.reply, ticket.claimed_by) == ("resolved", reply, "official-a")
            events = s.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket_id,
                                                        AuditEvent.action == "ticket.resolved")).all()
            assert [(e.actor, e.detail["reply_chars"]) for e in events] == [("official-a", len(reply))]
            labels = s.scalars(select(HumanLabel).where(HumanLabel.ticket_id == ticket_id)).all()
            assert labels == []  # one reply to many tickets confirms none of their labels
        assert s.get(Ticket, taken).status == "claimed"
        [group_event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "hot_issue.resolved")).all()
        assert group_event.detail == {"hot_issue": issue, "resolved": [t["id"] for t in done["resolved"]],
                                      "skipped": [taken], "reply_chars": len(reply)}
        assert group_event.actor == "official-a" and group_event.ticket_id is None
        assert [i["id"] for i in list_hot_issues(s, LABELS, None, min_size=1)] == [issue]  # one still open

    # the official who claimed the last one resolves the group: nothing is left open
    again = resolve_hot_issue(sessions, LABELS, issue, reply, "official-b", {"urban"})
    assert [t["id"] for t in again["resolved"]] == [taken] and again["skipped"] == []
    with pytest.raises(Conflict):
        resolve_hot_issue(sessions, LABELS, issue, reply, "official-b", {"urban"})
    with pytest.raises(NotVisible):
        resolve_hot_issue(sessions, LABELS, issue, reply, "official-c", {"environment"})
    with sessions() as s:
        assert list_hot_issues(s, LABELS, None, min_size=1) == []
    # a resolved issue is closed: the same complaint again starts a new one
    _, fresh = submit(sessions, index, clf, None, STREETLIGHT)
    assert fresh != issue


def test_the_index_holds_only_open_tickets_and_replicas_see_each_others_groups(sessions, clf):
    """Two indexes on one database are two replicas. Memory holds the open grouped tickets of the store, however
    they were resolved, grouped or reopened, and wherever."""
    one, two = HotIssueIndex(sessions), HotIssueIndex(sessions)

    def open_grouped():
        with sessions() as s:
            return len(open_member_ids(s, clf.embedding))

    light = [submit(sessions, one, clf, t, x) for t, x in REPOSTS[:2]]
    water = [submit(sessions, one, clf, t, x, "environment") for t, x in POLLUTION[:2]]
    # a repost submitted to the other replica joins the group formed on the first
    _, issue = submit(sessions, two, clf, *REPOSTS[2])
    assert issue == light[0][1] and {i for _, i in light} == {issue}
    assert len(one) == 4 and len(two) == 5

    # resolved tickets leave memory: one through the API's resolve, a group in bulk, both elsewhere
    resolve(sessions, LABELS, light[0][0]["id"], "已修复。", "admin", None)
    resolve_hot_issue(sessions, LABELS, water[0][1], "已查处。", "admin", None)
    submit(sessions, one, clf, *SAME_STREET[0])  # unrelated: no resolved ticket is even a candidate
    assert len(one) == open_grouped() == 3

    # a ticket grouped late on one replica (after later tickets were grouped on the other) is seen by the other
    garbage = store(sessions, clf, *SAME_STREET[2])
    submit(sessions, two, clf, *SAME_STREET[1])
    first = group(one, clf, garbage)
    assert submit(sessions, two, clf, *SAME_STREET[2])[1] == first

    # a reopened ticket is open again: a repost joins its group through it, and it counts in the bound
    resolve_hot_issue(sessions, LABELS, issue, "已修复。", "admin", None)  # the rest of the group
    reopen(sessions, light[0][0]["id"], "admin", None)
    assert submit(sessions, two, clf, None, STREETLIGHT)[1] == issue
    assert len(two) == open_grouped()


# --- against the real service ------------------------------------------------------------------------------------
def issue_of(api, ticket_id):
    r = api("admin", "GET", f"/api/tickets/{ticket_id}/hot-issue")
    assert r.status_code == 200, r.text
    return r.json()["hot_issue"]


def test_submit_groups_reposts_and_a_group_reply_resolves_them_all(api):
    submitted = [api("intake", "POST", "/submit", json={"channel": "web", "text": text, **({"title": title} if title else {})})
                 for title, text in REPOSTS + SAME_STREET[:1]]
    assert all(r.status_code == 201 for r in submitted), [r.text for r in submitted]
    ids = [r.json()["ticket_id"] for r in submitted]
    reposts, other = ids[:3], ids[3]
    issues = [issue_of(api, i) for i in ids]
    issue = issues[0]["id"]
    assert [i["id"] for i in issues[:3]] == [issue] * 3
    assert issues[3] is None or issues[3]["id"] != issue
    listed = api("admin", "GET", "/api/hot-issues", params={"limit": 100}).json()["hot_issues"]
    assert issue in [i["id"] for i in listed]

    detail = api("admin", "GET", f"/api/hot-issues/{issue}").json()
    assert set(reposts) <= {t["id"] for t in detail["tickets"]} and other not in {t["id"] for t in detail["tickets"]}
    queues = {t["queue"] for t in detail["tickets"]}
    outsider = api.server.token("official", [q for q in LABELS.queues() if q not in queues][:1])
    insider = api.server.token("official", sorted(queues))
    assert api(outsider, "GET", f"/api/hot-issues/{issue}").status_code == 403
    seen = api(insider, "GET", f"/api/hot-issues/{issue}")
    assert seen.status_code == 200
    excerpts = {t["id"]: t["excerpt"] for t in seen.json()["tickets"]}
    assert PHONE not in excerpts[reposts[2]] and "[PHONE]" in excerpts[reposts[2]]  # as in the queue listing
    assert api(None, "GET", "/api/hot-issues").status_code == 401
    assert api("intake", "GET", "/api/hot-issues").status_code == 403
    assert api("admin", "GET", "/api/hot-issues/99999999").status_code == 404
    assert api("admin", "POST", f"/api/hot-issues/{issue}/resolve", json={"reply": ""}).status_code == 422
    assert api(outsider, "POST", f"/api/hot-issues/{issue}/resolve", json={"reply": "x"}).status_code == 403

    reply = "路灯已于今日修复，感谢您的监督。"
    r = api(insider, "POST", f"/api/hot-issues/{issue}/resolve", json={"reply": reply})
    assert r.status_code == 200, r.text
    assert set(reposts) <= set(r.json()["resolved"]) and r.json()["skipped"] == []
    for ticket_id in reposts:
        ticket = api("admin", "GET", f"/api/tickets/{ticket_id}").json()
        assert (ticket["status"], ticket["reply"]) == ("resolved", reply)
        assert [e["action"] for e in ticket["history"]].count("ticket.resolved") == 1
        assert ticket["human_labels"] == []
    assert api(insider, "POST", f"/api/hot-issues/{issue}/resolve", json={"reply": reply}).status_code == 409
    assert issue not in [i["id"] for i in api("admin", "GET", "/api/hot-issues", params={"limit": 100}).json()["hot_issues"]]

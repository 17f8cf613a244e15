"""Department isolation on every /api route, for every role, against the real service on SQLite and PostgreSQL:
the status codes, that a refused call changed nothing, and the content of the answers drawn from many tickets
(similar cases, hot issues): nothing of another department's tickets (ids, text, replies, titles, places,
keywords) reaches an official; of hot issues, only how many tickets are elsewhere.

The tickets under test are in `labor` (人力资源和社会保障局): "own" is a labor official, "other" an urban
(住房和城乡建设局) official. The messages name districts no other test module uses (C5县, F8县, ...), so the hot
issues formed here stay this module's own on a server shared with other modules."""
import json
import uuid

import pytest
from sqlalchemy import select

from minsheng.core.labels import load_labels
from minsheng.core.text import normalize
from minsheng.store import HotIssueTicket, Ticket, create_user, session_factory
from tests.conftest import served
from tests.test_review_api import Api

LABELS = load_labels()
LABOUR, URBAN = "劳动和社会保障", "城乡建设"
ROLES = ("nobody", "intake", "own", "other", "admin")
QUEUES = {"own": {"labor"}, "other": {"urban"}, "admin": None}  # what each reviewer may read (None: all)
FRESH_DISTRICTS = ("E7县", "H2县", "J4县", "K6县", "M3县", "N5县", "P2县", "Q4县")  # one new hot issue each


def wages(district: str, extra: str = "") -> str:
    return (f"{district}金桥工业园宏盛电子厂拖欠我们六十多名工人三个月工资，老板一直拖着不发，多次讨要无果，"
            f"请劳动监察部门帮我们讨回血汗钱。{extra}")


INSURANCE = "G9县华兴物流公司入职两年一直不给我们缴纳社会保险，社保一分没交，问了就说再等等，请社保部门查处。"


class World:
    """The server's users by role and the labor tickets and hot issues the routes are called on."""

    def __init__(self, server):
        self.api = Api(server)
        self.sessions = session_factory(self.api.engine)
        self.own_name = f"labor-{uuid.uuid4().hex[:8]}"  # an assign target: the labor official
        _, own = create_user(self.sessions, LABELS, self.own_name, "official", ["labor"])
        self.api.tokens.update(own=own, other=self.api.tokens["urban"])
        self.districts = iter(FRESH_DISTRICTS)

    def __call__(self, role, method, path, **kwargs):
        return self.api(None if role == "nobody" else role, method, path, **kwargs)

    def ok(self, role, method, path, **kwargs) -> dict:
        r = self(role, method, path, **kwargs)
        assert r.status_code == 200, (role, path, r.text)
        return r.json()

    def submit(self, text, title=None) -> int:
        body = {"text": text, "channel": "web", **({"title": title} if title else {})}
        r = self("intake", "POST", "/submit", json=body)
        assert r.status_code == 201, r.text
        return r.json()["ticket_id"]

    def labor_ticket(self, text=INSURANCE, title=None) -> int:
        """A new ticket in the labor queue (relabeled there by the admin where the model routed it elsewhere)."""
        ticket_id = self.submit(text, title)
        if self.ok("admin", "GET", f"/api/tickets/{ticket_id}")["queue"] != "labor":
            self.ok("admin", "POST", f"/api/tickets/{ticket_id}/relabel", json={"domain": LABOUR, "reason": "测试分拨"})
        return ticket_id

    def resolved_ticket(self) -> int:
        ticket_id = self.labor_ticket()
        self.ok("admin", "POST", f"/api/tickets/{ticket_id}/resolve", json={"reply": "已责令公司补缴社保。"})
        return ticket_id

    def claimed_ticket(self) -> int:
        """A new labor ticket claimed by the labor official."""
        ticket_id = self.labor_ticket()
        self.ok("own", "POST", f"/api/tickets/{ticket_id}/claim")
        return ticket_id

    def labor_issue(self) -> int:
        """A new hot issue of two open labor tickets (a message and its repost, in a district of its own)."""
        text = wages(next(self.districts))
        first, repost = self.labor_ticket(text), self.labor_ticket(text)
        issue = self.issue_of(first)
        assert issue is not None and self.issue_of(repost) == issue, "the repost did not join the message's hot issue"
        return issue

    def issue_of(self, ticket_id) -> int | None:
        found = self.ok("admin", "GET", f"/api/tickets/{ticket_id}/hot-issue")["hot_issue"]
        return found and found["id"]

    def state(self, ticket_id) -> tuple:
        """What a refused call must leave as it was (the admin's own reads, audited, aside)."""
        t = self.ok("admin", "GET", f"/api/tickets/{ticket_id}")
        changes = [e for e in t["history"] if e["action"] != "ticket.unmasked_read"]
        return t["status"], t["queue"], t["claimed_by"], t["reply"], t["sentiment"], len(changes)

    def tickets_of(self, target, target_id) -> list[int]:
        """The tickets a call on a target would change: the ticket, or every ticket of the hot issue."""
        return [m.ticket_id for m, _ in self.members(target_id)] if target == "issue" else [target_id]

    def queue_of(self, ticket_ids) -> dict[int, str]:
        with self.sessions() as s:
            return dict(s.execute(select(Ticket.id, Ticket.queue).where(Ticket.id.in_(list(ticket_ids)))).all())

    def members(self, issue_id) -> list[tuple[HotIssueTicket, str]]:
        """The issue's member rows (their places and keywords) with each ticket's queue."""
        with self.sessions() as s:
            return list(s.execute(select(HotIssueTicket, Ticket.queue)
                                  .join(Ticket, Ticket.id == HotIssueTicket.ticket_id)
                                  .where(HotIssueTicket.issue_id == issue_id)).all())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory, bentoml_home):
    """A server of this module's own: the many tickets made here would crowd the shared servers' queues."""
    pg_admin = request.getfixturevalue("pg_admin") if request.param == "postgresql" else None
    with served(tmp_path_factory, bentoml_home, pg_admin) as server:
        yield from _world(server)


def _world(server):
    world = World(server)
    world.api.server.build_case_base(20)  # public cases (data/cases): any official may read them
    world.shared = {"ticket": world.labor_ticket(), "resolved": world.resolved_ticket(), "issue": world.labor_issue(),
                    "claimed": world.claimed_ticket()}
    yield world
    world.api.client.close()
    world.api.engine.dispose()


# --- what an answer may contain ---------------------------------------------------------------------------------
def readable(world, role, ticket_ids) -> bool:
    queues = QUEUES[role]
    return queues is None or set(world.queue_of(ticket_ids).values()) <= queues


def check_cases(world, role, answer):
    """Similar cases: the public case base and the tickets the caller may read, nothing else."""
    tickets = [c["ticket_id"] for c in answer["cases"] if c["source"] == "ticket"]
    assert all((c["source"] == "ticket") == (c["ticket_id"] is not None) for c in answer["cases"])
    assert readable(world, role, tickets), (role, world.queue_of(tickets))


def check_issue(world, role, summary):
    """A hot issue as `role` sees it: counts, departments, places and keywords of its readable tickets only; the
    others are a number (`hidden`)."""
    queues = QUEUES[role]
    members = world.members(summary["id"])
    mine = [m for m, q in members if queues is None or q in queues]
    assert mine, f"{role} is shown hot issue {summary['id']}, none of whose tickets it may read"
    assert (summary["size"], summary["hidden"]) == (len(mine), len(members) - len(mine)), summary
    assert summary["open"] <= summary["size"] and summary["recent"] <= summary["size"]
    assert queues is None or {d["queue"] for d in summary["departments"]} <= queues, summary["departments"]
    assert set(summary["places"]) <= {p for m in mine for p in m.places}, summary["places"]
    assert set(summary["keywords"]) <= {k for m in mine for k in m.keywords}, summary["keywords"]
    for ticket in summary.get("tickets", []):
        shown = [ticket["id"]] + ([ticket["matched_ticket_id"]] if ticket["matched_ticket_id"] else [])
        assert readable(world, role, shown), (role, ticket)


def check_content(world, role, path, answer):
    if path.endswith("/similar"):
        check_cases(world, role, answer)
    elif path.endswith("/hot-issue"):
        answer["hot_issue"] is None or check_issue(world, role, answer["hot_issue"])
    elif "/api/hot-issues" in path and "hot_issues" in answer:
        for summary in answer["hot_issues"]:
            check_issue(world, role, summary)
    elif "/api/hot-issues/" in path and "departments" in answer:
        check_issue(world, role, answer)
    elif path == "/api/queues":
        queues = QUEUES[role]
        assert queues is None or {q["queue"] for q in answer["queues"]} == queues
    elif path == "/api/analytics" and role == "other":
        assert LABOUR not in {d["domain"] for d in answer["tickets_per_week"]}


# --- every route x every role ------------------------------------------------------------------------------------
REVIEWERS, LABOR_READERS = {"own", "other", "admin"}, {"own", "admin"}
ROUTES = [  # method, path ({ticket}: an open labor ticket, {resolved}: a resolved one, {issue}: a labor hot issue,
    # {claimed}: a labor ticket the labor official claimed), body, who may; a POST on a target changes it: the roles
    # that may get a fresh target each
    ("POST", "/classify", {"messages": [{"text": INSURANCE}]}, {"intake", "admin"}),
    ("POST", "/submit", {"text": INSURANCE, "channel": "web"}, {"intake", "admin"}),
    ("GET", "/api/me", None, {"intake", *REVIEWERS}),
    ("GET", "/api/labels", None, REVIEWERS),
    ("GET", "/api/queues", None, REVIEWERS),
    ("GET", "/api/queues/labor/tickets", None, LABOR_READERS),
    ("GET", "/api/analytics", None, REVIEWERS),
    ("GET", "/api/tickets/{ticket}", None, LABOR_READERS),
    ("GET", "/api/tickets/{ticket}/similar", None, LABOR_READERS),
    ("GET", "/api/tickets/{ticket}/hot-issue", None, LABOR_READERS),
    ("POST", "/api/tickets/{ticket}/claim", None, LABOR_READERS),
    ("POST", "/api/tickets/{ticket}/relabel", {"sentiment": "中性", "reason": "复核"}, LABOR_READERS),
    ("POST", "/api/tickets/{ticket}/resolve", {"reply": "已处理。"}, LABOR_READERS),
    ("POST", "/api/tickets/{resolved}/reopen", None, LABOR_READERS),
    ("POST", "/api/tickets/{ticket}/confirm", {"tasks": ["sentiment", "appeal"]}, LABOR_READERS),
    ("POST", "/api/tickets/{claimed}/unclaim", None, LABOR_READERS),
    ("POST", "/api/tickets/{claimed}/assign", {"to": "{own_name}"}, {"admin"}),
    ("GET", "/api/hot-issues?limit=100&min_size=1", None, REVIEWERS),
    ("GET", "/api/hot-issues?queue=labor&limit=100", None, LABOR_READERS),
    ("GET", "/api/hot-issues/{issue}", None, LABOR_READERS),
    ("POST", "/api/hot-issues/{issue}/resolve", {"reply": "已责令企业补发工资。"}, LABOR_READERS),
    ("POST", "/api/admin/reload", None, {"admin"}),
    ("POST", "/api/tickets/{ticket}/reply-check", {"reply": "经核实，已责令企业补发工资。"}, LABOR_READERS),
    ("GET", "/api/admin/webhooks", None, {"admin"}),
    ("POST", "/api/admin/webhooks", {"name": "crm", "url": "http://127.0.0.1:9/hook"}, {"admin"}),
]
FRESH = {"ticket": World.labor_ticket, "resolved": World.resolved_ticket, "issue": World.labor_issue,
         "claimed": World.claimed_ticket}


def expected_status(role, path, allowed) -> int:
    if role == "nobody":
        return 401
    if role not in allowed:
        return 403
    return 201 if path == "/submit" else 200


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("method,path,body,allowed", ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_every_route_answers_each_role_as_its_department_allows(world, method, path, body, allowed, role):
    target = next((name for name in FRESH if "{" + name + "}" in path), None)
    changes = method == "POST" and target is not None
    ids = dict(world.shared)
    if changes and role in allowed:
        ids[target] = FRESH[target](world)
    touched = world.tickets_of(target, ids[target]) if changes else []
    before = [world.state(t) for t in touched]
    if body and "to" in body:
        body = {**body, "to": body["to"].format(own_name=world.own_name)}
    r = world(role, method, path.format(**ids), json=body)
    expected = expected_status(role, path, allowed)
    assert r.status_code == expected, (role, r.text)
    if expected >= 400:
        assert "error" in r.json()
        assert [world.state(t) for t in touched] == before, "a refused call changed something"
    elif expected == 200:
        check_content(world, role, path, r.json())


# --- the issue's reproduction: similar cases ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def wage_cases(world):
    """A wage-arrears message in labor, claimed and resolved by the labor official with a reply, and eight more
    like it (more than a search's first 3k+5 hits for k=1); then a near-identical message, relabeled to 城乡建设 by
    the labor official: it moves to urban. Returns (the labor tickets, the moved one, the replies' marker)."""
    marker = uuid.uuid4().hex[:8]
    labor = [world.labor_ticket(wages("F8县")) for _ in range(9)]
    world.ok("own", "POST", f"/api/tickets/{labor[0]}/claim")
    for i, ticket_id in enumerate(labor):
        reply = f"经劳动保障监察大队调查，已责令宏盛电子厂补发工资（{marker}-{i}）。"
        world.ok("own", "POST", f"/api/tickets/{ticket_id}/resolve", json={"reply": reply})
    moved = world.labor_ticket(wages("F8县", "希望尽快处理。"))
    relabeled = world.ok("own", "POST", f"/api/tickets/{moved}/relabel", json={"domain": URBAN, "reason": "属住建"})
    assert relabeled["queue"] == "urban"
    return labor, moved, marker


def similar(world, role, ticket_id, k) -> dict:
    return world.ok(role, "GET", f"/api/tickets/{ticket_id}/similar", params={"k": k})


def test_similar_cases_never_come_from_another_departments_tickets(world, wage_cases):
    labor, moved, marker = wage_cases
    # the labor cases are the nearest (the admin sees them): showing them to urban would be the leak
    assert similar(world, "admin", moved, 5)["cases"][0]["ticket_id"] in labor
    urban = similar(world, "other", moved, 5)
    check_cases(world, "other", urban)
    assert not set(labor) & {c["ticket_id"] for c in urban["cases"]}
    assert marker not in json.dumps(urban, ensure_ascii=False)
    assert "replies" in {c["source"] for c in urban["cases"]}  # the public case base still serves every department
    # filtered before the top k: k cases still come back, though the 3k+5 nearest are all labor's
    assert len(urban["cases"]) == 5 and len(similar(world, "other", moved, 1)["cases"]) == 1
    # the labor official reads its own department's cases
    own = similar(world, "own", labor[0], 5)
    check_cases(world, "own", own)
    assert set(labor[1:]) & {c["ticket_id"] for c in own["cases"]}


# --- hot issues ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mixed_issue(world):
    """A hot issue of three reposts: the first (under a title: the issue's title) and the second in labor, the third
    relabeled to 城乡建设 by the labor official, so in urban. Returns (issue, the labor tickets, the urban one)."""
    labor = [world.labor_ticket(wages("C5县"), title="宏盛电子厂欠薪"), world.labor_ticket(wages("C5县"))]
    moved = world.labor_ticket(wages("C5县"))
    world.ok("own", "POST", f"/api/tickets/{moved}/relabel", json={"domain": URBAN, "reason": "属住建"})
    issue = world.issue_of(labor[0])
    assert [world.issue_of(t) for t in (labor[1], moved)] == [issue, issue], "the reposts were not grouped"
    return issue, labor, moved


def test_hot_issue_answers_are_built_from_the_callers_tickets_only(world, mixed_issue):
    issue, labor, moved = mixed_issue
    seen = {}
    for role, ticket_id, queue in (("own", labor[0], "labor"), ("other", moved, "urban"), ("admin", moved, "urban")):
        listed = world.ok(role, "GET", "/api/hot-issues", params={"queue": queue, "limit": 100})["hot_issues"]
        seen[role] = [world.ok(role, "GET", f"/api/hot-issues/{issue}"),
                      world.ok(role, "GET", f"/api/tickets/{ticket_id}/hot-issue")["hot_issue"],
                      next(i for i in listed if i["id"] == issue)]
        for summary in seen[role]:
            check_issue(world, role, summary)
    title = "宏盛电子厂欠薪"
    assert {(s["title"], s["size"], s["hidden"]) for s in seen["admin"]} == {(title, 3, 0)}
    assert {(s["title"], s["size"], s["hidden"]) for s in seen["own"]} == {(title, 2, 1)}
    # urban never learns the labor tickets' title, words or ids: its title is made from its own ticket
    assert {(s["title"], s["size"], s["hidden"]) for s in seen["other"]} == {(normalize(wages("C5县"))[:60], 1, 2)}
    assert [t["id"] for t in seen["other"][0]["tickets"]] == [moved]
    assert sorted(t["id"] for t in seen["own"][0]["tickets"]) == labor
    assert {d["queue"] for s in seen["other"] for d in s["departments"]} == {"urban"}
    labor_words = {k for m, q in world.members(issue) if q == "labor" for k in m.keywords}
    urban_words = {k for m, q in world.members(issue) if q == "urban" for k in m.keywords}
    assert "欠薪" in labor_words - urban_words
    assert not any((labor_words - urban_words) & set(s["keywords"]) for s in seen["other"])


def test_ticket_page_links_the_hot_issue_as_the_caller_sees_it(world, mixed_issue, signed_in):
    """The urban official's ticket page (headless Chromium): the hot issue under its own ticket's title, counted
    with the tickets elsewhere, though none of them is its own but this one."""
    issue, _, moved = mixed_issue
    page, errors = signed_in(world.api.server.url, world.api.tokens["other"])
    page.wait_for_selector(".queue-card")
    page.goto(f"{world.api.server.url}/ui/#/ticket/{moved}")
    page.wait_for_selector("#ticket-hot-issue a")
    link = page.inner_text("#ticket-hot-issue")
    assert f"#{issue} {normalize(wages('C5县'))[:60]}" in link and "共 3 件" in link and "欠薪" not in link
    assert errors == []


def test_resolving_a_hot_issue_touches_only_the_callers_tickets(world, mixed_issue):
    issue, labor, moved = mixed_issue
    done = world.ok("other", "POST", f"/api/hot-issues/{issue}/resolve", json={"reply": "住建局已督促整改。"})
    assert (done["resolved"], done["skipped"]) == ([moved], [])
    assert [world.state(t)[0] for t in labor] == ["open", "open"]
    done = world.ok("own", "POST", f"/api/hot-issues/{issue}/resolve", json={"reply": "已责令企业补发工资。"})
    assert sorted(done["resolved"]) == labor
    assert world.ok("admin", "GET", f"/api/tickets/{moved}")["reply"] == "住建局已督促整改。"

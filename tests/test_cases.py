"""Similar past cases: the case base in the store (SQLite and PostgreSQL) built and kept current with the shipped
model's real vectors, the in-memory index, and GET /api/tickets/{id}/similar against the real server.

The shipped model may be replaced by a better one at any time: no exact similarity is asserted, only what any
sensible encoder gives (an obvious message's nearest cases share its domain; a ticket's own repost is nearer
than unrelated cases)."""
import csv
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, func, select, update

from minsheng.assist.cases import (
    MIN_CAPACITY,
    CaseIndex,
    VectorMatrix,
    add_resolved_tickets,
    build_case_base,
)
from minsheng.core.labels import load_labels
from minsheng.core.nlp import get_analyzer
from minsheng.model.classifier import Classifier
from minsheng.model.registry import SHIPPED_MODEL
from minsheng.store import (
    Analysis,
    CaseEntry,
    NewTicket,
    Routing,
    Ticket,
    create_ticket,
    reopen,
    resolve,
)
from minsheng.store.cases import case_count
from tests.serving import ROOT

LABELS = load_labels()
PHONE = "13912345678"
WAGES = "公司拖欠我们三个月工资，老板一直拖着不发，多次讨要无果，请劳动监察部门帮我们讨回工资。"
SCHOOL = "孩子所在的小学要求每个学生交两千元赞助费才能入学，这是不是乱收费？请教育局查处。"
POLLUTION = "小区旁边的化工厂每天晚上偷偷排放废气，气味刺鼻，河里的鱼也死了，请环保部门查处污染。"
LABOUR, EDUCATION, ENVIRONMENT = "劳动和社会保障", "教育文体", "环境保护"


@pytest.fixture(scope="module")
def clf():
    return Classifier.load(SHIPPED_MODEL)


def embedder(clf):
    return lambda texts: (clf.embedding, clf.embed(texts))


def prediction(domain="城乡建设"):
    return {"model_version": "m-test", "label_version": LABELS.version, "domain": domain, "domain_confidence": 0.9,
            "sentiment": "负面", "sentiment_confidence": 0.8, "appeal": "投诉", "appeal_confidence": 0.7,
            "urgent": False, "urgent_confidence": 0.1, "scores": {}}


def new_ticket(sessions, text, title=None, domain="城乡建设"):
    route = LABELS.routes[domain]
    analysis = get_analyzer().analyze(text)
    ticket, _ = create_ticket(
        sessions, NewTicket(channel="web", text=text, title=title), prediction(domain),
        Routing(queue=route.queue, department=route.department),
        Analysis(keywords=analysis.keywords, places=analysis.places,
                 pii=[{"type": p.type, "start": p.start, "end": p.end} for p in analysis.pii]),
        actor="intake")
    return ticket


def replies_csv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "user", "title", "text", "time", "reply", "reply_time"])
        for case_id, title, text, reply in rows:
            writer.writerow([case_id, "A000001", title, text, "2019/4/25 9:32:09", reply, "2019/5/10 14:56:53"])
    return path


CASES = [
    ("C-1", "拖欠工资", "某公司拖欠员工四个月工资不发，老板避而不见，请求帮助讨薪。", "已责成劳动保障监察大队约谈企业，工资已于5月补发。"),
    ("C-2", "学校收费", "学校要求学生统一购买教辅资料并收取补课费，家长负担很重。电话" + PHONE, "经教育局调查，已责令学校退还补课费。"),
    ("C-3", "化工厂污染", "工业园化工厂夜间排放刺鼻废气，周边居民无法开窗。", "环保局已对该企业立案查处并责令停产整改。"),
    ("C-4", "", "小区门口路灯坏了一个月没人修，晚上很黑。", "已安排路灯所维修，现已恢复照明。"),
]


# --- store level (SQLite and PostgreSQL) -----------------------------------------------------------------------
def test_build_is_idempotent_masks_pii_and_reembeds_for_another_model(sessions, clf, tmp_path):
    path = replies_csv(tmp_path / "replies.csv", CASES)
    counts = build_case_base(sessions, clf, LABELS, path, progress=False)
    assert (counts["cases"], counts["embedded"], counts["unchanged"]) == (4, 4, 0)
    with sessions() as s:
        rows = {c.source_id: c for c in s.scalars(select(CaseEntry))}
    assert set(rows) == {"C-1", "C-2", "C-3", "C-4"}
    assert PHONE not in rows["C-2"].text and "[PHONE]" in rows["C-2"].text
    for row in rows.values():
        assert row.source == "replies" and row.model_version == clf.embedding and row.ticket_id is None
        assert row.domain in LABELS.domains and 0 < row.domain_confidence <= 1
        assert (row.queue, row.department) == (LABELS.routes[row.domain].queue, LABELS.routes[row.domain].department)
        vector = np.frombuffer(row.vector, dtype=np.float32)
        assert vector.shape == (clf.embed(["x"]).shape[1],) and abs(np.linalg.norm(vector) - 1) < 1e-4
        assert row.answered_at is not None and row.answered_at.tzinfo is not None
    assert rows["C-4"].title is None

    again = build_case_base(sessions, clf, LABELS, path, progress=False)
    assert (again["embedded"], again["unchanged"]) == (0, 4)
    with sessions.begin() as s:  # as if built by another model: rebuilt, not duplicated
        s.execute(update(CaseEntry).where(CaseEntry.source_id == "C-3").values(model_version="old"))
    third = build_case_base(sessions, clf, LABELS, path, progress=False)
    assert third["embedded"] == 1
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(CaseEntry)) == 4
        assert case_count(s, clf.embedding) == 4


def test_index_finds_the_matching_case_and_follows_the_store(sessions, clf, tmp_path):
    build_case_base(sessions, clf, LABELS, replies_csv(tmp_path / "r.csv", CASES), progress=False)
    index = CaseIndex(sessions)
    query = clf.embed(["老板拖欠工资好几个月了，一直不发，我们怎么讨薪？"])[0]
    hits = index.search(query, clf.embedding, 4)
    with sessions() as s:
        by_id = {c.id: c.source_id for c in s.scalars(select(CaseEntry))}
    assert [by_id[i] for i, _ in hits][0] == "C-1"
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert CaseIndex(sessions).search(query, "another-model", 4) == []  # vectors of two models are not compared

    # a resolved ticket joins at once (in memory and in the store); resolving it again replaces its reply
    ticket = new_ticket(sessions, "单位拖欠我两个月工资，老板说没钱发，电话" + PHONE, domain=LABOUR)
    resolved = resolve(sessions, LABELS, ticket["id"], "已联系用人单位，工资已全部结清。", "admin", None)
    [case_id] = add_resolved_tickets(sessions, [resolved], embedder(clf), index)
    assert len(index) == 5 and case_id in [i for i, _ in index.search(query, clf.embedding, 2)]
    with sessions() as s:
        case = s.get(CaseEntry, case_id)
        assert (case.source, case.ticket_id, case.domain, case.domain_confidence) == ("ticket", ticket["id"], LABOUR, None)
        assert PHONE not in case.text and case.reply == "已联系用人单位，工资已全部结清。"
    assert add_resolved_tickets(sessions, [{**resolved, "reply": "补充答复：已结清。"}], embedder(clf), index) == [case_id]
    with sessions() as s:
        assert s.get(CaseEntry, case_id).reply == "补充答复：已结清。"
    assert len(index) == 5

    # rows written by another process (e.g. `minsheng cases build` for the model) are picked up by the next search
    other = CaseIndex(sessions)
    other.search(query, clf.embedding, 1)
    build_case_base(sessions, clf, LABELS, replies_csv(tmp_path / "more.csv", [("C-9", "", POLLUTION, "已查处。")]),
                    progress=False)
    assert len(other.search(query, clf.embedding, 10)) == 6
    # the ticket's case goes with the ticket
    with sessions.begin() as s:
        s.execute(delete(Ticket).where(Ticket.id == ticket["id"]))
    with sessions() as s:
        assert s.get(CaseEntry, case_id) is None
    assert len(CaseIndex(sessions).search(query, clf.embedding, 10)) == 5


def test_a_ticket_resolved_reopened_and_resolved_again_on_two_replicas_is_one_case(sessions, clf, tmp_path):
    build_case_base(sessions, clf, LABELS, replies_csv(tmp_path / "r.csv", CASES[:2]), progress=False)
    one, two = CaseIndex(sessions), CaseIndex(sessions)  # two replicas on one database
    query = clf.embed([WAGES])[0]
    ticket = new_ticket(sessions, WAGES, domain=LABOUR)
    first = resolve(sessions, LABELS, ticket["id"], "已约谈企业。", "admin", None)
    [case_id] = add_resolved_tickets(sessions, [first], embedder(clf), one)
    reopen(sessions, ticket["id"], "admin", None)
    again = resolve(sessions, LABELS, ticket["id"], "工资已补发。", "admin", None)
    assert add_resolved_tickets(sessions, [again], embedder(clf), two) == [case_id]
    for index in (one, two):
        hits = index.search(query, clf.embedding, 10)
        assert [i for i, _ in hits].count(case_id) == 1 and len(hits) == len(index) == 3
    with sessions() as s:
        assert case_count(s, clf.embedding) == 3 and s.get(CaseEntry, case_id).reply == "工资已补发。"


def test_vector_matrix_keeps_ids_and_rows_together_and_its_capacity_bounded():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5000, 8)).astype(np.float32)
    matrix = VectorMatrix("e", 8)
    matrix.append(list(range(5000)), vectors)
    assert len(matrix) == 5000 and matrix.capacity < 4 * 5000
    gone = set(range(0, 5000, 3)) | set(range(4000, 5000))
    matrix.remove(gone)
    assert sorted(matrix.ids) == [i for i in range(5000) if i not in gone]
    assert np.array_equal(matrix.matrix, vectors[matrix.ids])  # each id keeps its own vector
    matrix.remove(set(range(5000)))
    assert len(matrix) == 0 and matrix.capacity == MIN_CAPACITY
    matrix.append([7], vectors[:1])
    assert matrix.search(vectors[0], 1) == [(7, pytest.approx(float(vectors[0] @ vectors[0])))]


# --- against the real service ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(server):
    from tests.test_review_api import Api

    api = Api(server)
    # the case base of the server's database, built by the CLI with the model the server runs
    info = api("admin", "GET", "/info").json()
    version = info["model_version"]
    env = dict(server.env)
    done = subprocess.run([sys.executable, "-m", "minsheng.cli", "cases", "build", "--limit", "400",
                           "--model", f"minsheng-classifier:{version}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"case base for model {version} ({info['quantize']}): 400 cases" in done.stdout
    yield api
    api.client.close()
    api.engine.dispose()


def similar(api, who, ticket_id, k=5):
    r = api(who, "GET", f"/api/tickets/{ticket_id}/similar", params={"k": k})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("text,domain", [(WAGES, LABOUR), (SCHOOL, EDUCATION)])
def test_similar_cases_of_an_obvious_message_share_its_domain(api, text, domain):
    ticket_id = api.submit(text)["ticket_id"]
    found = similar(api, "admin", ticket_id)
    assert found["case_base_size"] >= 400
    cases = found["cases"]
    assert len(cases) == 5
    assert [c["similarity"] for c in cases] == sorted((c["similarity"] for c in cases), reverse=True)
    assert all(-1 <= c["similarity"] <= 1 and c["reply"] and c["department"] for c in cases)
    assert len({c["reply"] for c in cases}) == 5
    domains = [c["domain"] for c in cases]
    assert domains[0] == domain and domains.count(domain) >= 3, domains


def test_similar_follows_the_ticket_access_rules(api):
    ticket_id = api.ticket_in("城乡建设")  # queue urban
    assert api(None, "GET", f"/api/tickets/{ticket_id}/similar").status_code == 401
    assert api("intake", "GET", f"/api/tickets/{ticket_id}/similar").status_code == 403
    assert api("env", "GET", f"/api/tickets/{ticket_id}/similar").status_code == 403
    assert api("admin", "GET", "/api/tickets/99999999/similar").status_code == 404
    assert api("urban", "GET", f"/api/tickets/{ticket_id}/similar", params={"k": 0}).status_code == 422
    assert api("urban", "GET", f"/api/tickets/{ticket_id}/similar", params={"k": 21}).status_code == 422
    assert len(similar(api, "urban", ticket_id, k=2)["cases"]) == 2


def test_a_resolved_ticket_becomes_a_similar_case(api):
    marker = uuid.uuid4().hex[:8]
    text = f"{POLLUTION}联系电话{PHONE}"
    first = api.submit(text)["ticket_id"]
    reply = f"经环保局现场检查，该化工厂已被责令停产整改（{marker}）。"
    r = api("admin", "POST", f"/api/tickets/{first}/resolve", json={"reply": reply})
    assert r.status_code == 200, r.text
    # a repost of it: the resolved ticket is its most similar past case, with its reply, masked
    repost = api.submit(POLLUTION)["ticket_id"]
    top = similar(api, "admin", repost)["cases"][0]
    assert (top["source"], top["ticket_id"], top["reply"]) == ("ticket", first, reply)
    assert PHONE not in top["text"] and "[PHONE]" in top["text"]
    assert top["similarity"] > 0.9
    # the ticket's own case is never among its similar cases
    assert first not in [c["ticket_id"] for c in similar(api, "admin", first)["cases"]]


def test_ticket_page_shows_similar_cases_and_the_hot_issue_list(api, signed_in):
    """The review page in headless Chromium: the similar cases under a ticket, the hot-issue list, one issue."""
    from tests.test_hot_issues import REPOSTS

    ticket_id = api.submit(WAGES)["ticket_id"]
    reposts = [api.submit(text)["ticket_id"] for _, text in REPOSTS[:2]]
    page, errors = signed_in(api.server.url, api.tokens["admin"], height=900)
    page.wait_for_selector(".queue-card")

    page.goto(f"{api.server.url}/ui/#/ticket/{ticket_id}")
    page.wait_for_selector("#similar ol.cases li")
    assert page.locator("#similar ol.cases li").count() == 5
    assert "%" in page.inner_text("#similar ol.cases li >> nth=0")

    page.goto(f"{api.server.url}/ui/#/ticket/{reposts[1]}")
    page.reload()  # a hash change keeps the previous ticket's DOM until the new one renders: wait on a fresh page
    page.wait_for_selector("#ticket-hot-issue a")
    page.click("#ticket-hot-issue a")
    page.wait_for_selector("table#issue-tickets")
    shown = {int(x) for x in page.locator("table#issue-tickets tr[data-ticket]").evaluate_all(
        "rows => rows.map(r => r.dataset.ticket)")}
    assert set(reposts) <= shown and ticket_id not in shown
    assert page.locator("form#resolve-issue").count() == 1

    page.click("[data-nav=hot-issues]")
    page.wait_for_selector("table#hot-issues tr[data-issue]")
    assert page.locator("[data-nav=hot-issues].active").count() == 1
    assert errors == []


def test_a_first_start_builds_the_case_base_in_the_background(tmp_path_factory, bentoml_home):
    """`minsheng serve` on an empty database embeds the published replies while it answers (progress in its log),
    so a new user's first ticket has similar cases; a restart finds them stored and embeds nothing."""
    from tests.serving import ServerProcess

    workdir = tmp_path_factory.mktemp("first-start")
    replies = replies_csv(workdir / "replies.csv", CASES)
    server = ServerProcess(workdir, {"BENTOML_HOME": str(bentoml_home), "MINSHENG_BUILD_CASES": "on",
                                     "MINSHENG_CASES_FILE": str(replies)}).start()
    try:
        client = server.client(server.token("admin"))
        ticket = client.post("/submit", json={"text": WAGES, "channel": "web"}).json()["ticket_id"]
        deadline = time.monotonic() + 300
        while True:
            found = client.get(f"/api/tickets/{ticket}/similar").json()
            if found["case_base_size"] == len(CASES) or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert found["case_base_size"] == len(CASES)
        assert found["cases"][0]["reply"] == CASES[0][3]  # the wage arrears case answers the wage arrears ticket
        assert f"{len(CASES)} of {len(CASES)} published replies embedded" in server.log.read_text()
        server.restart()
        deadline = time.monotonic() + 120
        while server.log.read_text().count(" ready: ") < 2 and time.monotonic() < deadline:
            time.sleep(1)
        second = server.log.read_text().split(" ready: ")[-1].splitlines()[0]
        assert "'embedded': 0" in second  # the restart found every case stored
    finally:
        server.stop()

"""Two `minsheng serve` replicas on one PostgreSQL schema: each sees the hot-issue groups and the case base the
other changes, and the case base built by `minsheng cases build` holds the vectors the service computes (same
model, same quantization). One test: two real servers are CPU-heavy."""
import csv
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import text

from tests.conftest import PG_URL
from tests.serving import ROOT, ServerProcess
from tests.test_hot_issues import POLLUTION, REPOSTS

CASE_TEXT = "我们村到镇上的公路坑坑洼洼好几年了，下雨天全是泥水，校车都开不进来，孩子们只能走路上学，请交通部门尽快修路。"
CASE_REPLY = "经交通局核实，该路段已列入今年农村公路改造计划，将于下月开工。"


@pytest.fixture(scope="module")
def replicas(tmp_path_factory, bentoml_home, pg_admin):
    schema = f"test_rep_{uuid.uuid4().hex[:10]}"
    with pg_admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    env = {"BENTOML_HOME": str(bentoml_home),
           "MINSHENG_DB_URL": f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"}
    started = []
    try:
        for _ in range(2):  # one after the other: both migrate the schema at start
            started.append(ServerProcess(tmp_path_factory.mktemp("replica"), env).start())
        yield started
    finally:
        for server in started:
            server.stop()
        with pg_admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def test_replicas_share_groups_and_cases_and_the_case_base_embeds_as_served(replicas, tmp_path):
    one, two = replicas
    admin = one.token("admin")
    calls = {server: server.client(admin) for server in replicas}

    def call(server, method, path, **kwargs):
        r = calls[server].request(method, path, **kwargs)
        assert r.status_code < 300, (path, r.text)
        return r.json()

    def submit(server, title, body):
        return call(server, "POST", "/submit", json={"channel": "web", "text": body,
                                                      **({"title": title} if title else {})})["ticket_id"]

    def issue_of(server, ticket_id):
        return call(server, "GET", f"/api/tickets/{ticket_id}/hot-issue")["hot_issue"]["id"]

    def listed(server):
        return [i["id"] for i in call(server, "GET", "/api/hot-issues", params={"limit": 100})["hot_issues"]]

    # the case base, built by the command with the model as served: a case's stored vector is the one the
    # service computes for the same text (a ticket of that very text is similar to it at 1.0)
    path = tmp_path / "replies.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([["id", "title", "text", "reply", "reply_time"],
                                 ["R-1", "", CASE_TEXT, CASE_REPLY, "2019/5/10 14:56:53"]])
    built = subprocess.run([sys.executable, "-m", "minsheng.cli", "cases", "build", "--file", str(path)],
                           cwd=ROOT, env=one.env, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    info = call(two, "GET", "/info")
    assert f"case base for model {info['model_version']} ({info['quantize']}): 1 cases" in built.stdout
    same = call(two, "GET", f"/api/tickets/{submit(two, None, CASE_TEXT)}/similar", params={"k": 1})
    assert same["model_version"] == f"{info['model_version']}/{info['quantize']}"
    [case] = same["cases"]
    assert (case["source"], case["reply"]) == ("replies", CASE_REPLY)
    assert case["similarity"] == pytest.approx(1.0, abs=1e-4)

    # a repost submitted to replica two joins the group formed on replica one
    first, second = (submit(server, *repost) for server, repost in zip(replicas, REPOSTS[:2]))
    issue = issue_of(one, first)
    assert issue_of(two, second) == issue and issue in listed(one) and issue in listed(two)
    # resolved on replica two: gone from both lists, and a repost to replica one starts a new group
    call(two, "POST", f"/api/hot-issues/{issue}/resolve", json={"reply": "路灯已修复。"})
    assert issue not in listed(one) and issue not in listed(two)
    assert issue_of(one, submit(one, *REPOSTS[2])) != issue

    # a ticket resolved on replica one is a similar case on replica two
    resolved = submit(one, *POLLUTION[0])
    reply = f"环保局已对该造纸厂立案查处（{uuid.uuid4().hex[:8]}）。"
    call(one, "POST", f"/api/tickets/{resolved}/resolve", json={"reply": reply})
    top = call(two, "GET", f"/api/tickets/{submit(two, *POLLUTION[1])}/similar")["cases"][0]
    assert (top["source"], top["ticket_id"], top["reply"]) == ("ticket", resolved, reply)

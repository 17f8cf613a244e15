"""The whole retraining loop on a tiny model, through the commands the data team runs: submit → relabel →
export → train → compare → promote (refused, forced, accepted) → the running service switches, dropping nothing."""
import json
import re
import subprocess
import sys
import threading
from collections import Counter

import datasets
import pytest
from sqlalchemy import select

from minsheng.core.labels import TASKS
from minsheng.settings import SERVED_QUANTIZE
from minsheng.store import ModelPromotion, make_engine, session_factory
from tests.serving import ROOT, ServerProcess

SHIPPED_VERSION = json.loads((ROOT / "models/default/minsheng.json").read_text(encoding="utf-8"))["version"]
MESSAGES = [
    ("路灯坏了", "小区门口路灯坏了一个月,电话13812345678"),
    ("噪音扰民", "楼下饭店每天深夜噪音扰民,联系人138-2222-3333"),
    ("拖欠工资", "公司拖欠工资三个月不发"),
    ("孩子上学", "孩子入学报名需要什么材料"),
    ("公交改线", "12路公交车改线后很不方便"),
    ("出租车绕路", "出租车司机故意绕路多收钱"),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory, bentoml_home):
    proc = ServerProcess(tmp_path_factory.mktemp("loop"), {"BENTOML_HOME": str(bentoml_home)}).start()
    yield proc
    proc.stop()


def cli(srv, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "minsheng.cli", *args], cwd=ROOT, env=srv.env,
                          capture_output=True, text=True, timeout=600)


def version_of(srv, client) -> str:
    return client.post("/classify", json={"messages": [{"text": "路灯坏了"}]}).json()["results"][0]["model_version"]


def test_the_whole_loop(srv, tiny, tmp_path):
    root, base = tiny
    admin, intake = srv.client(srv.token("admin")), srv.client(srv.token("intake"))
    tickets = [intake.post("/submit", json={"channel": "web", "title": t, "text": x}).json() for t, x in MESSAGES]
    ids = [t["ticket_id"] for t in tickets]
    # officials correct three tickets (to labels other than the model's), confirm every label of a fourth, and
    # resolve a fifth without looking at its labels
    corrected = {}
    for t in tickets[:3]:
        domain = next(d for d in ("政法", "民政", "教育文体") if d != t["domain"])
        sentiment = "中性" if t["sentiment"] != "中性" else "负面"
        corrected[t["ticket_id"]] = (domain, sentiment)
        r = admin.post(f"/api/tickets/{t['ticket_id']}/relabel", json={"domain": domain, "sentiment": sentiment,
                                                                        "reason": "核实后更正"})
        assert r.status_code == 200, r.text
    assert admin.post(f"/api/tickets/{ids[3]}/confirm", json={"tasks": list(TASKS)}).status_code == 200
    for ticket_id in ids[3:5]:
        assert admin.post(f"/api/tickets/{ticket_id}/resolve", json={"reply": "已转相关部门办理"}).status_code == 200

    out = tmp_path / "labels"
    run = cli(srv, "export-labels", "--out", str(out))
    assert run.returncode == 0, run.stderr
    rows = [json.loads(x) for f in ("train.jsonl", "holdout.jsonl") for x in (out / f).read_text("utf-8").splitlines()]
    assert sorted(r["ticket_id"] for r in rows) == sorted(ids[:4])  # resolving alone verifies nothing
    assert not any(re.search(r"138.?\d{4}", r["text"]) for r in rows)  # PII masked
    by_id = {r["ticket_id"]: r for r in rows}
    for ticket_id, (domain, sentiment) in corrected.items():
        assert (by_id[ticket_id]["domain"], by_id[ticket_id]["sentiment"]) == (domain, sentiment)
        assert by_id[ticket_id]["appeal"] == ""  # not verified: it does not teach the appeal head
    assert all(by_id[ids[3]][t] for t in TASKS)  # the confirmed labels
    assert len(datasets.load_from_disk(str(out / "hf" / "train"))) == sum(r["split"] == "train" for r in rows)

    run = cli(srv, "train", "--data-dir", str(root / "data"), "--base-model", str(base), "--epochs", "1",
              "--extra", str(out / "train.jsonl"), "--output", str(tmp_path / "candidate"))
    assert run.returncode == 0, run.stderr[-3000:]
    tag = re.search(r"stored as (\S+)", run.stdout).group(1)
    shipped = f"minsheng-classifier:{SHIPPED_VERSION}"

    served = srv.env.get("MINSHENG_QUANTIZE", SERVED_QUANTIZE)  # int8 unless the environment says otherwise
    run = cli(srv, "evaluate", "--compare", shipped, tag, "--benchmark-limit", "40")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "overall" in run.stdout and "domain/dev" in run.stdout
    assert run.stdout.startswith(f"current {SHIPPED_VERSION} ({served})  vs  candidate {tag.split(':')[1]} ({served})")

    # a random tiny model is far worse than the shipped one: refused, and the service keeps its model
    run = cli(srv, "promote", tag, "--benchmark-limit", "40", "--actor", "data-team")
    assert run.returncode == 1 and "refused" in run.stderr
    admin.post("/api/admin/reload").raise_for_status()
    assert version_of(srv, intake) == SHIPPED_VERSION

    # forced: recorded as such, and the running service switches to it
    run = cli(srv, "promote", tag, "--benchmark-limit", "40", "--force", "--actor", "data-team")
    assert run.returncode == 0, run.stderr[-2000:]
    assert admin.post("/api/admin/reload").json()["model_version"] == tag.split(":")[1]
    assert version_of(srv, intake) == tag.split(":")[1]

    # the shipped model passes the gate against the tiny one; requests during the switch all succeed
    run = cli(srv, "promote", shipped, "--benchmark-limit", "40", "--actor", "data-team")
    assert run.returncode == 0, run.stderr[-2000:]
    statuses, versions = [], set()

    def load():
        with srv.client(srv.token("intake")) as c:
            for _ in range(15):
                r = c.post("/classify", json={"messages": [{"text": "小区停水三天了"}]})
                statuses.append(r.status_code)
                versions.add(r.json()["results"][0]["model_version"] if r.status_code == 200 else None)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    admin.post("/api/admin/reload").raise_for_status()
    for t in threads:
        t.join()
    assert statuses and set(statuses) == {200}
    assert versions <= {SHIPPED_VERSION, tag.split(":")[1]}
    assert version_of(srv, intake) == SHIPPED_VERSION

    engine = make_engine(srv.db_url)
    with session_factory(engine)() as s:
        promotions = s.scalars(select(ModelPromotion).order_by(ModelPromotion.id)).all()
    engine.dispose()
    assert [(p.tag, p.accepted, p.forced, p.actor) for p in promotions] == [
        (tag, False, False, "data-team"), (tag, True, True, "data-team"), (shipped, True, False, "data-team")]
    # the gate scored both models as the service runs them
    assert {(p.figures["current"]["quantize"], p.figures["candidate"]["quantize"]) for p in promotions} == {
        (served, served)}


def test_review_order_most_uncertain_first(srv):
    admin, intake = srv.client(srv.token("admin")), srv.client(srv.token("intake"))
    urban = ["小区门口路灯坏了一个月没人修", "小区电梯经常困人,物业不管", "小区停水三天了,物业不解释",
             "楼上违章搭建阳台,城管不管", "小区垃圾堆积没人清运"]
    answers = [intake.post("/submit", json={"channel": "web", "text": x}).json() for x in urban]
    queue, n = Counter(a["queue"] for a in answers).most_common(1)[0]
    assert n >= 2, answers
    page = admin.get(f"/api/queues/{queue}/tickets", params={"order": "uncertain", "page_size": 100}).json()
    # relabeled tickets show no model confidence; the others must come lowest first
    confidences = [t["confidence"]["domain"] for t in page["tickets"] if t["confidence"]["domain"] is not None]
    assert len(confidences) >= n and confidences == sorted(confidences)
    bad = admin.get(f"/api/queues/{queue}/tickets", params={"order": "random"})
    assert bad.status_code == 422 and bad.json()["problems"][0]["field"] == "order"

"""export-labels' rows on SQLite and PostgreSQL: which human labels count, and a holdout split that keeps reposts
on one side."""
from minsheng.store import (
    HotIssue,
    HotIssueTicket,
    HumanLabel,
    Relabel,
    confirm,
    relabel,
    resolve,
)
from minsheng.training.export import near_duplicate_groups, split_of, verified_rows
from tests.test_review_store import LABELS, add_ticket

STREETLIGHT = "桂花路与枫林路交叉口的路灯坏了一个多月，晚上一片漆黑，行人过马路很危险，请尽快派人维修。"
NOISE = "楼下烧烤店每天营业到凌晨三点，油烟和噪音让整栋楼的老人孩子都睡不好觉。"
WAGES = "我在城东工地干了半年，包工头拖欠我们十二个工人的工资至今不发，请劳动部门帮忙讨薪。"
SCHOOL = "孩子今年上小学，户口和房产不在一个区，想问入学报名需要准备哪些材料。"


def rows_by_id(sessions):
    with sessions() as session:
        return {r["ticket_id"]: r for r in verified_rows(session)}


def test_only_relabels_and_explicit_confirmations_are_exported(sessions):
    relabeled, confirmed, resolved, legacy = (add_ticket(sessions, text=t) for t in (STREETLIGHT, NOISE, WAGES, SCHOOL))
    relabel(sessions, LABELS, relabeled, Relabel("语气平和", sentiment="中性"), "wang", None)
    confirm(sessions, LABELS, confirmed, ["domain", "urgent"], "wang", None)
    for ticket_id in (confirmed, resolved, legacy):
        resolve(sessions, LABELS, ticket_id, "已处理。", "wang", None)
    with sessions.begin() as session:  # what resolve wrote before confirming was an action: nobody looked
        session.add(HumanLabel(ticket_id=legacy, actor="wang", task="domain", before="城乡建设", after="城乡建设",
                               kind="confirm"))
    rows = rows_by_id(sessions)
    assert sorted(rows) == [relabeled, confirmed]
    labels = {ticket_id: {t: rows[ticket_id][t] for t in ("domain", "sentiment", "appeal", "urgent")}
              for ticket_id in rows}
    assert labels[relabeled] == {"domain": "", "sentiment": "中性", "appeal": "", "urgent": ""}
    assert labels[confirmed] == {"domain": "城乡建设", "sentiment": "", "appeal": "", "urgent": "否"}


def tickets_split_apart(sessions, first_text, second_text):
    """Two tickets the id hash alone puts on different sides: later tickets stay unlabeled, so not exported."""
    first = add_ticket(sessions, text=first_text)
    while split_of(second := add_ticket(sessions, text=second_text)) == split_of(first):
        pass
    return first, second


def test_a_repost_lands_on_the_side_of_the_ticket_it_repeats(sessions):
    first, repost = tickets_split_apart(sessions, STREETLIGHT, STREETLIGHT.replace("一个多月", "两个月了"))
    other = add_ticket(sessions, text=WAGES)
    for ticket_id in (first, repost, other):
        confirm(sessions, LABELS, ticket_id, ["domain"], "wang", None)
    rows = rows_by_id(sessions)
    assert rows[first]["split"] == rows[repost]["split"] == split_of(first)
    assert rows[other]["split"] == split_of(other)


def test_tickets_of_one_hot_issue_land_on_one_side(sessions):
    first, second = tickets_split_apart(sessions, STREETLIGHT, "枫林路口路灯不亮，晚上出门看不清路")
    with sessions.begin() as session:
        issue = HotIssue(title="路灯不亮")
        session.add(issue)
        session.flush()
        session.add_all([HotIssueTicket(ticket_id=t, issue_id=issue.id, model_version="m-test", vector=b"")
                         for t in (first, second)])
    for ticket_id in (first, second):
        confirm(sessions, LABELS, ticket_id, ["domain"], "wang", None)
    rows = rows_by_id(sessions)
    assert rows[first]["split"] == rows[second]["split"] == split_of(first)


def test_near_duplicate_groups_are_transitive_and_join_hot_issues():
    texts = [STREETLIGHT, NOISE, STREETLIGHT.replace("请尽快派人维修", "希望早日修好"), WAGES, SCHOOL,
             STREETLIGHT.replace("请尽快派人维修", "希望早日修好").replace("一个多月", "两个月了")]
    assert near_duplicate_groups(texts, [None] * 6) == [0, 1, 0, 3, 4, 0]
    assert near_duplicate_groups(texts, [None, 7, None, None, 7, None]) == [0, 1, 0, 3, 1, 0]
    assert near_duplicate_groups([], []) == []

"""Review store (queues, users) on SQLite and PostgreSQL: visibility, claims, relabel routing, audit trail."""
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from minsheng.core.labels import load_labels
from minsheng.store import (
    CONFIRMED,
    LOCAL_TZ,
    Analysis,
    AuditEvent,
    Conflict,
    HumanLabel,
    Invalid,
    NewTicket,
    NotFound,
    NotVisible,
    Relabel,
    Routing,
    Ticket,
    TicketFilter,
    User,
    UserError,
    analytics,
    assign,
    authenticate,
    claim,
    confirm,
    create_ticket,
    create_user,
    list_tickets,
    list_users,
    queue_summaries,
    relabel,
    reopen,
    resolve,
    revoke_user,
    ticket_detail,
    unclaim,
)

LABELS = load_labels()


def add_ticket(sessions, domain="城乡建设", urgent=False, triage=False, created_at=None, sentiment="负面",
               text="小区夜间施工噪音扰民，电话13800138000"):
    route = LABELS.triage if triage else LABELS.routes[domain]
    prediction = {"model_version": "m-test", "label_version": LABELS.version, "domain": domain,
                  "domain_confidence": 0.3 if triage else 0.9, "sentiment": sentiment, "sentiment_confidence": 0.8,
                  "appeal": "投诉", "appeal_confidence": 0.7, "urgent": urgent, "urgent_confidence": 0.9 if urgent else 0.1,
                  "scores": {}}
    ticket, _ = create_ticket(
        sessions, NewTicket(channel="12345", text=text), prediction,
        Routing(route.queue, route.department, LABELS.priorities["urgent" if urgent else "default"], triage),
        Analysis(keywords=["施工", "噪音"], pii=[{"type": "PHONE", "start": 13, "end": 24}]), actor="intake:12345")
    if created_at is not None:
        with sessions.begin() as session:
            session.get(Ticket, ticket["id"]).created_at = created_at
    return ticket["id"]


def events(sessions, ticket_id):
    with sessions() as session:
        return [(e.actor, e.action, e.detail) for e in
                session.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket_id).order_by(AuditEvent.id))]


def human_labels(sessions, ticket_id):
    with sessions() as session:
        return [(h.task, h.before, h.after, h.kind, h.actor) for h in
                session.scalars(select(HumanLabel).where(HumanLabel.ticket_id == ticket_id).order_by(HumanLabel.id))]


def test_summaries_count_by_status_and_urgent_within_visible_queues(sessions):
    add_ticket(sessions)
    add_ticket(sessions, urgent=True)
    claimed = add_ticket(sessions, urgent=True)
    claim(sessions, claimed, "wang", None)
    add_ticket(sessions, domain="环境保护")
    with sessions() as session:
        everything = {q["queue"]: q for q in queue_summaries(session, LABELS, None)}
        mine = queue_summaries(session, LABELS, {"urban"})
    assert set(everything) == set(LABELS.queues())
    assert everything["urban"]["counts"] == {"open": 2, "claimed": 1, "resolved": 0}
    assert everything["urban"]["urgent"] == 2
    assert everything["urban"]["department"] == "住房和城乡建设局"
    assert everything["environment"]["counts"]["open"] == 1
    assert [q["queue"] for q in mine] == ["urban"]


def test_list_sorts_urgent_then_oldest_and_paginates(sessions):
    now = datetime.now(LOCAL_TZ)
    old, new, urgent_new, urgent_old = (
        add_ticket(sessions, created_at=now - timedelta(days=3)),
        add_ticket(sessions, created_at=now - timedelta(days=1)),
        add_ticket(sessions, urgent=True, created_at=now - timedelta(days=2)),
        add_ticket(sessions, urgent=True, created_at=now - timedelta(days=4)),
    )
    add_ticket(sessions, domain="环境保护")  # another queue
    with sessions() as session:
        page1, total = list_tickets(session, LABELS, "urban", TicketFilter(), None, limit=3)
        page2, _ = list_tickets(session, LABELS, "urban", TicketFilter(), None, limit=3, offset=3)
    assert total == 4
    assert [t["id"] for t in page1 + page2] == [urgent_old, urgent_new, old, new]
    assert page1[0]["confidence"] == {"domain": 0.9, "sentiment": 0.8, "appeal": 0.7, "urgent": 0.9}


def test_filters(sessions):
    now = datetime.now(LOCAL_TZ)
    a = add_ticket(sessions, urgent=True, created_at=now - timedelta(days=10))
    b = add_ticket(sessions, sentiment="中性", created_at=now - timedelta(days=1))
    claim(sessions, b, "wang", None)

    def ids(**kw):
        with sessions() as session:
            return [t["id"] for t in list_tickets(session, LABELS, "urban", TicketFilter(**kw), None, 50)[0]]

    assert ids(urgent=True) == [a]
    assert ids(status="claimed") == [b]
    assert ids(sentiment="中性") == [b]
    assert ids(since=now - timedelta(days=2)) == [b]
    assert ids(until=now - timedelta(days=2)) == [a]
    assert ids(appeal="投诉", needs_review=False) == [a, b]
    assert ids(domain="环境保护") == []
    with pytest.raises(Invalid) as bad:
        ids(sentiment="愤怒")
    assert bad.value.field == "sentiment" and "负面" in bad.value.problem
    with pytest.raises(Invalid, match="status"):
        ids(status="done")


def test_visibility_and_unknown_tickets(sessions):
    t = add_ticket(sessions)
    with sessions() as session:
        with pytest.raises(NotVisible):
            list_tickets(session, LABELS, "urban", TicketFilter(), {"environment"}, 10)
        with pytest.raises(NotFound):
            list_tickets(session, LABELS, "no-such-queue", TicketFilter(), None, 10)
        with pytest.raises(NotVisible):
            ticket_detail(session, LABELS, t, {"environment"})
        with pytest.raises(NotFound):
            ticket_detail(session, LABELS, 999_999, None)
    for action in (lambda v: claim(sessions, t, "li", v), lambda v: reopen(sessions, t, "li", v),
                   lambda v: resolve(sessions, LABELS, t, "已处理", "li", v),
                   lambda v: relabel(sessions, LABELS, t, Relabel("x", sentiment="正面"), "li", v)):
        with pytest.raises(NotVisible):
            action({"environment"})
    assert [a for _, a, _ in events(sessions, t)] == ["ticket.created"]
    with pytest.raises(NotFound):
        claim(sessions, 999_999, "li", None)


def test_claim_conflicts_and_audit(sessions):
    t = add_ticket(sessions)
    assert claim(sessions, t, "wang", {"urban"})["claimed_by"] == "wang"
    claim(sessions, t, "wang", {"urban"})  # again: no change, no event
    with pytest.raises(Conflict, match="wang"):
        claim(sessions, t, "li", {"urban"})
    with pytest.raises(Conflict):
        resolve(sessions, LABELS, t, "已处理", "li", None)
    assert [(actor, action) for actor, action, _ in events(sessions, t)] == [
        ("intake:12345", "ticket.created"), ("wang", "ticket.claimed")]


def test_concurrent_claims_have_one_winner(sessions):
    t = add_ticket(sessions)
    barrier, results = threading.Barrier(4), []

    def attempt(name):
        barrier.wait()
        try:
            claim(sessions, t, name, None)
            results.append(name)
        except Conflict:
            results.append(None)

    threads = [threading.Thread(target=attempt, args=(f"official{i}",)) for i in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    winners = [r for r in results if r]
    assert len(results) == 4 and len(winners) == 1
    with sessions() as session:
        assert session.get(Ticket, t).claimed_by == winners[0]
    assert sum(a == "ticket.claimed" for _, a, _ in events(sessions, t)) == 1


def test_relabel_domain_moves_ticket_and_records_human_labels(sessions):
    t = add_ticket(sessions)
    claim(sessions, t, "wang", None)
    out = relabel(sessions, LABELS, t, Relabel("说的是河道污染", domain="环境保护", urgent=True, appeal="投诉"), "wang",
                  {"urban"})
    assert (out["queue"], out["department"], out["domain"]) == ("environment", "生态环境局", "环境保护")
    assert (out["urgent"], out["priority"], out["needs_review"]) == (True, "high", False)
    assert (out["status"], out["claimed_by"]) == ("open", None)  # the new department picks it up
    assert human_labels(sessions, t) == [("domain", "城乡建设", "环境保护", "relabel", "wang"),
                                         ("urgent", "否", "是", "relabel", "wang")]  # appeal unchanged: no row
    (actor, action, detail), (_, due_action, due_detail) = events(sessions, t)[-2:]
    assert (actor, action) == ("wang", "ticket.relabeled")
    assert detail == {"changes": {"domain": ["城乡建设", "环境保护"], "urgent": ["否", "是"]},
                      "from_queue": "urban", "to_queue": "environment"}
    # urgent now: the emergency time limit replaces the complaint one (labels/deadlines.yaml)
    assert (due_action, due_detail["cause"], due_detail["from_rule"], due_detail["rule"]) == (
        "ticket.due_changed", "relabel", "complaint", "emergency")
    with sessions() as session:
        assert list_tickets(session, LABELS, "urban", TicketFilter(), None, 10)[1] == 0
        moved = list_tickets(session, LABELS, "environment", TicketFilter(), None, 10)[0]
        assert [m["id"] for m in moved] == [t]
        assert moved[0]["confidence"]["domain"] is None  # a person's label, not the model's
    with pytest.raises(NotVisible):  # it left wang's department
        claim(sessions, t, "wang", {"urban"})


def test_relabel_confirming_a_triage_domain_routes_it(sessions):
    t = add_ticket(sessions, domain="交通运输", triage=True)
    out = relabel(sessions, LABELS, t, Relabel("确认", domain="交通运输"), "triage-li", {"triage"})
    assert (out["queue"], out["needs_review"]) == ("transport", False)
    assert human_labels(sessions, t) == [("domain", "交通运输", "交通运输", "confirm", "triage-li")]


def test_relabel_rejects_invalid_labels_and_changes_nothing(sessions):
    t = add_ticket(sessions)
    for change, field in [(Relabel("x", domain="天气"), "domain"), (Relabel("x", appeal="抱怨"), "appeal"),
                          (Relabel(" ", domain="环境保护"), "reason"), (Relabel("x"), "body")]:
        with pytest.raises(Invalid) as bad:
            relabel(sessions, LABELS, t, change, "wang", None)
        assert bad.value.field == field
    assert human_labels(sessions, t) == []
    unchanged = relabel(sessions, LABELS, t, Relabel("same", sentiment="负面"), "wang", None)
    assert unchanged["queue"] == "urban" and len(events(sessions, t)) == 1


def test_resolve_confirms_nothing_and_reopen(sessions):
    t = add_ticket(sessions)
    relabel(sessions, LABELS, t, Relabel("语气平和", sentiment="中性"), "wang", None)
    out = resolve(sessions, LABELS, t, "已联系施工方停工整改。", "wang", None)
    assert (out["status"], out["claimed_by"], out["reply"]) == ("resolved", "wang", "已联系施工方停工整改。")
    assert out["resolved_at"] is not None
    # the untouched labels stay unverified: resolving says nothing about them
    assert human_labels(sessions, t) == [("sentiment", "负面", "中性", "relabel", "wang")]
    with pytest.raises(Conflict):
        resolve(sessions, LABELS, t, "again", "wang", None)
    with pytest.raises(Conflict):
        relabel(sessions, LABELS, t, Relabel("x", sentiment="正面"), "wang", None)
    with pytest.raises(Conflict, match="reopen"):
        confirm(sessions, LABELS, t, ["domain"], "wang", None)
    reopened = reopen(sessions, t, "zhao", None)
    assert (reopened["status"], reopened["claimed_by"], reopened["resolved_at"]) == ("open", None, None)
    with pytest.raises(Conflict):
        reopen(sessions, t, "zhao", None)
    resolve(sessions, LABELS, t, "复查后已处理。", "zhao", None)
    assert len(human_labels(sessions, t)) == 1
    assert [(actor, action) for actor, action, _ in events(sessions, t)] == [
        ("intake:12345", "ticket.created"), ("wang", "ticket.relabeled"), ("wang", "ticket.resolved"),
        ("zhao", "ticket.reopened"), ("zhao", "ticket.resolved")]
    assert events(sessions, t)[2][2] == {"reply_chars": 11}
    with sessions() as session:
        detail = ticket_detail(session, LABELS, t, None)
    assert [h["action"] for h in detail["history"]][-1] == "ticket.resolved"
    assert len(detail["human_labels"]) == 1


def test_confirm_records_what_the_official_checked_once(sessions):
    t = add_ticket(sessions, urgent=True)
    relabel(sessions, LABELS, t, Relabel("语气平和", sentiment="中性"), "wang", None)
    out = confirm(sessions, LABELS, t, ["urgent", "domain", "sentiment"], "wang", {"urban"})
    assert (out["status"], out["domain"]) == ("open", "城乡建设")
    # sentiment holds wang's own relabel already: confirming it adds nothing
    assert human_labels(sessions, t)[1:] == [("domain", "城乡建设", "城乡建设", "confirm", "wang"),
                                             ("urgent", "是", "是", "confirm", "wang")]
    with sessions() as session:
        assert {h.reason for h in session.scalars(select(HumanLabel).where(HumanLabel.kind == "confirm"))} == {
            CONFIRMED}
    assert events(sessions, t)[-1] == ("wang", "ticket.confirmed", {"confirmed": {"domain": "城乡建设", "urgent": "是"}})
    confirm(sessions, LABELS, t, ["domain"], "li", None)  # confirmed already: no row, no event
    assert len(human_labels(sessions, t)) == 3 and len(events(sessions, t)) == 3
    # a relabel after a confirmation is the verdict that counts, and already a person's: nothing to confirm
    relabel(sessions, LABELS, t, Relabel("实为环保", domain="环境保护"), "wang", None)
    confirm(sessions, LABELS, t, ["domain"], "li", {"environment"})
    assert human_labels(sessions, t)[-1] == ("domain", "城乡建设", "环境保护", "relabel", "wang")
    for tasks in ([], ["domain", "weather"]):
        with pytest.raises(Invalid) as bad:
            confirm(sessions, LABELS, t, tasks, "li", None)
        assert bad.value.field == "tasks"
    with pytest.raises(NotVisible):
        confirm(sessions, LABELS, t, ["appeal"], "wang", {"urban"})
    claim(sessions, t, "li", None)
    with pytest.raises(Conflict, match="li"):
        confirm(sessions, LABELS, t, ["appeal"], "zhao", None)
    confirm(sessions, LABELS, t, ["appeal"], "li", None)  # the claimer may
    assert human_labels(sessions, t)[4:] == [("appeal", "投诉", "投诉", "confirm", "li")]


def test_release_and_assign_a_claim(sessions):
    for name, role, queues in [("wang", "official", ["urban"]), ("li", "official", ["urban", "land"]),
                               ("zhao", "official", ["environment"]), ("hotline", "intake", []),
                               ("root", "admin", [])]:
        create_user(sessions, LABELS, name, role, queues)
    t = add_ticket(sessions)
    with pytest.raises(Conflict, match="open"):
        unclaim(sessions, t, "wang", {"urban"})
    claim(sessions, t, "wang", {"urban"})
    with pytest.raises(Conflict, match="wang"):  # an official releases only their own claim
        unclaim(sessions, t, "li", {"urban"})
    assert unclaim(sessions, t, "wang", {"urban"})["status"] == "open"
    claim(sessions, t, "wang", {"urban"})
    revoke_user(sessions, "wang")  # wang leaves with the ticket claimed: an admin releases it
    with pytest.raises(NotVisible):
        unclaim(sessions, t, "zhao", {"environment"}, anyones=True)
    out = unclaim(sessions, t, "root", None, anyones=True)
    assert (out["status"], out["claimed_by"], out["claimed_at"]) == ("open", None, None)
    claim(sessions, t, "li", None)
    for assignee, problem in [("wang", "no active official"), ("nobody", "no active official"),
                              ("hotline", "no active official"), ("zhao", "may not read queue 'urban'")]:
        with pytest.raises(Invalid, match=problem) as bad:
            assign(sessions, t, assignee, "root", None)
        assert bad.value.field == "to"
    create_user(sessions, LABELS, "wang", "official", ["urban"])  # a new token for wang, who came back
    out = assign(sessions, t, "wang", "root", None)
    assert (out["status"], out["claimed_by"]) == ("claimed", "wang")
    assign(sessions, t, "wang", "root", None)  # to its holder: no change, no event
    resolve(sessions, LABELS, t, "已处理。", "wang", {"urban"})  # the assignee can finish it
    with pytest.raises(Conflict, match="reopen"):
        assign(sessions, t, "li", "root", None)
    with pytest.raises(Conflict, match="resolved"):
        unclaim(sessions, t, "root", None, anyones=True)
    reopen(sessions, t, "root", None)
    assert assign(sessions, t, "root", "root", None)["claimed_by"] == "root"  # open → an admin takes it
    assert [(a, e, d) for a, e, d in events(sessions, t) if e in ("ticket.unclaimed", "ticket.assigned")] == [
        ("wang", "ticket.unclaimed", {"from": "wang"}), ("root", "ticket.unclaimed", {"from": "wang"}),
        ("root", "ticket.assigned", {"from": "li", "to": "wang"}),
        ("root", "ticket.assigned", {"from": None, "to": "root"})]


def test_analytics_per_week_and_sentiment_share(sessions):
    now = datetime.now(LOCAL_TZ)
    add_ticket(sessions, created_at=now)
    add_ticket(sessions, sentiment="正面", created_at=now - timedelta(weeks=1))
    add_ticket(sessions, domain="环境保护", created_at=now)
    add_ticket(sessions, domain="交通运输", created_at=now - timedelta(weeks=10))  # outside 4 weeks
    with sessions() as session:
        everything = analytics(session, LABELS, None, weeks=4)
        urban = analytics(session, LABELS, {"urban"}, weeks=4)
    year, week, _ = now.isocalendar()
    assert len(everything["weeks"]) == 4 and everything["weeks"][-1] == f"{year}-W{week:02d}"
    assert everything["tickets_per_week"] == [{"domain": "城乡建设", "counts": [0, 0, 1, 1]},
                                              {"domain": "环境保护", "counts": [0, 0, 0, 1]}]
    assert urban["sentiment_share"] == [{"domain": "城乡建设", "total": 2,
                                         "share": {"负面": 0.5, "中性": 0.0, "正面": 0.5}}]


def test_users_tokens_roles_and_revocation(sessions):
    user, token = create_user(sessions, LABELS, "wang", "official", ["urban", "environment"])
    with sessions() as session:
        stored = session.scalars(select(User)).one()
        assert token not in (stored.token_hash, stored.name) and len(stored.token_hash) == 64
        me = authenticate(session, token)
        assert authenticate(session, token + "x") is None
    assert (me.name, me.role, me.queues) == ("wang", "official", {"urban", "environment"})
    assert me.may_see("urban") and not me.may_see("land")
    for args, message in [(("wang", "official", ["land"]), "exists"), (("li", "official", []), "at least one"),
                          (("li", "official", ["moon"]), "unknown queue"), (("li", "boss", []), "unknown role"),
                          (("li", "intake", ["urban"]), "officials")]:
        with pytest.raises(UserError, match=message):
            create_user(sessions, LABELS, *args)
    _, admin_token = create_user(sessions, LABELS, "root", "admin")
    revoke_user(sessions, "wang")
    _, new_token = create_user(sessions, LABELS, "wang", "official", ["land"])  # the name can be issued again
    with sessions() as session:
        assert authenticate(session, token) is None
        assert authenticate(session, new_token).queues == {"land"}
        assert authenticate(session, admin_token).queues is None
        assert [(u.name, u.revoked_at is None) for u in list_users(session)] == [
            ("root", True), ("wang", False), ("wang", True)]
        assert [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))] == [
            "user.created", "user.created", "user.revoked", "user.created"]
    with pytest.raises(UserError):
        revoke_user(sessions, "nobody")

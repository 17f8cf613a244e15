"""Hot issues: groups of tickets raising the same issue. Which group a new ticket joins is decided by the service
(assist/hot_issues.py, on its vectors); here: membership, the ranked list, one group's tickets, and resolving a
group with one reply, ticket by ticket through queues.resolve (so each gets its audit event; no label is confirmed)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, select, true
from sqlalchemy.orm import Session, sessionmaker

from minsheng.core.labels import LabelSet
from minsheng.core.nlp import find_pii, mask_pii
from minsheng.core.text import normalize

from .models import AuditEvent, HotIssue, HotIssueTicket, Ticket, utcnow
from .queues import (
    Conflict,
    Invalid,
    NotFound,
    NotVisible,
    ReviewError,
    Visible,
    readable_ticket,
    resolve,
)
from .tickets import ticket_to_dict

RECENT_DAYS = 7  # "recent growth": tickets of the last week count twice in the ranking
TOP_PLACES, TOP_KEYWORDS = 5, 8


def open_member_ids(session: Session, embedding: str) -> set[int]:
    """Ticket ids of the unresolved grouped tickets embedded by `embedding` (model version and quantization)."""
    return set(session.scalars(
        select(HotIssueTicket.ticket_id).join(Ticket, Ticket.id == HotIssueTicket.ticket_id)
        .where(HotIssueTicket.model_version == embedding, Ticket.status != "resolved")))


def open_members(session: Session, embedding: str, ticket_ids: Iterable[int],
                 chunk: int = 1000) -> list[tuple[int, bytes, list[str], list[str]]]:
    """(ticket_id, vector, places, keywords) of the grouped tickets `ticket_ids` embedded by `embedding`, by
    ticket id: what a new ticket is compared with."""
    ids = sorted(ticket_ids)
    return [row for start in range(0, len(ids), chunk) for row in session.execute(
        select(HotIssueTicket.ticket_id, HotIssueTicket.vector, HotIssueTicket.places, HotIssueTicket.keywords)
        .where(HotIssueTicket.model_version == embedding, HotIssueTicket.ticket_id.in_(ids[start:start + chunk]))
        .order_by(HotIssueTicket.ticket_id)).all()]


def member_status(session: Session, ticket_ids: Iterable[int]) -> dict[int, str]:
    """ticket_id → its ticket's status now, for the grouped ones among `ticket_ids`."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    return dict(session.execute(select(HotIssueTicket.ticket_id, Ticket.status)
                                .join(Ticket, Ticket.id == HotIssueTicket.ticket_id)
                                .where(HotIssueTicket.ticket_id.in_(ids))).all())


def ticket_hot_issue(session: Session, ticket_id: int, visible: Visible) -> dict[str, Any] | None:
    """The hot issue a ticket the caller may read belongs to, as the caller's tickets make it, or None."""
    readable_ticket(session, ticket_id, visible)
    issue_id = issue_of(session, ticket_id)
    return None if issue_id is None else hot_issue_detail(session, issue_id, visible)[0]


def issue_of(session: Session, ticket_id: int) -> int | None:
    return session.scalar(select(HotIssueTicket.issue_id).where(HotIssueTicket.ticket_id == ticket_id))


def join_hot_issue(sessions: sessionmaker[Session], ticket_id: int, title: str, vector: bytes, model_version: str,
                   places: Sequence[str], keywords: Sequence[str],
                   matched: tuple[int, float] | None = None) -> int:
    """Puts the ticket into the hot issue of `matched` (ticket_id, similarity), or into a new one titled `title`
    (PII-masked) when there is no match or the matched ticket has no group any more. A ticket already grouped
    stays where it is. Returns the hot issue's id."""
    with sessions.begin() as session:
        known = issue_of(session, ticket_id)
        if known is not None:
            return known
        issue_id = issue_of(session, matched[0]) if matched else None
        if issue_id is None:
            matched = None
            issue = HotIssue(title=title[:200])
            session.add(issue)
            session.flush()
            issue_id = issue.id
        else:
            session.get(HotIssue, issue_id).updated_at = utcnow()
        session.add(HotIssueTicket(
            ticket_id=ticket_id, issue_id=issue_id, matched_ticket_id=matched and matched[0],
            similarity=matched and round(float(matched[1]), 4), places=list(places), keywords=list(keywords),
            model_version=model_version, vector=vector))
        return issue_id


def _scope(labels: LabelSet, visible: Visible, queue: str | None) -> list[str] | None:
    """The queues whose tickets count: one asked-for queue the caller may see, else all the caller's."""
    if queue is None:
        return None if visible is None else sorted(visible)
    if visible is not None and queue not in visible:
        raise NotVisible(f"queue {queue!r}")
    if queue not in labels.queues():
        raise NotFound(f"no queue {queue!r}")
    return [queue]


Members = list[tuple[HotIssueTicket, Ticket]]


def issue_title(ticket: dict[str, Any]) -> str:
    """The title a hot issue gets from its first ticket (ticket_to_dict): the ticket's title, else the start of its
    text; PII-masked either way."""
    title = normalize(ticket["title"])
    if title:
        return mask_pii(title, find_pii(title))[:200]
    return mask_pii(normalize(ticket["text"]), ticket["pii"])[:60]


def _readable(members: Members, visible: Visible) -> Members:
    """The members a caller reading the queues `visible` (None: all) may see. What it is shown of a hot issue is
    made from these alone; of the others, it learns how many there are (`hidden`), nothing else."""
    return [(m, t) for m, t in members if visible is None or t.queue in visible]


def _title(issue: HotIssue, shown: Members) -> str:
    """The issue's title where the caller may read the ticket that started it (the member that matched none),
    else one made the same way from the caller's oldest ticket in it."""
    if not shown or any(m.matched_ticket_id is None for m, _ in shown):
        return issue.title
    return issue_title(ticket_to_dict(shown[0][1]))


def _summary(issue: HotIssue, members: Members, visible: Visible, scope: list[str] | None,
             since: datetime) -> dict[str, Any]:
    """The issue as a caller reading the queues `visible` sees it: made from those of its tickets only, with the
    number of the others (`hidden`); and how many of them are in `scope` (the caller's queues, or the one asked
    for)."""
    shown = _readable(members, visible)
    tickets = [t for _, t in shown]
    mine = [t for t in tickets if scope is None or t.queue in scope]
    places = Counter(p for m, _ in shown for p in dict.fromkeys(m.places))
    keywords = Counter(k for m, _ in shown for k in dict.fromkeys(m.keywords))
    departments = Counter((t.queue, t.department) for t in tickets)
    open_ = sum(t.status != "resolved" for t in tickets)
    recent = sum(t.created_at >= since for t in tickets)
    return {
        "id": issue.id, "title": _title(issue, shown), "size": len(tickets), "hidden": len(members) - len(shown),
        "open": open_, "recent": recent, "heat": open_ + recent,
        "scope": {"queues": scope, "tickets": len(mine), "open": sum(t.status != "resolved" for t in mine)},
        "first_seen": min(t.created_at for t in tickets).isoformat() if tickets else None,
        "last_seen": max(t.created_at for t in tickets).isoformat() if tickets else None,
        "places": [p for p, _ in places.most_common(TOP_PLACES)],
        "keywords": [k for k, _ in keywords.most_common(TOP_KEYWORDS)],
        "departments": [{"queue": q, "department": d, "tickets": n} for (q, d), n in departments.most_common()],
    }


def _members(session: Session, issue_ids: Sequence[int]) -> dict[int, Members]:
    out: dict[int, list] = {i: [] for i in issue_ids}
    rows = session.execute(select(HotIssueTicket, Ticket).join(Ticket, Ticket.id == HotIssueTicket.ticket_id)
                           .where(HotIssueTicket.issue_id.in_(list(issue_ids)))
                           .order_by(Ticket.created_at, Ticket.id))
    for member, ticket in rows:
        out[member.issue_id].append((member, ticket))
    return out


def list_hot_issues(session: Session, labels: LabelSet, visible: Visible, queue: str | None = None,
                    limit: int = 20, min_size: int = 2, now: datetime | None = None) -> list[dict[str, Any]]:
    """Hot issues of at least `min_size` tickets (all of them: size + hidden) with an unresolved ticket in one
    queue, or in any of the caller's queues (admins: any queue), hottest first as the caller sees them: its
    unresolved tickets plus its tickets of the last RECENT_DAYS days (so a growing issue rises), then the latest."""
    scope = _scope(labels, visible, queue)
    since = (now or utcnow()) - timedelta(days=RECENT_DAYS)
    readable = true() if visible is None else Ticket.queue.in_(sorted(visible))
    open_ = func.sum(case((and_(readable, Ticket.status != "resolved"), 1), else_=0))
    recent = func.sum(case((and_(readable, Ticket.created_at >= since), 1), else_=0))
    latest = func.max(case((readable, Ticket.created_at)))
    query = (select(HotIssueTicket.issue_id).join(Ticket, Ticket.id == HotIssueTicket.ticket_id)
             .group_by(HotIssueTicket.issue_id).having(func.count(HotIssueTicket.ticket_id) >= min_size, open_ >= 1)
             .order_by((open_ + recent).desc(), latest.desc(), HotIssueTicket.issue_id.desc())
             .limit(limit))
    if scope is not None:
        in_scope = (select(HotIssueTicket.issue_id).join(Ticket, Ticket.id == HotIssueTicket.ticket_id)
                    .where(Ticket.queue.in_(scope), Ticket.status != "resolved"))
        query = query.where(HotIssueTicket.issue_id.in_(in_scope))
    ids = list(session.scalars(query))
    members = _members(session, ids)
    issues = {i.id: i for i in session.scalars(select(HotIssue).where(HotIssue.id.in_(ids)))}
    return [_summary(issues[i], members[i], visible, scope, since) for i in ids]


def hot_issue_detail(session: Session, issue_id: int, visible: Visible,
                     now: datetime | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The issue as the caller sees it (_summary) and its tickets the caller may read, oldest first, each with its
    similarity to the ticket it repeated where the caller may read that one too."""
    issue = session.get(HotIssue, issue_id)
    if issue is None:
        raise NotFound(f"no hot issue {issue_id}")
    members = _members(session, [issue_id])[issue_id]
    shown = _readable(members, visible)
    if not shown:
        raise NotVisible(f"hot issue {issue_id} has no ticket in the caller's queues")
    scope = None if visible is None else sorted(visible)
    summary = _summary(issue, members, visible, scope, (now or utcnow()) - timedelta(days=RECENT_DAYS))
    ids = {t.id for _, t in shown}
    tickets = []
    for m, t in shown:
        repeats_readable = m.matched_ticket_id in ids
        tickets.append({**ticket_to_dict(t), "similarity": m.similarity if repeats_readable else None,
                        "matched_ticket_id": m.matched_ticket_id if repeats_readable else None})
    return summary, tickets


def resolve_hot_issue(sessions: sessionmaker[Session], labels: LabelSet, issue_id: int, reply: str, actor: str,
                      visible: Visible) -> dict[str, Any]:
    """One reply to every unresolved ticket of the issue in the caller's queues, each resolved on its own by
    queues.resolve (its audit event; one reply confirms no label). Tickets another official has claimed are skipped and
    reported, not taken over. A "hot_issue.resolved" audit event lists what was done."""
    if not reply.strip():
        raise Invalid("reply", "must not be empty")
    with sessions() as session:
        _, tickets = hot_issue_detail(session, issue_id, visible)
    todo = [t["id"] for t in tickets if t["status"] != "resolved"]
    if not todo:
        raise Conflict("every ticket of this hot issue in your queues is resolved already")
    resolved, skipped = [], []
    for ticket_id in todo:
        try:
            resolved.append(resolve(sessions, labels, ticket_id, reply, actor, visible))
        except ReviewError as e:  # claimed by someone else, or moved to another queue meanwhile
            skipped.append({"ticket_id": ticket_id, "reason": str(e)})
    with sessions.begin() as session:
        session.add(AuditEvent(actor=actor, action="hot_issue.resolved", detail={
            "hot_issue": issue_id, "resolved": [t["id"] for t in resolved],
            "skipped": [s["ticket_id"] for s in skipped], "reply_chars": len(reply)}))
    return {"hot_issue": issue_id, "resolved": resolved, "skipped": skipped}

"""Department work queues: list, claim, release, assign, relabel, confirm, resolve and reopen tickets, and count
them for analytics.

Every state change writes its AuditEvent in the same transaction. `visible` is the set of queue ids the caller may
see (None: all); it is checked inside the transaction that changes the ticket, so a ticket relabeled away in the
meantime cannot be changed by the department it left."""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from minsheng.core.clock import LOCAL_TZ
from minsheng.core.deadlines import DUE_SOON
from minsheng.core.labels import TASKS, LabelSet
from minsheng.core.routing import intake_cues

from .due import record_resolution, reopen_resolved, reschedule
from .models import AuditEvent, HumanLabel, Prediction, Ticket, utcnow
from .tickets import ticket_to_dict
from .users import active_principal

# The reason recorded with an explicit confirmation. Confirmations that resolve wrote for every untouched label
# (before confirming was an action of its own) have none: nobody looked at them, and export leaves them out.
CONFIRMED = "确认无误"
STATUSES = ("open", "claimed", "resolved")
DUE_FILTERS = ("overdue", "soon")  # unresolved and past its due time; unresolved and due within DUE_SOON
Visible = Collection[str] | None


class ReviewError(Exception):
    """A review request the store refuses; the API maps each subclass to a 4xx status."""


class NotFound(ReviewError):
    pass


class NotVisible(ReviewError):
    pass


class Conflict(ReviewError):
    pass


class Invalid(ReviewError):
    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def check_label(labels: LabelSet, task: str, value: str) -> str:
    try:
        labels.index(task, value)
    except ValueError as e:
        raise Invalid(task, str(e)) from None
    return value


@dataclass(frozen=True)
class TicketFilter:
    status: str | None = None
    urgent: bool | None = None
    domain: str | None = None
    sentiment: str | None = None
    appeal: str | None = None
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until
    needs_review: bool | None = None
    due: str | None = None  # one of DUE_FILTERS

    def conditions(self, labels: LabelSet) -> list[ColumnElement[bool]]:
        if self.status is not None and self.status not in STATUSES:
            raise Invalid("status", f"unknown status {self.status!r}; known: {', '.join(STATUSES)}")
        if self.due is not None and self.due not in DUE_FILTERS:
            raise Invalid("due", f"unknown due filter {self.due!r}; known: {', '.join(DUE_FILTERS)}")
        out = [getattr(Ticket, task) == check_label(labels, task, getattr(self, task))
               for task in ("domain", "sentiment", "appeal") if getattr(self, task) is not None]
        out += [getattr(Ticket, name) == getattr(self, name)
                for name in ("status", "urgent", "needs_review") if getattr(self, name) is not None]
        if self.since is not None:
            out.append(Ticket.created_at >= self.since)
        if self.until is not None:
            out.append(Ticket.created_at < self.until)
        if self.due is not None:
            out += due_conditions(utcnow())[self.due]
        return out


def due_conditions(now: datetime) -> dict[str, list[ColumnElement[bool]]]:
    """Per due filter, the conditions of its tickets at `now` (core.deadlines.due_state in SQL)."""
    unresolved = Ticket.status != "resolved"
    return {"overdue": [unresolved, Ticket.due_at < now],
            "soon": [unresolved, Ticket.due_at >= now, Ticket.due_at < now + DUE_SOON]}


@dataclass(frozen=True)
class Relabel:
    reason: str
    domain: str | None = None
    sentiment: str | None = None
    appeal: str | None = None
    urgent: bool | None = None


def queue_summaries(session: Session, labels: LabelSet, visible: Visible) -> list[dict[str, Any]]:
    """Each visible queue of routing.yaml with its ticket counts by status, its unresolved urgent tickets, and its
    overdue and due-soon ones."""
    out = {q: {"queue": q, "department": r.department, "counts": dict.fromkeys(STATUSES, 0), "urgent": 0,
               "overdue": 0, "due_soon": 0}
           for q, r in labels.queues().items() if visible is None or q in visible}
    for name, conditions in due_conditions(utcnow()).items():
        key = "due_soon" if name == "soon" else name
        for queue, n in session.execute(select(Ticket.queue, func.count()).where(Ticket.queue.in_(list(out)), *conditions)
                                        .group_by(Ticket.queue)):
            out[queue][key] = n
    rows = session.execute(
        select(Ticket.queue, Ticket.status, Ticket.urgent, func.count())
        .where(Ticket.queue.in_(list(out))).group_by(Ticket.queue, Ticket.status, Ticket.urgent))
    for queue, status, urgent, n in rows:
        out[queue]["counts"][status] += n
        if urgent and status != "resolved":
            out[queue]["urgent"] += n
    return list(out.values())


ORDERS = ("urgent", "uncertain", "due")


def list_tickets(session: Session, labels: LabelSet, queue: str, filters: TicketFilter, visible: Visible,
                 limit: int, offset: int = 0, order: str = "urgent") -> tuple[list[dict[str, Any]], int]:
    """One page of a queue, and the number of tickets matching in all. order "urgent": urgent first, then
    oldest first; "uncertain": lowest domain confidence at intake first, where a label teaches the model most;
    "due": the earliest due time first (tickets without one last)."""
    if order not in ORDERS:
        raise Invalid("order", f"unknown order {order!r}; known: {', '.join(ORDERS)}")
    if visible is not None and queue not in visible:
        raise NotVisible(f"queue {queue!r}")
    if queue not in labels.queues():
        raise NotFound(f"no queue {queue!r}")
    where = [Ticket.queue == queue, *filters.conditions(labels)]
    total = session.scalar(select(func.count()).select_from(Ticket).where(*where))
    query = select(Ticket).where(*where)
    if order == "uncertain":
        intake = (select(Prediction.ticket_id, func.min(Prediction.id).label("id"))
                  .group_by(Prediction.ticket_id).subquery())
        query = (query.join(intake, intake.c.ticket_id == Ticket.id).join(Prediction, Prediction.id == intake.c.id)
                 .order_by(Prediction.domain_confidence, Ticket.id))
    elif order == "due":
        query = query.order_by(Ticket.due_at.is_(None), Ticket.due_at, Ticket.id)
    else:  # 'high' sorts before 'normal' (the only two priorities): the order of the queue index
        query = query.order_by(Ticket.priority, Ticket.created_at, Ticket.id)
    tickets = session.scalars(query.limit(limit).offset(offset)).all()
    predictions = _first_predictions(session, [t.id for t in tickets])
    return [_with_confidence(t, predictions.get(t.id), labels) for t in tickets], total


def ticket_detail(session: Session, labels: LabelSet, ticket_id: int, visible: Visible) -> dict[str, Any]:
    """The ticket with the model's confidences, top-3 domains, urgent and praise cues, its human labels and audit trail."""
    ticket = readable_ticket(session, ticket_id, visible)
    prediction = _first_predictions(session, [ticket_id]).get(ticket_id)
    out = _with_confidence(ticket, prediction, labels)
    out.update(intake_cues(prediction and prediction.scores))
    out["human_labels"] = [
        {"task": h.task, "before": h.before, "after": h.after, "kind": h.kind, "reason": h.reason, "actor": h.actor,
         "created_at": h.created_at.isoformat()}
        for h in session.scalars(select(HumanLabel).where(HumanLabel.ticket_id == ticket_id).order_by(HumanLabel.id))]
    out["history"] = [
        {"action": e.action, "actor": e.actor, "detail": e.detail, "created_at": e.created_at.isoformat()}
        for e in session.scalars(select(AuditEvent).where(AuditEvent.ticket_id == ticket_id).order_by(AuditEvent.id))]
    return out


def claim(sessions: sessionmaker[Session], ticket_id: int, actor: str, visible: Visible) -> dict[str, Any]:
    """open → claimed by `actor`. Claiming one's own claim again changes nothing."""
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, visible)
        if ticket.status == "resolved":
            raise Conflict("the ticket is resolved; reopen it first")
        _check_claim(ticket, actor)
        if ticket.status == "open":
            ticket.status, ticket.claimed_by, ticket.claimed_at = "claimed", actor, utcnow()
            session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="ticket.claimed", detail={}))
        return ticket_to_dict(ticket)


def unclaim(sessions: sessionmaker[Session], ticket_id: int, actor: str, visible: Visible,
            anyones: bool = False) -> dict[str, Any]:
    """claimed → open, for another official to take: one's own claim, or with `anyones` (admins) anybody's, e.g.
    the claim of an official who left."""
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, visible)
        if ticket.status != "claimed":
            raise Conflict(f"only a claimed ticket can be released; this one is {ticket.status}")
        if not anyones:
            _check_claim(ticket, actor)
        previous = ticket.claimed_by
        ticket.status, ticket.claimed_by, ticket.claimed_at = "open", None, None
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="ticket.unclaimed",
                               detail={"from": previous}))
        return ticket_to_dict(ticket)


def assign(sessions: sessionmaker[Session], ticket_id: int, assignee: str, actor: str,
           visible: Visible) -> dict[str, Any]:
    """An open or claimed ticket becomes claimed by `assignee`, an active official who may read its queue (or an
    admin), whoever held it before. Assigning it to its holder changes nothing."""
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, visible)
        if ticket.status == "resolved":
            raise Conflict("the ticket is resolved; reopen it first")
        user = active_principal(session, assignee)
        if user is None or user.role not in ("official", "admin"):
            raise Invalid("to", f"no active official {assignee!r}")
        if not user.may_see(ticket.queue):
            raise Invalid("to", f"{assignee} may not read queue {ticket.queue!r}")
        if ticket.status == "claimed" and ticket.claimed_by == assignee:
            return ticket_to_dict(ticket)
        previous = ticket.claimed_by
        ticket.status, ticket.claimed_by, ticket.claimed_at = "claimed", assignee, utcnow()
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="ticket.assigned",
                               detail={"from": previous, "to": assignee}))
        return ticket_to_dict(ticket)


def relabel(sessions: sessionmaker[Session], labels: LabelSet, ticket_id: int, change: Relabel, actor: str,
            visible: Visible) -> dict[str, Any]:
    """Sets the given labels. Each changed one becomes a "relabel" HumanLabel; a domain moves the ticket to that
    domain's queue (releasing a claim, since another department takes over) and ends needs_review. Confirming
    the model's domain of a triage ticket routes it too, recorded as a "confirm". Labels that change the time
    limit's rule re-compute the due time from the same start ("ticket.due_changed")."""
    if not change.reason.strip():
        raise Invalid("reason", "say why the labels change")
    wanted = {task: check_label(labels, task, getattr(change, task))
              for task in ("domain", "sentiment", "appeal") if getattr(change, task) is not None}
    if change.urgent is not None:
        wanted["urgent"] = _urgent_label(labels, change.urgent)
    if not wanted:
        raise Invalid("body", "give at least one of domain, sentiment, appeal, urgent")
    with sessions.begin() as session:
        ticket = _labelable(session, ticket_id, actor, visible)
        current = _labels_of(ticket, labels)
        changed = {task: (current[task], after) for task, after in wanted.items() if after != current[task]}
        dest = labels.routes[wanted["domain"]] if "domain" in wanted else None
        moves = dest is not None and dest.queue != ticket.queue
        if not changed and not moves:
            return ticket_to_dict(ticket)
        for task, (before, after) in changed.items():
            session.add(HumanLabel(ticket_id=ticket_id, actor=actor, task=task, before=before, after=after,
                                   reason=change.reason, kind="relabel"))
        if moves and "domain" not in changed:
            session.add(HumanLabel(ticket_id=ticket_id, actor=actor, task="domain", before=ticket.domain,
                                   after=ticket.domain, reason=change.reason, kind="confirm"))
        ticket.domain = wanted.get("domain", ticket.domain)
        ticket.sentiment = wanted.get("sentiment", ticket.sentiment)
        ticket.appeal = wanted.get("appeal", ticket.appeal)
        ticket.urgent = wanted.get("urgent", current["urgent"]) == _urgent_label(labels, True)
        ticket.priority = labels.priorities["urgent" if ticket.urgent else "default"]
        detail = {"changes": {task: list(pair) for task, pair in changed.items()}}
        if dest is not None:
            detail.update(from_queue=ticket.queue, to_queue=dest.queue)
            ticket.queue, ticket.department, ticket.needs_review = dest.queue, dest.department, False
            if moves:
                ticket.status, ticket.claimed_by, ticket.claimed_at = "open", None, None
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="ticket.relabeled", detail=detail))
        reschedule(session, ticket, actor, "relabel")
        return ticket_to_dict(ticket)


def confirm(sessions: sessionmaker[Session], labels: LabelSet, ticket_id: int, tasks: Collection[str], actor: str,
            visible: Visible) -> dict[str, Any]:
    """The caller looked at these tasks' current labels and says they are right: each becomes a "confirm"
    HumanLabel, which retraining learns from like a correction. A task whose latest human label already holds
    its current value adds nothing (confirming twice is one confirmation)."""
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        raise Invalid("tasks", f"unknown task {', '.join(unknown)}; known: {', '.join(TASKS)}")
    if not tasks:
        raise Invalid("tasks", f"give at least one of {', '.join(TASKS)}")
    with sessions.begin() as session:
        ticket = _labelable(session, ticket_id, actor, visible)
        current = _labels_of(ticket, labels)
        verdicts = {h.task: h.after for h in session.scalars(
            select(HumanLabel).where(HumanLabel.ticket_id == ticket_id).order_by(HumanLabel.id))}
        confirmed = [task for task in TASKS if task in tasks and verdicts.get(task) != current[task]]
        for task in confirmed:
            session.add(HumanLabel(ticket_id=ticket_id, actor=actor, task=task, before=current[task],
                                   after=current[task], reason=CONFIRMED, kind="confirm"))
        if confirmed:
            session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="ticket.confirmed",
                                   detail={"confirmed": {task: current[task] for task in confirmed}}))
        return ticket_to_dict(ticket)


def resolve(sessions: sessionmaker[Session], labels: LabelSet, ticket_id: int, reply: str, actor: str,
            visible: Visible) -> dict[str, Any]:
    """Resolved with the reply. Resolving confirms no label: an official answers the citizen without
    necessarily checking the model's tags, so only `confirm` and `relabel` feed retraining."""
    if not reply.strip():
        raise Invalid("reply", "must not be empty")
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, visible)
        if ticket.status == "resolved":
            raise Conflict("the ticket is already resolved")
        _check_claim(ticket, actor)
        ticket.status, ticket.reply, ticket.resolved_at = "resolved", reply, utcnow()
        if ticket.claimed_by is None:
            ticket.claimed_by, ticket.claimed_at = actor, ticket.resolved_at
        # the reply's length only: audit details carry no free text, which may quote the citizen
        session.add(AuditEvent(ticket_id=ticket_id, actor=actor, action="ticket.resolved",
                               detail={"reply_chars": len(reply)}))
        record_resolution(session, ticket, actor)
        return ticket_to_dict(ticket)


def reopen(sessions: sessionmaker[Session], ticket_id: int, actor: str, visible: Visible) -> dict[str, Any]:
    """resolved → open and unclaimed; its time limit starts again (store/due.py reopen_resolved)."""
    with sessions.begin() as session:
        ticket = _locked(session, ticket_id, visible)
        if ticket.status != "resolved":
            raise Conflict(f"only a resolved ticket can be reopened; this one is {ticket.status}")
        reopen_resolved(session, ticket, actor, "official", {})
        return ticket_to_dict(ticket)


def analytics(session: Session, labels: LabelSet, visible: Visible, weeks: int) -> dict[str, Any]:
    """Tickets per domain per ISO week (Beijing time) and the sentiment share per domain, over the last `weeks`
    weeks (this one included) of the visible queues."""
    today = utcnow().astimezone(LOCAL_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=today.weekday(), weeks=weeks - 1)  # a Monday
    week_ids = [_iso_week(start + timedelta(weeks=i)) for i in range(weeks)]
    query = select(Ticket.domain, Ticket.sentiment, Ticket.created_at).where(Ticket.created_at >= start)
    if visible is not None:
        query = query.where(Ticket.queue.in_(visible))
    per_week: defaultdict[str, Counter[str]] = defaultdict(Counter)
    sentiments: defaultdict[str, Counter[str]] = defaultdict(Counter)
    for domain, sentiment, created_at in session.execute(query):
        per_week[domain][_iso_week(created_at)] += 1
        sentiments[domain][sentiment] += 1
    domains = [d for d in labels.domains if d in per_week]
    totals = {d: sum(sentiments[d].values()) for d in domains}
    return {
        "weeks": week_ids,
        "sentiments": list(labels.values["sentiment"]),
        "tickets_per_week": [{"domain": d, "counts": [per_week[d][w] for w in week_ids]} for d in domains],
        "sentiment_share": [
            {"domain": d, "total": totals[d],
             "share": {s: round(sentiments[d][s] / totals[d], 4) for s in labels.values["sentiment"]}}
            for d in domains],
    }


def _iso_week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(LOCAL_TZ).isocalendar()
    return f"{year}-W{week:02d}"


def readable_ticket(session: Session, ticket_id: int, visible: Visible) -> Ticket:
    """The ticket if it exists (404) and is in one of the `visible` queues (403)."""
    return _visible(session.get(Ticket, ticket_id), ticket_id, visible)


def _visible(ticket: Ticket | None, ticket_id: int, visible: Visible) -> Ticket:
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}")
    if visible is not None and ticket.queue not in visible:
        raise NotVisible(f"ticket {ticket_id} is in queue {ticket.queue!r}")
    return ticket


def _locked(session: Session, ticket_id: int, visible: Visible) -> Ticket:
    """The ticket, locked until the transaction ends, so that two officials cannot both claim it. PostgreSQL:
    SELECT ... FOR UPDATE. SQLite has no row locks, and pysqlite begins its transaction only at the first write,
    so a read could be stale by the time it writes: a write first takes the database's write lock."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Ticket).where(Ticket.id == ticket_id).values(updated_at=utcnow()))
    return _visible(session.get(Ticket, ticket_id, with_for_update=True), ticket_id, visible)


def _labelable(session: Session, ticket_id: int, actor: str, visible: Visible) -> Ticket:
    """The ticket, locked, if `actor` may change or confirm its labels now: unresolved, not claimed by another."""
    ticket = _locked(session, ticket_id, visible)
    if ticket.status == "resolved":
        raise Conflict("the ticket is resolved; reopen it first")
    _check_claim(ticket, actor)
    return ticket


def _check_claim(ticket: Ticket, actor: str) -> None:
    if ticket.status == "claimed" and ticket.claimed_by != actor:
        raise Conflict(f"claimed by {ticket.claimed_by}")


def _urgent_label(labels: LabelSet, urgent: bool) -> str:
    return labels.values["urgent"][int(urgent)]  # [否, 是]: the index order of the model's urgent head


def _labels_of(row: Ticket | Prediction, labels: LabelSet) -> dict[str, str]:
    return {"domain": row.domain, "sentiment": row.sentiment, "appeal": row.appeal,
            "urgent": _urgent_label(labels, row.urgent)}


def _first_predictions(session: Session, ticket_ids: list[int]) -> dict[int, Prediction]:
    first = select(func.min(Prediction.id)).where(Prediction.ticket_id.in_(ticket_ids)).group_by(Prediction.ticket_id)
    return {p.ticket_id: p for p in session.scalars(select(Prediction).where(Prediction.id.in_(first)))}


def _with_confidence(ticket: Ticket, prediction: Prediction | None, labels: LabelSet) -> dict[str, Any]:
    """ticket_to_dict plus, per task, the model's confidence (for urgent: its probability of urgent, as at intake)
    where the current label is the model's; None where a person set another one."""
    out = ticket_to_dict(ticket)
    current = _labels_of(ticket, labels)
    predicted = {} if prediction is None else _labels_of(prediction, labels)
    out["confidence"] = {task: getattr(prediction, f"{task}_confidence") if predicted.get(task) == current[task]
                         else None for task in TASKS}
    return out

"""Similar past cases: the case base's vectors as one in-memory float32 matrix per model version, searched by
brute force (bench/similar_cases.md: a few milliseconds at this size), and `minsheng cases build`.

The matrix is loaded from the store at start-up and kept current by appending: a ticket resolved here is added
at once; cases added by other replicas or by `minsheng cases build` are picked up by the next search (rows with
a higher id, or a reload when the count disagrees, e.g. after a rebuild re-embedded old rows)."""
from __future__ import annotations

import csv
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from minsheng.assist.similarity import DTYPE, from_bytes, to_bytes, top_k
from minsheng.core.labels import LabelSet
from minsheng.core.nlp import find_pii, mask_pii, masked_input
from minsheng.core.text import normalize
from minsheng.settings import PROJECT_DIR
from minsheng.store.cases import (
    NewCase,
    case_count,
    case_vectors,
    case_versions,
    upsert_cases,
)
from minsheng.store.models import HotIssueTicket, Ticket

log = logging.getLogger("minsheng.cases")
REPLIES_CSV = PROJECT_DIR / "data" / "cases" / "replies.csv"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

Embed = Callable[[list[str]], tuple[str, np.ndarray]]  # model inputs -> (model version, unit vectors)


class VectorMatrix:
    """Row ids and unit vectors of one model version, growing by appending (amortised: capacity doubles)."""

    def __init__(self, model_version: str | None = None, dim: int = 0):
        self.model_version = model_version
        self.ids: list[int] = []
        self._rows = np.zeros((0, dim), dtype=DTYPE)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def matrix(self) -> np.ndarray:
        return self._rows[: len(self.ids)]

    def append(self, ids: Sequence[int], vectors: np.ndarray) -> None:
        if not len(ids):
            return
        vectors = np.asarray(vectors, dtype=DTYPE).reshape(len(ids), -1)
        n = len(self.ids)
        if self._rows.shape[1] != vectors.shape[1]:
            if n:
                raise ValueError(f"vectors of {vectors.shape[1]} dimensions, the matrix has {self._rows.shape[1]}")
            self._rows = np.zeros((0, vectors.shape[1]), dtype=DTYPE)
        if n + len(ids) > self._rows.shape[0]:
            grown = np.zeros((max(2 * self._rows.shape[0], n + len(ids), 1024), vectors.shape[1]), dtype=DTYPE)
            grown[:n] = self._rows[:n]
            self._rows = grown
        self._rows[n:n + len(ids)] = vectors
        self.ids.extend(int(i) for i in ids)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        idx, sims = top_k(self.matrix, query, k)
        return [(self.ids[i], float(s)) for i, s in zip(idx, sims)]


class CaseIndex:
    """The case base of one model version in memory; thread-safe."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions
        self._lock = threading.Lock()
        self._cases = VectorMatrix()

    @property
    def model_version(self) -> str | None:
        return self._cases.model_version

    def __len__(self) -> int:
        return len(self._cases)

    def sync(self, model_version: str) -> None:
        """Load the version's cases (all of them when the version changed or rows were re-embedded, else the new
        ones)."""
        with self._lock:
            with self.sessions() as session:
                cases = self._cases
                if cases.model_version != model_version:
                    cases = VectorMatrix(model_version)
                after = max(cases.ids, default=0)
                rows = case_vectors(session, model_version, after)
                if len(cases) + len(rows) != case_count(session, model_version):
                    cases, rows = VectorMatrix(model_version), case_vectors(session, model_version)
            if rows:
                cases.append([i for i, _ in rows], np.stack([from_bytes(v) for _, v in rows]))
            if cases is not self._cases:
                log.info("case base: %d cases of model %s", len(cases), model_version)
            self._cases = cases

    def add(self, case_ids: Sequence[int], vectors: np.ndarray, model_version: str) -> None:
        with self._lock:
            if model_version == self._cases.model_version:
                known = set(self._cases.ids)
                keep = [j for j, i in enumerate(case_ids) if i not in known]
                self._cases.append([case_ids[j] for j in keep], np.asarray(vectors)[keep])

    def search(self, query: np.ndarray, model_version: str, k: int) -> list[tuple[int, float]]:
        """(case id, cosine similarity) of the k most similar cases, best first."""
        self.sync(model_version)
        cases = self._cases  # a reload swaps the object: this search reads one consistent matrix
        return cases.search(query, k) if cases.model_version == model_version else []


# --- cases from resolved tickets ------------------------------------------------------------------------------
def _masked_title(title: str | None) -> str | None:
    title = normalize(title)
    return mask_pii(title, find_pii(title)) if title else None


def ticket_case(ticket: dict[str, Any], model_version: str, vector: np.ndarray) -> NewCase:
    """A resolved ticket (ticket_to_dict) as a case: its masked text, its reply, its current (confirmed) labels
    and department."""
    text = normalize(ticket["text"])
    reply = ticket["reply"].strip()
    return NewCase(
        source="ticket", source_id=str(ticket["id"]), ticket_id=ticket["id"], title=_masked_title(ticket["title"]),
        text=mask_pii(text, ticket["pii"]), reply=mask_pii(reply, find_pii(reply)), domain=ticket["domain"],
        queue=ticket["queue"], department=ticket["department"],
        answered_at=datetime.fromisoformat(ticket["resolved_at"]) if ticket.get("resolved_at") else None,
        model_version=model_version, vector=to_bytes(vector))


def ticket_input(ticket: dict[str, Any]) -> str:
    """What is embedded of a ticket: title and text with PII masked."""
    return masked_input(ticket["title"], ticket["text"], ticket["pii"])


def add_resolved_tickets(sessions: sessionmaker[Session], tickets: Sequence[dict[str, Any]], embed: Embed,
                         index: CaseIndex | None = None) -> list[int]:
    """Resolved tickets join the case base (a ticket resolved again gets its new reply): embedded in one call,
    stored, and appended to the in-memory index."""
    tickets = [t for t in tickets if t["status"] == "resolved" and t.get("reply")]
    if not tickets:
        return []
    version, vectors = embed([ticket_input(t) for t in tickets])
    ids = upsert_cases(sessions, [ticket_case(t, version, v) for t, v in zip(tickets, vectors)])
    if index is not None:
        index.add(ids, vectors, version)
    return ids


# --- minsheng cases build -------------------------------------------------------------------------------------
def _reply_time(value: str) -> datetime | None:
    try:
        return datetime.strptime(value.strip(), "%Y/%m/%d %H:%M:%S").replace(tzinfo=LOCAL_TZ)
    except ValueError:
        return None


def build_case_base(sessions: sessionmaker[Session], clf, labels: LabelSet, path: Path = REPLIES_CSV,
                    limit: int | None = None, batch_size: int = 64, progress: bool = True) -> dict[str, int]:
    """Makes the case base current for the classifier `clf`: embeds the messages of `path` (id, title, text,
    reply, reply_time) that are missing or were embedded by another model, with the domain `clf` predicts and
    the department that domain routes to (the file has no labels); then the resolved tickets not in the case base
    yet and, for hot issues, the open grouped tickets embedded by another model. Idempotent: a second run embeds
    nothing. Commits batch by batch, so an interrupted build keeps what it did."""
    from tqdm import tqdm

    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if normalize(r.get("text")) and normalize(r.get("reply"))]
    rows = rows[:limit] if limit else rows
    with sessions() as session:
        stored = case_versions(session, "replies")
    todo = [r for r in rows if stored.get(r["id"]) != clf.version]
    counts = {"cases": len(rows), "embedded": len(todo), "unchanged": len(rows) - len(todo)}
    bar = tqdm(total=len(todo), desc="case base", unit="case", disable=not progress)
    for start in range(0, len(todo), batch_size):
        batch = todo[start:start + batch_size]
        titles = [_masked_title(r.get("title")) for r in batch]
        texts = [mask_pii(normalize(r["text"]), find_pii(normalize(r["text"]))) for r in batch]
        probs, vectors = clf.predict_and_embed([masked_input(t, x, []) for t, x in zip(titles, texts)])
        cases = []
        for i, r in enumerate(batch):
            j = int(np.argmax(probs["domain"][i]))
            domain = clf.labels["domain"][j]
            route = labels.routes[domain]
            reply = r["reply"].strip()
            cases.append(NewCase(
                source="replies", source_id=r["id"], title=titles[i], text=texts[i],
                reply=mask_pii(reply, find_pii(reply)), domain=domain,
                domain_confidence=round(float(probs["domain"][i][j]), 4), queue=route.queue,
                department=route.department, answered_at=_reply_time(r.get("reply_time", "")),
                model_version=clf.version, vector=to_bytes(vectors[i])))
        upsert_cases(sessions, cases)
        bar.update(len(batch))
    bar.close()
    counts["tickets"] = _refresh_tickets(sessions, clf, batch_size)
    counts["hot_issue_tickets"] = _refresh_hot_issue_vectors(sessions, clf, batch_size)
    return counts


def _embed_with(clf) -> Embed:
    return lambda texts: (clf.version, clf.embed(texts))


def _refresh_tickets(sessions: sessionmaker[Session], clf, batch_size: int) -> int:
    """Resolved tickets without a case of this model (resolved before the case base existed, or embedded by
    another model)."""
    from minsheng.store.models import CaseEntry
    from minsheng.store.tickets import ticket_to_dict

    with sessions() as session:
        current = select(CaseEntry.ticket_id).where(CaseEntry.model_version == clf.version,
                                                    CaseEntry.ticket_id.is_not(None))
        tickets = [ticket_to_dict(t) for t in session.scalars(
            select(Ticket).where(Ticket.status == "resolved", Ticket.reply.is_not(None), Ticket.id.not_in(current))
            .order_by(Ticket.id))]
    for start in range(0, len(tickets), batch_size):
        add_resolved_tickets(sessions, tickets[start:start + batch_size], _embed_with(clf))
    return len(tickets)


def _refresh_hot_issue_vectors(sessions: sessionmaker[Session], clf, batch_size: int) -> int:
    """Open grouped tickets embedded by another model get this one's vectors, so new tickets can join them."""
    from minsheng.store.tickets import ticket_to_dict

    with sessions() as session:
        stale = [ticket_to_dict(t) for t in session.scalars(
            select(Ticket).join(HotIssueTicket, HotIssueTicket.ticket_id == Ticket.id)
            .where(HotIssueTicket.model_version != clf.version, Ticket.status != "resolved").order_by(Ticket.id))]
    for start in range(0, len(stale), batch_size):
        batch = stale[start:start + batch_size]
        vectors = clf.embed([ticket_input(t) for t in batch])
        with sessions.begin() as session:
            for t, v in zip(batch, vectors):
                member = session.get(HotIssueTicket, t["id"])
                member.vector, member.model_version = to_bytes(v), clf.version
    return len(stale)

"""Similar past cases: the case base's vectors as one in-memory float32 matrix for the served embedding (model
version and quantization, model/embedding.py), searched by brute force (bench/similar_cases.md: a few
milliseconds at this size), and `minsheng cases build`, which embeds with the model exactly as served.

The matrix is loaded from the store at start-up and kept current by appending: a ticket resolved here is added
at once; cases added by other replicas or by `minsheng cases build` are picked up by the next search (rows with
a higher id, or a reload when the count disagrees, e.g. after a rebuild re-embedded old rows). Bound: one row per
case entry of the served embedding (a ticket resolved again keeps its one entry), in at most twice that capacity."""
from __future__ import annotations

import csv
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

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
    other_embeddings_count,
    upsert_cases,
)
from minsheng.store.models import HotIssueTicket, Ticket
from minsheng.store.queues import LOCAL_TZ

log = logging.getLogger("minsheng.cases")
REPLIES_CSV = PROJECT_DIR / "data" / "cases" / "replies.csv"

Embed = Callable[[list[str]], tuple[str, np.ndarray]]  # model inputs -> (embedding, unit vectors)
MIN_CAPACITY = 1024  # rows


class VectorMatrix:
    """Row ids and unit vectors of one embedding, growing by appending (amortised: capacity doubles) and
    shrinking by removing (below a quarter used, to twice the rows): capacity stays within 4x the rows, or
    MIN_CAPACITY."""

    def __init__(self, embedding: str | None = None, dim: int = 0):
        self.embedding = embedding
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
            self._resize(max(2 * self._rows.shape[0], n + len(ids)))
        self._rows[n:n + len(ids)] = vectors
        self.ids.extend(int(i) for i in ids)

    def remove(self, gone: set[int]) -> None:
        """Drops the rows of the ids in `gone`; the last row takes each one's place (row order is not kept)."""
        for position in sorted((p for p, i in enumerate(self.ids) if i in gone), reverse=True):
            last = len(self.ids) - 1  # never a removed row: those above `position` are gone already
            self._rows[position], self.ids[position] = self._rows[last], self.ids[last]
            self.ids.pop()
        if self.capacity > MIN_CAPACITY and len(self.ids) < self.capacity // 4:
            self._resize(2 * len(self.ids))

    def _resize(self, rows: int) -> None:
        resized = np.zeros((max(rows, MIN_CAPACITY), self._rows.shape[1]), dtype=DTYPE)
        resized[:len(self.ids)] = self._rows[:len(self.ids)]
        self._rows = resized

    @property
    def capacity(self) -> int:
        return self._rows.shape[0]

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        idx, sims = top_k(self.matrix, query, k)
        return [(self.ids[i], float(s)) for i, s in zip(idx, sims)]


class CaseIndex:
    """The case base of one embedding in memory; thread-safe."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions
        self._lock = threading.Lock()
        self._cases = VectorMatrix()

    @property
    def embedding(self) -> str | None:
        return self._cases.embedding

    def __len__(self) -> int:
        return len(self._cases)

    def sync(self, embedding: str) -> None:
        """Load the embedding's cases (all of them when the embedding changed or rows were re-embedded, else the
        new ones). Cases of another model or quantization are never compared: on a full load they are counted
        and reported (`minsheng cases build` re-embeds them)."""
        with self._lock:
            with self.sessions() as session:
                cases = self._cases
                if cases.embedding != embedding:
                    cases = VectorMatrix(embedding)
                after = max(cases.ids, default=0)
                rows = case_vectors(session, embedding, after)
                if len(cases) + len(rows) != case_count(session, embedding):
                    cases, rows = VectorMatrix(embedding), case_vectors(session, embedding)
                stale = other_embeddings_count(session, embedding) if cases is not self._cases else 0
            if rows:
                cases.append([i for i, _ in rows], np.stack([from_bytes(v) for _, v in rows]))
            if cases is not self._cases:
                log.info("case base: %d cases of embedding %s", len(cases), embedding)
                if stale:
                    log.warning("case base: %d cases embedded by another model or quantization are left out; "
                                "`minsheng cases build` re-embeds them", stale)
            self._cases = cases

    def add(self, case_ids: Sequence[int], vectors: np.ndarray, embedding: str) -> None:
        """Cases just stored here; ids known already (a ticket resolved again) are not added twice."""
        with self._lock:
            if embedding == self._cases.embedding:
                known = set(self._cases.ids)
                keep = [j for j, i in enumerate(case_ids) if i not in known]
                self._cases.append([case_ids[j] for j in keep], np.asarray(vectors)[keep])

    def search(self, query: np.ndarray, embedding: str, k: int) -> list[tuple[int, float]]:
        """(case id, cosine similarity) of the k most similar cases, best first."""
        self.sync(embedding)
        cases = self._cases  # a reload swaps the object: this search reads one consistent matrix
        return cases.search(query, k) if cases.embedding == embedding else []


# --- cases from resolved tickets ------------------------------------------------------------------------------
def _masked_title(title: str | None) -> str | None:
    title = normalize(title)
    return mask_pii(title, find_pii(title)) if title else None


def ticket_case(ticket: dict[str, Any], embedding: str, vector: np.ndarray) -> NewCase:
    """A resolved ticket (ticket_to_dict) as a case: its masked text, its reply, its current (confirmed) labels
    and department."""
    text = normalize(ticket["text"])
    reply = ticket["reply"].strip()
    return NewCase(
        source="ticket", source_id=str(ticket["id"]), ticket_id=ticket["id"], title=_masked_title(ticket["title"]),
        text=mask_pii(text, [*ticket["pii"], *find_pii(text)]),  # today's rules too: older spans lack names
        reply=mask_pii(reply, find_pii(reply)), domain=ticket["domain"],
        queue=ticket["queue"], department=ticket["department"],
        answered_at=datetime.fromisoformat(ticket["resolved_at"]) if ticket.get("resolved_at") else None,
        model_version=embedding, vector=to_bytes(vector))


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
                    limit: int | None = None, batch_size: int = 64, progress: bool = True,
                    on_batch: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Makes the case base current for the classifier `clf`, loaded as the service runs it (its embedding: model
    version and quantization): embeds the messages of `path` (id, title, text, reply, reply_time) that are
    missing or were embedded by another model or quantization, with the domain `clf` predicts and
    the department that domain routes to (the file has no labels); then the resolved tickets not in the case base
    yet and, for hot issues, the open grouped tickets of another embedding. Idempotent: a second run embeds
    nothing. Commits batch by batch, so an interrupted build keeps what it did. progress: a progress bar on
    stderr; on_batch(done, todo) after each committed batch of the file's messages."""
    from tqdm import tqdm

    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if normalize(r.get("text")) and normalize(r.get("reply"))]
    rows = rows[:limit] if limit else rows
    with sessions() as session:
        stored = case_versions(session, "replies")
    todo = [r for r in rows if stored.get(r["id"]) != clf.embedding]
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
                model_version=clf.embedding, vector=to_bytes(vectors[i])))
        upsert_cases(sessions, cases)
        bar.update(len(batch))
        if on_batch:
            on_batch(start + len(batch), len(todo))
    bar.close()
    counts["tickets"] = _refresh_tickets(sessions, clf, batch_size)
    counts["hot_issue_tickets"] = _refresh_hot_issue_vectors(sessions, clf, batch_size)
    return counts


def _embed_with(clf) -> Embed:
    return lambda texts: (clf.embedding, clf.embed(texts))


def _refresh_tickets(sessions: sessionmaker[Session], clf, batch_size: int) -> int:
    """Resolved tickets without a case of this embedding (resolved before the case base existed, or embedded by
    another model or quantization)."""
    from minsheng.store.models import CaseEntry
    from minsheng.store.tickets import ticket_to_dict

    with sessions() as session:
        current = select(CaseEntry.ticket_id).where(CaseEntry.model_version == clf.embedding,
                                                    CaseEntry.ticket_id.is_not(None))
        tickets = [ticket_to_dict(t) for t in session.scalars(
            select(Ticket).where(Ticket.status == "resolved", Ticket.reply.is_not(None), Ticket.id.not_in(current))
            .order_by(Ticket.id))]
    for start in range(0, len(tickets), batch_size):
        add_resolved_tickets(sessions, tickets[start:start + batch_size], _embed_with(clf))
    return len(tickets)


def _refresh_hot_issue_vectors(sessions: sessionmaker[Session], clf, batch_size: int) -> int:
    """Open grouped tickets of another embedding get this one's vectors, so new tickets can join them."""
    from minsheng.store.tickets import ticket_to_dict

    with sessions() as session:
        stale = [ticket_to_dict(t) for t in session.scalars(
            select(Ticket).join(HotIssueTicket, HotIssueTicket.ticket_id == Ticket.id)
            .where(HotIssueTicket.model_version != clf.embedding, Ticket.status != "resolved").order_by(Ticket.id))]
    for start in range(0, len(stale), batch_size):
        batch = stale[start:start + batch_size]
        vectors = clf.embed([ticket_input(t) for t in batch])
        with sessions.begin() as session:
            for t, v in zip(batch, vectors):
                member = session.get(HotIssueTicket, t["id"])
                member.vector, member.model_version = to_bytes(v), clf.embedding
    return len(stale)

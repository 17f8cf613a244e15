"""Grouping on submit: a new ticket joins the hot issue of the most similar unresolved ticket that raises the same
issue (minsheng.assist.similarity.SameIssueRule: vectors, places, problem words), or starts one.

What the unresolved grouped tickets are compared on (vector, places, problem words) is held in memory, for the
served embedding only. Before each assignment the index is made to match the store: the ids of the unresolved
grouped tickets are read (one small query), tickets resolved since (here, in bulk, or by another replica) leave
memory, and tickets grouped or reopened since (by any replica, in any order) are loaded. So memory holds exactly
the open grouped tickets, whatever their number was before. Every unresolved ticket above the rule's cosine floor
is checked, most similar first, as bench/hot_issues.py measures it; the chosen ticket's status is read from the
store first, so a ticket resolved meanwhile is not joined. Assignments in one process are serialized (two reposts
arriving together land in one group); across replicas two may race and start two groups.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from minsheng.assist.cases import VectorMatrix, ticket_input
from minsheng.assist.similarity import (
    DEFAULT_RULE,
    SameIssueRule,
    districts,
    from_bytes,
    issue_features,
    to_bytes,
)
from minsheng.store.hot_issues import (
    issue_title,
    join_hot_issue,
    member_status,
    open_member_ids,
    open_members,
)

log = logging.getLogger("minsheng.hot_issues")
VERIFY = 8  # matching candidates whose status is read at once


class _Open:
    """The unresolved grouped tickets of one embedding: vectors, and places and words (by ticket id) as sets."""

    def __init__(self, embedding: str | None = None):
        self.vectors = VectorMatrix(embedding)
        self.places: dict[int, list[str]] = {}
        self.words: dict[int, set[str]] = {}

    def __len__(self) -> int:
        return len(self.vectors)

    @property
    def embedding(self) -> str | None:
        return self.vectors.embedding

    def append(self, ticket_ids, vectors, places, words) -> None:
        self.vectors.append(ticket_ids, vectors)
        for ticket_id, p, w in zip(ticket_ids, places, words):
            self.places[ticket_id], self.words[ticket_id] = list(p), set(w)

    def remove(self, gone: set[int]) -> None:
        self.vectors.remove(gone)
        for ticket_id in gone:
            self.places.pop(ticket_id, None)
            self.words.pop(ticket_id, None)


class HotIssueIndex:
    def __init__(self, sessions: sessionmaker[Session], rule: SameIssueRule = DEFAULT_RULE):
        self.sessions = sessions
        self.rule = rule
        self._lock = threading.Lock()
        self._open = _Open()

    def __len__(self) -> int:
        """Tickets held in memory: the open grouped tickets of the embedding last assigned with."""
        return len(self._open)

    def _sync(self, embedding: str) -> None:
        """Memory made to hold the store's open grouped tickets of `embedding`, no more, no fewer."""
        if self._open.embedding != embedding:
            self._open = _Open(embedding)
        with self.sessions() as session:
            open_ids = open_member_ids(session, embedding)
            new = open_ids.difference(self._open.places)
            rows = open_members(session, embedding, new) if new else []
        self._open.remove(set(self._open.places).difference(open_ids))
        if rows:
            self._open.append([r[0] for r in rows], np.stack([from_bytes(r[1]) for r in rows]),
                              [r[2] for r in rows], [r[3] for r in rows])

    @staticmethod
    def features(ticket: dict[str, Any]) -> tuple[list[str], list[str]]:
        """Places and problem words of the masked title and text (the stored ticket's are of the text alone)."""
        return issue_features(ticket_input(ticket))

    def _candidates(self, vector: np.ndarray, places: list[str], words: list[str]) -> list[tuple[int, float]]:
        """Unresolved tickets (as far as memory knows) raising the same issue, most similar first."""
        if not len(self._open.vectors):
            return []
        sims = self._open.vectors.matrix @ vector
        above = np.nonzero(sims >= self.rule.floor)[0]
        above = above[np.argsort(-sims[above], kind="stable")]
        mine_districts = districts(places)
        out = []
        for j in above:
            ticket_id = self._open.vectors.ids[j]
            other = self._open.places[ticket_id]
            # cheap rejections first; the rule decides
            if mine_districts and (d := districts(other)) and not mine_districts & d:
                continue
            if self.rule.same(float(sims[j]), places, other, words, self._open.words[ticket_id]):
                out.append((ticket_id, float(sims[j])))
        return out

    def match(self, vector: np.ndarray, places: list[str], words: list[str]) -> tuple[int, float] | None:
        """The most similar unresolved ticket raising the same issue, with its similarity; None if none does."""
        candidates = self._candidates(vector, places, words)
        for start in range(0, len(candidates), VERIFY):
            batch = candidates[start:start + VERIFY]
            with self.sessions() as session:
                status = member_status(session, [t for t, _ in batch])
            gone = {t for t, _ in batch if status.get(t, "resolved") == "resolved"}
            if gone:  # resolved meanwhile: they stay in their group, but nothing joins through them
                self._open.remove(gone)
            for ticket_id, similarity in batch:
                if ticket_id not in gone:
                    return ticket_id, similarity
        return None

    def assign(self, ticket: dict[str, Any], vector: np.ndarray, embedding: str) -> int:
        """Groups a new ticket (ticket_to_dict) by its vector of `embedding`; returns its hot issue's id."""
        vector = np.asarray(vector, dtype=np.float32)
        places, words = self.features(ticket)
        with self._lock:
            self._sync(embedding)
            matched = self.match(vector, places, words)
            issue_id = join_hot_issue(self.sessions, ticket["id"], issue_title(ticket), to_bytes(vector),
                                      embedding, places, words, matched)
            if ticket["id"] not in self._open.places:
                self._open.append([ticket["id"]], vector[None, :], [places], [words])
        if matched:
            log.info("ticket %s joins hot issue %s (similarity %.3f to ticket %s)", ticket["id"], issue_id,
                     matched[1], matched[0])
        return issue_id

"""Grouping on submit: a new ticket joins the hot issue of the most similar unresolved ticket that raises the same
issue (minsheng.similarity.SameIssueRule: vectors, places, problem words), or starts one.

What the unresolved grouped tickets are compared on (vector, places, problem words) is held in memory: loaded at
start, appended on submit, tickets grouped by other replicas picked up by id. Every unresolved ticket above the
rule's cosine floor is checked, most similar first, as bench/hot_issues.py measures it; the chosen ticket's status
is read from the store first, so a ticket resolved meanwhile is not joined. Assignments in one process are
serialized (two reposts arriving together land in one group); across replicas two may race and start two groups.
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
from minsheng.store.hot_issues import issue_title, join_hot_issue, member_status, open_members

log = logging.getLogger("minsheng.hot_issues")
VERIFY = 8  # matching candidates whose status is read at once


class _Open:
    """The unresolved grouped tickets of one model version: vectors, and places and words as sets."""

    def __init__(self, model_version: str | None = None):
        self.vectors = VectorMatrix(model_version)
        self.places: list[list[str]] = []
        self.words: list[set[str]] = []

    @property
    def model_version(self) -> str | None:
        return self.vectors.model_version

    def append(self, ticket_ids, vectors, places, words) -> None:
        self.vectors.append(ticket_ids, vectors)
        self.places.extend(list(p) for p in places)
        self.words.extend(set(w) for w in words)

    def without(self, gone: set[int]) -> "_Open":
        keep = [j for j, t in enumerate(self.vectors.ids) if t not in gone]
        out = _Open(self.model_version)
        out.append([self.vectors.ids[j] for j in keep], self.vectors.matrix[keep], [self.places[j] for j in keep],
                   [self.words[j] for j in keep])
        return out


class HotIssueIndex:
    def __init__(self, sessions: sessionmaker[Session], rule: SameIssueRule = DEFAULT_RULE):
        self.sessions = sessions
        self.rule = rule
        self._lock = threading.Lock()
        self._open = _Open()

    def _sync(self, model_version: str) -> None:
        if self._open.model_version != model_version:
            self._open = _Open(model_version)
        with self.sessions() as session:
            rows = open_members(session, model_version, max(self._open.vectors.ids, default=0))
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
            other = self._open.places[j]
            # cheap rejections first; the rule decides
            if mine_districts and (d := districts(other)) and not mine_districts & d:
                continue
            if self.rule.same(float(sims[j]), places, other, words, self._open.words[j]):
                out.append((self._open.vectors.ids[j], float(sims[j])))
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
                self._open = self._open.without(gone)
            for ticket_id, similarity in batch:
                if ticket_id not in gone:
                    return ticket_id, similarity
        return None

    def assign(self, ticket: dict[str, Any], vector: np.ndarray, model_version: str) -> int:
        """Groups a new ticket (ticket_to_dict); returns its hot issue's id."""
        vector = np.asarray(vector, dtype=np.float32)
        places, words = self.features(ticket)
        with self._lock:
            self._sync(model_version)
            matched = self.match(vector, places, words)
            issue_id = join_hot_issue(self.sessions, ticket["id"], issue_title(ticket), to_bytes(vector),
                                      model_version, places, words, matched)
            if ticket["id"] not in self._open.vectors.ids:
                self._open.append([ticket["id"]], vector[None, :], [places], [words])
        if matched:
            log.info("ticket %s joins hot issue %s (similarity %.3f to ticket %s)", ticket["id"], issue_id,
                     matched[1], matched[0])
        return issue_id

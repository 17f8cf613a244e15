"""Response assistance in the entry service: similar past cases for a ticket, hot-issue grouping on submit, and
resolved tickets joining the case base. Vectors come from the model service (Tagger.embed), so no second model is
loaded; what they are compared with is held in memory here (assist/cases.py, assist/hot_issues.py)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from minsheng.assist.cases import CaseIndex, add_resolved_tickets, ticket_input
from minsheng.assist.hot_issues import HotIssueIndex
from minsheng.core.text import normalize
from minsheng.model.embedding import embedding_id, served_quantize
from minsheng.store.cases import case_to_dict, cases_by_id
from minsheng.store.models import CaseEntry
from minsheng.store.queues import Visible, readable_ticket
from minsheng.store.tickets import ticket_to_dict

log = logging.getLogger("minsheng.assist")
TEXT_CHARS = 300  # of a past case's message; its reply is given whole
LOOKUP = 500  # case ids read from the store in one query (bound parameters stay well under any database's limit)


def expected_embedding(sessions: sessionmaker[Session]) -> str | None:
    """The embedding (model version and quantization) the Tagger loads at start (pinned, else promoted, else
    shipped; $MINSHENG_QUANTIZE), to load the case base before the first request; None if it cannot be told (then
    it is loaded on first use, with the Tagger's answer)."""
    try:
        from minsheng.model.registry import stored_model
        from minsheng.store import serving_tag

        with sessions() as session:
            tag = serving_tag(session)
        return embedding_id(str(stored_model(tag).tag.version), served_quantize())
    except Exception as e:  # noqa: BLE001
        log.warning("case base not preloaded: %s", type(e).__name__)
        return None


class Assistant:
    def __init__(self, sessions: sessionmaker[Session], tagger_embed: Callable[[list[str]], list[dict]]):
        """tagger_embed: Tagger.embed, model inputs → [{"model_version", "embedding", "vector"}]."""
        self.sessions = sessions
        self._tagger_embed = tagger_embed
        self.cases = CaseIndex(sessions)
        self.hot_issues = HotIssueIndex(sessions)

    def embed(self, texts: list[str]) -> tuple[str, np.ndarray]:
        """(embedding, unit vectors). A model switch in the middle of a call (vectors of two embeddings) is
        asked again."""
        for _ in range(2):
            out = self._tagger_embed(texts)
            embeddings = {o["embedding"] for o in out}
            if len(embeddings) == 1:
                return embeddings.pop(), np.asarray([o["vector"] for o in out], dtype=np.float32)
        raise RuntimeError("the model changed twice while embedding")

    def preload(self, embedding: str | None) -> None:
        if embedding:
            self.cases.sync(embedding)

    def similar(self, ticket_id: int, visible: Visible, k: int) -> dict[str, Any]:
        """The k most similar past cases the caller may read (the public case base and the tickets of its queues)
        with distinct replies (a hot issue resolved with one reply is one case here), the ticket's own case left
        out. Same access rule as the ticket."""
        with self.sessions() as session:
            ticket = ticket_to_dict(readable_ticket(session, ticket_id, visible))
        version, vectors = self.embed([ticket_input(ticket)])
        out, replies = [], set()
        for case, similarity in self._readable(vectors[0], version, visible, 3 * k + 5):
            if case.ticket_id == ticket_id or normalize(case.reply) in replies:
                continue
            replies.add(normalize(case.reply))
            item = case_to_dict(case)
            out.append({**item, "text": item["text"][:TEXT_CHARS], "similarity": round(similarity, 4)})
            if len(out) == k:
                break
        return {"ticket_id": ticket_id, "model_version": version, "case_base_size": len(self.cases), "cases": out}

    def submitted(self, ticket: dict[str, Any], embedding: str, vector: Sequence[float]) -> int | None:
        """Groups a new ticket into a hot issue by its vector (of `ticket_input(ticket)`, from the intake's model
        pass). The ticket is stored already: a failure here is logged, not raised (the ticket stays ungrouped)."""
        try:
            return self.hot_issues.assign(ticket, np.asarray(vector, dtype=np.float32), embedding)
        except Exception as e:  # noqa: BLE001
            log.error("ticket %s not grouped: %s", ticket["id"], type(e).__name__)
            return None

    def resolved(self, tickets: Sequence[dict[str, Any]]) -> None:
        """Resolved tickets join the case base. The resolution is committed already: a failure is logged (`minsheng
        cases build` adds what was missed)."""
        try:
            add_resolved_tickets(self.sessions, tickets, self.embed, self.cases)
        except Exception as e:  # noqa: BLE001
            log.error("tickets %s not added to the case base: %s", [t["id"] for t in tickets], type(e).__name__)

    def _readable(self, query: np.ndarray, version: str, visible: Visible,
                  first: int) -> Iterator[tuple[CaseEntry, float]]:
        """The cases the caller may read, most similar first. Filtered before any top k is taken: the search
        widens (first, 4x, 16x, ... hits) until the caller has enough or the case base is exhausted, so other
        departments' cases nearer the query cannot crowd out the caller's. Looked up LOOKUP at a time, lazily."""
        seen: set[int] = set()
        wanted = first
        while True:
            hits = self.cases.search(query, version, wanted)
            new = [(i, s) for i, s in hits if i not in seen]
            seen.update(i for i, _ in new)
            for start in range(0, len(new), LOOKUP):
                batch = new[start:start + LOOKUP]
                with self.sessions() as session:
                    rows = cases_by_id(session, [i for i, _ in batch], visible)
                yield from ((rows[i], s) for i, s in batch if i in rows)
            if len(hits) < wanted:
                return
            wanted *= 4

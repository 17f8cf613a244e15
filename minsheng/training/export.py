"""`minsheng export-labels`: the officials' verified labels as training data (JSONL + HF datasets), PII masked.

A relabel teaches the tasks it changed; an explicit confirmation (the ticket page's confirm) the tasks it
confirmed. Resolving confirms nothing. A fixed fifth of tickets is held back as part of the promotion benchmark,
never trained on; near-duplicates (reposts) stay on one side, so the benchmark does not test on what was trained."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import datasets
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from minsheng.core.labels import TASKS
from minsheng.core.nlp import get_analyzer, mask_pii
from minsheng.core.text import normalize
from minsheng.store import HotIssueTicket, HumanLabel, Ticket
from minsheng.training.data import FEATURES

HOLDOUT_SHARE = 5  # one group in five
# Cosine of character 2-3-gram counts of the masked title + text above which two tickets are reposts. On the
# repost groups of data/domain/train.csv: 72% of same-group pairs reach 0.5, 1 in 20,000 random pairs does
# (lower thresholds add few reposts and more chance merges). The hot-issue groups catch reposts worded apart.
NEAR_DUPLICATE = 0.5
BLOCK_ROWS = 512  # rows compared at once: a block's similarities are a dense BLOCK_ROWS x rows matrix


def split_of(ticket_id: int) -> str:
    digest = hashlib.sha256(f"minsheng-ticket-{ticket_id}".encode()).digest()
    return "holdout" if digest[0] % HOLDOUT_SHARE == 0 else "train"


def near_duplicate_groups(texts: list[str], issues: list[int | None]) -> list[int]:
    """For each text, the index of the first text of its group: texts of one hot issue, or whose character
    n-gram cosine reaches NEAR_DUPLICATE, and so on transitively. Character n-grams without IDF, so that whether
    two texts are reposts does not depend on what else is exported."""
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        parent[max(a, b)] = min(a, b)

    first_of_issue: dict[int, int] = {}
    for i, issue in enumerate(issues):
        if issue is not None:
            join(first_of_issue.setdefault(issue, i), i)
    if texts:
        grams = TfidfVectorizer(analyzer="char", ngram_range=(2, 3), use_idf=False).fit_transform(texts)
        for start in range(0, len(texts), BLOCK_ROWS):
            similar = (grams[start:start + BLOCK_ROWS] @ grams[start:].T).toarray() >= NEAR_DUPLICATE
            for i, j in zip(*similar.nonzero()):
                join(start + int(i), start + int(j))
    return [root(i) for i in range(len(texts))]


def verified_rows(session: Session, since: datetime | None = None) -> list[dict]:
    """One row per ticket with human labels (the latest verdict per task), title and text PII-masked, and its
    split: that of the group's lowest ticket id, so a ticket's split changes only when its group does."""
    # confirmations without a reason were written by earlier resolves for labels nobody looked at; an explicit
    # confirm carries store.queues.CONFIRMED as its reason
    query = (select(HumanLabel).where(or_(HumanLabel.kind == "relabel", HumanLabel.reason.is_not(None)))
             .order_by(HumanLabel.created_at, HumanLabel.id))
    if since is not None:
        query = query.where(HumanLabel.created_at >= since)
    verdicts: dict[int, dict[str, str]] = {}
    for label in session.scalars(query):
        verdicts.setdefault(label.ticket_id, {})[label.task] = label.after
    rows = []
    analyzer = get_analyzer()
    for ticket_id, labels in sorted(verdicts.items()):
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            continue
        title, text = (mask_pii(a.text, a.pii) for a in analyzer.pipe([normalize(ticket.title), normalize(ticket.text)]))
        row = {"title": title, "text": text, "source": "human", "ticket_id": ticket_id}
        row.update({t: str(labels.get(t, "")) for t in TASKS})
        rows.append(row)
    issue_of = dict(session.execute(select(HotIssueTicket.ticket_id, HotIssueTicket.issue_id)).all())
    groups = near_duplicate_groups([f"{r['title']}。{r['text']}" for r in rows],
                                   [issue_of.get(r["ticket_id"]) for r in rows])
    for row, group in zip(rows, groups):  # rows are in ticket id order: a group's first row has its lowest id
        row["split"] = split_of(rows[group]["ticket_id"])
    return rows


def export_labels(session: Session, out_dir: Path, since: datetime | None = None) -> dict[str, int]:
    """Writes OUT/{train,holdout}.jsonl and OUT/hf/{train,holdout} (datasets.save_to_disk); returns the counts."""
    rows = verified_rows(session, since)
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split in ("train", "holdout"):
        part = [r for r in rows if r["split"] == split]
        with (out_dir / f"{split}.jsonl").open("w", encoding="utf-8") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        columns = {c: [r[c] for r in part] for c in FEATURES}
        datasets.Dataset.from_dict(columns, features=FEATURES).save_to_disk(str(out_dir / "hf" / split))
        counts[split] = len(part)
    return counts

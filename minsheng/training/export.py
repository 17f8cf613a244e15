"""`minsheng export-labels`: the officials' verified labels as training data (JSONL + HF datasets), PII masked.

A relabel teaches the tasks it changed; a ticket resolved without a change confirms all its labels. A fixed
fifth of tickets (by a hash of the ticket id) is held back as part of the promotion benchmark, never trained on."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import datasets
from sqlalchemy import select
from sqlalchemy.orm import Session

from minsheng.core.labels import TASKS
from minsheng.core.nlp import get_analyzer, mask_pii
from minsheng.core.text import normalize
from minsheng.store import HumanLabel, Ticket
from minsheng.training.data import FEATURES

HOLDOUT_SHARE = 5  # one ticket in five


def split_of(ticket_id: int) -> str:
    digest = hashlib.sha256(f"minsheng-ticket-{ticket_id}".encode()).digest()
    return "holdout" if digest[0] % HOLDOUT_SHARE == 0 else "train"


def verified_rows(session: Session, since: datetime | None = None) -> list[dict]:
    """One row per ticket with human labels (the latest verdict per task), title and text PII-masked."""
    query = select(HumanLabel).order_by(HumanLabel.created_at, HumanLabel.id)
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
        row = {"title": title, "text": text, "source": "human", "ticket_id": ticket_id, "split": split_of(ticket_id)}
        row.update({t: str(labels.get(t, "")) for t in TASKS})
        rows.append(row)
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

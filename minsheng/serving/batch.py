"""`minsheng classify IN OUT`: tag every row of a CSV or JSONL file; a bad row gets an error, not a crash."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterator

from tqdm.auto import tqdm

from minsheng.core.labels import LabelSet
from minsheng.core.routing import route
from minsheng.core.text import MAX_TEXT_CHARS, normalize
from minsheng.model.classifier import Classifier

OUTPUT_FIELDS = ("domain", "domain_confidence", "domain_top3", "sentiment", "sentiment_confidence", "appeal",
                 "appeal_confidence", "urgent", "urgent_confidence", "urgent_cues", "possible_emergency",
                 "possible_emergency_cues", "praise_cues", "department", "needs_review", "error")


class InputError(ValueError):
    """The file as a whole cannot be classified (missing column, unknown format)."""


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    """Rows as dicts, and the column order. Undecodable bytes are kept (surrogateescape) and flagged per row."""
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as f:
        if path.suffix in (".jsonl", ".json"):
            rows = []
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    rows.append(row if isinstance(row, dict) else {"__error__": "line is not a JSON object"})
                except json.JSONDecodeError as e:
                    rows.append({"__error__": f"line {n} is not valid JSON: {e.msg}"})
            columns = list(dict.fromkeys(k for r in rows for k in r if k != "__error__"))
        elif path.suffix in (".csv", ".tsv"):
            reader = csv.DictReader(f, delimiter="\t" if path.suffix == ".tsv" else ",")
            rows, columns = list(reader), list(reader.fieldnames or [])
        else:
            raise InputError(f"{path}: unknown format {path.suffix!r}; use .csv, .tsv or .jsonl")
    if "text" not in columns:
        raise InputError(f"{path}: no 'text' column (found: {', '.join(columns) or 'none'})")
    return columns, rows


def _row_problem(row: dict) -> str | None:
    if "__error__" in row:
        return row["__error__"]
    for key in ("title", "text"):
        value = row.get(key)
        if value is not None and not isinstance(value, str):
            return f"{key} is not a string"
        if value and any(0xDC80 <= ord(c) <= 0xDCFF for c in value):
            return f"{key} is not valid UTF-8"
    if not normalize(row.get("text")):
        return "text is empty"
    if len(row["text"]) > MAX_TEXT_CHARS:
        return f"text is longer than {MAX_TEXT_CHARS} characters"
    return None


def classify_rows(rows: list[dict], clf: Classifier, labels: LabelSet, batch_size: int = 64) -> Iterator[dict]:
    """Yields each row with the output fields added, in input order, with a progress bar."""
    bar = tqdm(total=len(rows), desc="classifying", unit="msg")
    for start in range(0, len(rows), batch_size):
        chunk = rows[start:start + batch_size]
        problems = [_row_problem(r) for r in chunk]
        good = [r for r, p in zip(chunk, problems) if p is None]
        preds = iter(clf.predict([(r.get("title"), r["text"]) for r in good]))
        for row, problem in zip(chunk, problems):
            out = {k: v for k, v in row.items() if k != "__error__"}
            if problem:
                out.update({k: "" for k in OUTPUT_FIELDS}, error=problem)
            else:
                r = route(next(preds), labels, row.get("title"), row["text"])
                out.update(
                    domain=r.domain, domain_confidence=round(r.domain_confidence, 4),
                    domain_top3=json.dumps(r.to_dict()["domain_top3"], ensure_ascii=False),
                    sentiment=r.sentiment, sentiment_confidence=round(r.sentiment_confidence, 4),
                    appeal=r.appeal, appeal_confidence=round(r.appeal_confidence, 4),
                    urgent=int(r.urgent), urgent_confidence=round(r.urgent_confidence, 4),
                    urgent_cues="、".join(r.urgent_cues), possible_emergency=int(r.possible_emergency),
                    possible_emergency_cues="、".join(r.possible_emergency_cues), praise_cues="、".join(r.praise_cues),
                    department=r.department, needs_review=int(r.needs_review), error="")
            yield out
        bar.update(len(chunk))
    bar.close()


def classify_file(src: Path, dst: Path, clf: Classifier, labels: LabelSet) -> dict[str, int]:
    columns, rows = read_rows(src)
    fields = columns + [f for f in OUTPUT_FIELDS if f not in columns]
    counts = {"rows": 0, "errors": 0}
    dst.parent.mkdir(parents=True, exist_ok=True)
    with dst.open("w", encoding="utf-8", errors="surrogateescape", newline="") as f:
        writer = None if dst.suffix == ".jsonl" else csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        if writer:
            writer.writeheader()
        for out in classify_rows(rows, clf, labels):
            counts["rows"] += 1
            counts["errors"] += bool(out["error"])
            if writer:
                writer.writerow(out)
            else:
                f.write(json.dumps(out, ensure_ascii=False) + "\n")
    return counts

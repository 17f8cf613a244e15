"""Load every labeled source through HF `datasets` into one schema: title, text, source and a label per task
("" where the source does not label that task). Extra files (exported corrections) use the same columns."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from minsheng.core.labels import TASKS, LabelSet
from minsheng.core.nlp import masked_input
from minsheng.model.classifier import GROUP_HEAD
from minsheng.settings import PROJECT_DIR

DATA_DIR = PROJECT_DIR / "data"
FEATURES = datasets.Features({c: datasets.Value("string") for c in ("title", "text", "source", *TASKS)})
_URGENT = {"1": "是", "0": "否", "true": "是", "false": "否", "是": "是", "否": "否"}


@dataclass
class Source:
    """One labeled file. `repeat` up-samples a small source (the documented way to weight data)."""
    name: str
    path: Path
    repeat: int = 1
    limit: int | None = None  # a seeded random sample of at most this many rows
    head: int | None = None  # only the first rows (a quick, still fixed, benchmark)


@dataclass
class DataPlan:
    train: list[Source] = field(default_factory=list)
    dev: list[Source] = field(default_factory=list)


def default_plan(data_dir: Path = DATA_DIR, reviews: int = 1500, citizen_repeat: int = 2) -> DataPlan:
    return DataPlan(
        train=[Source("domain", data_dir / "domain/train.csv"),
               Source("citizen", data_dir / "citizen/train.csv", repeat=citizen_repeat),
               Source("reviews", data_dir / "sentiment_reviews/reviews.csv", limit=reviews)],
        dev=[Source("domain", data_dir / "domain/dev.csv"), Source("citizen", data_dir / "citizen/dev.csv")],
    )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    if path.is_dir():  # a dataset saved with save_to_disk
        for p in sorted(path.rglob("*")):
            if p.is_file():
                h.update(p.read_bytes())
    else:
        h.update(path.read_bytes())
    return h.hexdigest()


def _read(path: Path) -> datasets.Dataset:
    if path.is_dir():
        return datasets.load_from_disk(str(path))
    kind = "json" if path.suffix in (".jsonl", ".json") else "csv"
    return datasets.load_dataset(kind, data_files=str(path), split="train")


def _unify(row: dict, source: str) -> dict:
    out = {"title": row.get("title") or "", "text": row.get("text") or "", "source": source}
    if "label" in row and "sentiment" not in row:  # the review corpus names its sentiment column "label"
        row = {**row, "sentiment": row["label"]}
    for task in TASKS:
        value = row.get(task)
        value = "" if value is None else str(value).strip()
        out[task] = _URGENT.get(value.lower(), value) if task == "urgent" and value else value
    return out


def load_source(src: Source, labels: LabelSet, seed: int = 0) -> datasets.Dataset:
    ds = _read(src.path)
    if src.head is not None:
        ds = ds.select(range(min(src.head, len(ds))))
    if src.limit is not None and len(ds) > src.limit:
        ds = ds.shuffle(seed=seed).select(range(src.limit))
    ds = ds.map(lambda r: _unify(r, src.name), remove_columns=ds.column_names, features=FEATURES,
                desc=f"reading {src.name}")
    ds = ds.filter(lambda r: bool(r["title"] or r["text"]))
    for task in TASKS:  # fail early on a label the label set does not know
        for value in set(ds[task]) - {""}:
            labels.index(task, value)
    if src.repeat > 1:
        ds = datasets.concatenate_datasets([ds] * src.repeat)
    return ds


def load_split(sources: list[Source], labels: LabelSet, seed: int = 0) -> datasets.Dataset:
    return datasets.concatenate_datasets([load_source(s, labels, seed) for s in sources])


def inputs(ds: datasets.Dataset) -> list[str]:
    return [masked_input(t, x) for t, x in zip(ds["title"], ds["text"])]


GROUP_SOURCE = "domain"  # the Teddy data: its rows label 7 of the 15 domains


def domain_group(ds: datasets.Dataset, labels: LabelSet) -> list[int]:
    """The domain indices the Teddy rows of `ds` label (its group head's classes, in head order); [] without
    at least two."""
    seen = {d for d, s in zip(ds["domain"], ds["source"]) if s == GROUP_SOURCE and d}
    group = sorted(labels.index("domain", d) for d in seen)
    return group if len(group) > 1 else []


def label_ids(ds: datasets.Dataset, labels: LabelSet, group: list[int] = ()) -> dict[str, list[int]]:
    """task -> class index per row, -100 where the row has no label for that task; with a domain group, also
    the group head's class of each Teddy row."""
    ids = {task: [labels.index(task, v) if v else -100 for v in ds[task]] for task in TASKS}
    if group:
        position = {d: i for i, d in enumerate(group)}
        ids[GROUP_HEAD] = [position.get(d, -100) if s == GROUP_SOURCE else -100
                           for d, s in zip(ids["domain"], ds["source"])]
    return ids


def data_hashes(plan: DataPlan) -> dict[str, str]:
    return {f"{s.name}:{s.path.name}": file_sha256(s.path) for s in plan.train + plan.dev}

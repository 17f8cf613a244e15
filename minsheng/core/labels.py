"""The label sets and routing rules, read from labels/: the one source of truth for training, serving and UI."""
from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from minsheng.settings import PROJECT_DIR

LABELS_DIR = PROJECT_DIR / "labels"
TASKS = ("domain", "sentiment", "appeal", "urgent")


@dataclass(frozen=True)
class Route:
    queue: str
    department: str


@dataclass(frozen=True)
class LabelSet:
    values: dict[str, tuple[str, ...]]  # task -> labels, in model-head index order
    taxonomy: dict[str, dict[str, tuple[str, ...]]]  # domain -> second level -> third level
    routes: dict[str, Route]  # domain -> route
    triage: Route
    domain_threshold: float
    urgent_threshold: float
    domain_threshold_overrides: dict[str, float]  # domain -> its own triage threshold (routing.yaml)
    familiar_domains: tuple[str, ...]  # the domains of the large training set (routing.yaml)
    unfamiliar_share: float | None  # a familiar top domain with this much on the others goes to triage; None: off
    urgent_cues: dict[str, tuple[str, ...]]  # emergency kind -> phrases that make a message urgent (routing.yaml)
    possible_emergency: dict[str, tuple[str, ...]]  # hazard kind -> phrases that put it in the lane read first
    cue_conditional: tuple[str, ...]  # words before an urgent cue that make it a risk, not an event ("一旦")
    cue_idioms: tuple[str, ...]  # phrases holding a cue that say something else ("救命稻草"): never matched
    possible_emergency_score: float  # the model's urgent probability that puts a message naming no cue in the lane
    praise_labels: dict[str, str]  # task -> the label a praise message gets (routing.yaml praise)
    praise_phrases: tuple[str, ...]  # thanks that make a message praise ...
    praise_unless: tuple[str, ...]  # ... unless it also asks for something
    priorities: dict[str, str]
    version: str  # content hash of labels/, recorded with every model and prediction

    @property
    def domains(self) -> tuple[str, ...]:
        return self.values["domain"]

    def review_threshold(self, domain: str) -> float:
        """Below this calibrated probability a message predicted as `domain` goes to triage."""
        return self.domain_threshold_overrides.get(domain, self.domain_threshold)

    def index(self, task: str, label: str) -> int:
        try:
            return self.values[task].index(label)
        except ValueError:
            raise ValueError(f"unknown {task} label {label!r}; known: {', '.join(self.values[task])}") from None

    def queues(self) -> dict[str, Route]:
        """queue id -> route, the triage queue included."""
        out = {r.queue: r for r in self.routes.values()}
        out[self.triage.queue] = self.triage
        return out


def _read_taxonomy(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    tree: dict[str, dict[str, list[str]]] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            level2 = tree.setdefault(row["一级分类"], {}).setdefault(row["二级分类"], [])
            if row["三级分类"]:
                level2.append(row["三级分类"])
    return {d: {k: tuple(v) for k, v in sub.items()} for d, sub in tree.items()}


def _kinds(routing: dict, key: str) -> dict[str, tuple[str, ...]]:
    """A cue lexicon of routing.yaml: kind -> phrases."""
    return {kind: tuple(phrases) for kind, phrases in (routing.get(key) or {}).items()}


@lru_cache(maxsize=4)
def load_labels(directory: Path | str = LABELS_DIR) -> LabelSet:
    directory = Path(directory)
    files = [directory / n for n in ("taxonomy.csv", "tasks.yaml", "routing.yaml")]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:12]
    taxonomy = _read_taxonomy(files[0])
    tasks = yaml.safe_load(files[1].read_text(encoding="utf-8"))
    routing = yaml.safe_load(files[2].read_text(encoding="utf-8"))
    values = {"domain": tuple(taxonomy)}
    values.update({t: tuple(tasks[t]["values"]) for t in TASKS[1:]})
    routes = {d: Route(r["queue"], r["department"]) for d, r in routing["routes"].items()}
    praise = routing.get("praise") or {}
    for task, label in (praise.get("labels") or {}).items():
        if label not in values.get(task, ()):
            raise ValueError(f"routing.yaml praise: {label!r} is no {task} label of tasks.yaml")
    familiar = tuple(routing.get("familiar_domains") or ())
    if set(familiar) - set(values["domain"]):
        raise ValueError(f"routing.yaml familiar_domains: {sorted(set(familiar) - set(values['domain']))} are "
                         "no domains of taxonomy.csv")
    share = routing["thresholds"].get("unfamiliar_share")
    if share is not None and not 0 < float(share) < 1:
        raise ValueError(f"routing.yaml unfamiliar_share: {share} is not a probability share between 0 and 1")
    return LabelSet(
        values=values,
        taxonomy=taxonomy,
        routes=routes,
        triage=Route(routing["triage_queue"]["id"], routing["triage_queue"]["department"]),
        domain_threshold=float(routing["thresholds"]["domain_confidence"]),
        urgent_threshold=float(routing["thresholds"]["urgent"]),
        domain_threshold_overrides={d: float(v) for d, v in
                                    (routing["thresholds"].get("domain_confidence_by_domain") or {}).items()},
        familiar_domains=familiar,
        unfamiliar_share=None if share is None else float(share),
        urgent_cues=_kinds(routing, "urgent_cues"),
        possible_emergency=_kinds(routing, "possible_emergency"),
        cue_conditional=tuple((routing.get("cue_context") or {}).get("conditional") or ()),
        cue_idioms=tuple((routing.get("cue_context") or {}).get("idioms") or ()),
        possible_emergency_score=float(routing["thresholds"]["possible_emergency"]),
        praise_labels=dict(praise.get("labels") or {}),
        praise_phrases=tuple(praise.get("phrases") or ()),
        praise_unless=tuple(praise.get("unless") or ()),
        priorities=dict(routing["priorities"]),
        version=digest,
    )

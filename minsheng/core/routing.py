"""From a prediction to tags and a destination: routing.yaml's domain → queue map, the triage threshold, urgency."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from minsheng.core.labels import LabelSet
from minsheng.core.text import model_input, normalize


@dataclass
class Scores:
    """A message's calibrated scores, as the classifier gives them (the model service sends them as plain dicts):
    defined here, away from torch, so the HTTP worker can route without loading the model code."""
    scores: dict[str, dict[str, float]]  # task -> label -> calibrated probability

    def best(self, task: str) -> tuple[str, float]:
        label = max(self.scores[task], key=self.scores[task].get)
        return label, self.scores[task][label]

    def top(self, task: str, k: int = 3) -> list[tuple[str, float]]:
        return sorted(self.scores[task].items(), key=lambda kv: -kv[1])[:k]


@dataclass(frozen=True)
class Routed:
    domain: str
    domain_confidence: float
    domain_top3: list[tuple[str, float]]
    sentiment: str
    sentiment_confidence: float
    appeal: str
    appeal_confidence: float
    urgent: bool
    urgent_confidence: float  # the model's probability that the message is urgent
    urgent_cues: list[str]  # the emergencies of routing.yaml's urgent_cues that the message names
    praise_cues: list[str]  # the thanks (routing.yaml praise) that made the message praise, else empty
    queue: str
    department: str
    priority: str
    needs_review: bool  # the domain is too uncertain for a department: a person triages it
    # in the lane officials read first: urgent, or naming a hazard that may be an emergency (routing.yaml
    # possible_emergency, or an urgent cue said as a risk), or the model's urgent probability is high enough
    possible_emergency: bool = False
    possible_emergency_cues: list[str] = field(default_factory=list)  # the hazard kinds it names

    def to_dict(self) -> dict:
        out = asdict(self)
        out["domain_top3"] = [{"domain": d, "confidence": round(p, 4)} for d, p in self.domain_top3]
        return out


# What of a message's tags is kept beside the model's scores (prediction.scores), so that a ticket shows them as
# at intake; each with the factory of its value where a row stored before it existed lacks it.
INTAKE_CUES = {"domain_top3": list, "urgent_cues": list, "praise_cues": list, "possible_emergency": bool,
               "possible_emergency_cues": list}


def intake_cues(record: Mapping[str, Any] | None) -> dict[str, Any]:
    """The INTAKE_CUES of `record`: a message's tags (Routed.to_dict(), the API's Tags) or a stored prediction's
    scores."""
    return {k: record[k] if record and k in record else empty() for k, empty in INTAKE_CUES.items()}


_CLAUSE_END = re.compile(r"[,，.。!！?？;；:：\n]")
CONDITIONAL_REACH = 12  # characters before a cue searched for a conditional word (within its clause)


def _said_as(text: str, phrase: str, labels: LabelSet) -> set[bool]:
    """For each place `phrase` occurs in `text`: whether it is said as a risk (a conditional word of
    routing.yaml cue_context before it in the same clause) rather than as an event."""
    out = set()
    start = text.find(phrase)
    while start >= 0:
        before = _CLAUSE_END.split(text[max(0, start - CONDITIONAL_REACH):start])[-1]
        out.add(any(w in before for w in labels.cue_conditional))
        start = text.find(phrase, start + 1)
    return out


def _without_idioms(text: str, labels: LabelSet) -> str:
    for idiom in labels.cue_idioms:
        text = text.replace(idiom, "_" * len(idiom))
    return text


def read_urgent_cues(text: str, labels: LabelSet) -> tuple[list[str], list[str]]:
    """The kinds of emergency (routing.yaml urgent_cues) that the normalized `text` names as happening, and
    those it names only as a risk ("一旦发生火灾"), each in routing.yaml's order."""
    text = _without_idioms(text, labels)
    events, risks = [], []
    for kind, phrases in labels.urgent_cues.items():
        said = set().union(*(_said_as(text, p, labels) for p in phrases))
        if False in said:
            events.append(kind)
        elif said:
            risks.append(kind)
    return events, risks


def find_urgent_cues(text: str, labels: LabelSet) -> list[str]:
    """The kinds of emergency (routing.yaml urgent_cues) that the normalized `text` names as happening, in
    routing.yaml's order: each makes the message urgent."""
    return read_urgent_cues(text, labels)[0]


def find_possible_emergency(text: str, labels: LabelSet) -> list[str]:
    """The hazard kinds (routing.yaml possible_emergency) that the normalized `text` names, and the urgent
    cues it names only as a risk: each puts the message in the possible-emergency lane."""
    risks = read_urgent_cues(text, labels)[1]
    text = _without_idioms(text, labels)
    return risks + [kind for kind, phrases in labels.possible_emergency.items() if any(p in text for p in phrases)]


def find_praise_cues(title: str | None, text: str, labels: LabelSet) -> list[str]:
    """The praise phrases of routing.yaml that the title (the text, where there is no title) names, or none if
    it also asks for something (routing.yaml praise.unless)."""
    said = normalize(title) or normalize(text)
    if any(p in said for p in labels.praise_unless):
        return []
    return [p for p in labels.praise_phrases if p in said]


def needs_triage(p_domain: np.ndarray, labels: LabelSet) -> np.ndarray:
    """For each row of calibrated domain probabilities (columns in labels.domains order): whether the domain is
    too uncertain for a department. It is when the top domain's probability is below its threshold, or when the
    top domain is a familiar one and the unfamiliar domains hold at least routing.yaml's unfamiliar_share: the
    model underrates the domains it saw few messages of, so their messages mostly land in a familiar queue."""
    top = p_domain.argmax(1)
    thresholds = np.array([labels.review_threshold(d) for d in labels.domains])
    review = p_domain.max(1) < thresholds[top]
    if labels.unfamiliar_share is not None and labels.familiar_domains:
        familiar = np.isin(np.array(labels.domains), labels.familiar_domains)
        review |= familiar[top] & (p_domain[:, ~familiar].sum(1) >= labels.unfamiliar_share)
    return review


def route(pred: Scores, labels: LabelSet, title: str | None, text: str) -> Routed:
    """The tags and destination of the message (title, text) that `pred` scored. The message is searched for
    urgent cues, hazards that may be an emergency, and praise, which the model, trained on few such messages,
    misses."""
    domain, domain_p = pred.best("domain")
    sentiment, sentiment_p = pred.best("sentiment")
    appeal, appeal_p = pred.best("appeal")
    urgent_p = pred.scores["urgent"][labels.values["urgent"][1]]
    said = model_input(title, text)
    cues = find_urgent_cues(said, labels)
    hazards = find_possible_emergency(said, labels)
    praise = find_praise_cues(title, text, labels)
    if praise:  # praise's labels, each with the model's own probability for it
        sentiment, appeal = labels.praise_labels["sentiment"], labels.praise_labels["appeal"]
        sentiment_p, appeal_p = pred.scores["sentiment"][sentiment], pred.scores["appeal"][appeal]
    urgent = urgent_p >= labels.urgent_threshold or bool(cues)
    possible = urgent or bool(hazards) or urgent_p >= labels.possible_emergency_score
    needs_review = bool(needs_triage(np.array([[pred.scores["domain"][d] for d in labels.domains]]), labels)[0])
    dest = labels.triage if needs_review else labels.routes[domain]
    return Routed(
        domain=domain, domain_confidence=domain_p, domain_top3=pred.top("domain", 3),
        sentiment=sentiment, sentiment_confidence=sentiment_p, appeal=appeal, appeal_confidence=appeal_p,
        urgent=urgent, urgent_confidence=urgent_p, urgent_cues=cues, praise_cues=praise, queue=dest.queue,
        department=dest.department, priority=labels.priorities["urgent" if urgent else "default"],
        needs_review=needs_review, possible_emergency=possible, possible_emergency_cues=hazards,
    )

"""From a prediction to tags and a destination: routing.yaml's domain → queue map, the triage threshold, urgency."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from minsheng.core.labels import LabelSet
from minsheng.core.text import model_input, normalize


@dataclass
class Prediction:
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

    def to_dict(self) -> dict:
        out = asdict(self)
        out["domain_top3"] = [{"domain": d, "confidence": round(p, 4)} for d, p in self.domain_top3]
        return out


def find_urgent_cues(text: str, labels: LabelSet) -> list[str]:
    """The kinds of emergency (routing.yaml's urgent_cues) that the normalized `text` names, in routing.yaml's
    order."""
    return [kind for kind, phrases in labels.urgent_cues.items() if any(p in text for p in phrases)]


def find_praise_cues(title: str | None, text: str, labels: LabelSet) -> list[str]:
    """The praise phrases of routing.yaml that the title (the text, where there is no title) names, or none if
    it also asks for something (routing.yaml praise.unless)."""
    said = normalize(title) or normalize(text)
    if any(p in said for p in labels.praise_unless):
        return []
    return [p for p in labels.praise_phrases if p in said]


def route(pred: Prediction, labels: LabelSet, title: str | None, text: str) -> Routed:
    """The tags and destination of the message (title, text) that `pred` scored. The message is searched for
    urgent cues and praise, which the model, trained on few such messages, misses."""
    domain, domain_p = pred.best("domain")
    sentiment, sentiment_p = pred.best("sentiment")
    appeal, appeal_p = pred.best("appeal")
    urgent_p = pred.scores["urgent"][labels.values["urgent"][1]]
    cues = find_urgent_cues(model_input(title, text), labels)
    praise = find_praise_cues(title, text, labels)
    if praise:  # praise's labels, each with the model's own probability for it
        sentiment, appeal = labels.praise_labels["sentiment"], labels.praise_labels["appeal"]
        sentiment_p, appeal_p = pred.scores["sentiment"][sentiment], pred.scores["appeal"][appeal]
    urgent = urgent_p >= labels.urgent_threshold or bool(cues)
    needs_review = domain_p < labels.review_threshold(domain)
    dest = labels.triage if needs_review else labels.routes[domain]
    return Routed(
        domain=domain, domain_confidence=domain_p, domain_top3=pred.top("domain", 3),
        sentiment=sentiment, sentiment_confidence=sentiment_p, appeal=appeal, appeal_confidence=appeal_p,
        urgent=urgent, urgent_confidence=urgent_p, urgent_cues=cues, praise_cues=praise, queue=dest.queue,
        department=dest.department, priority=labels.priorities["urgent" if urgent else "default"],
        needs_review=needs_review,
    )

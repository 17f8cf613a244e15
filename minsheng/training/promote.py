"""`minsheng promote TAG`: make a model the production one only if the fixed benchmark says it is not worse.
Both models are scored as the service would run them (served_quantize: int8 by default), not as trained."""
from __future__ import annotations

from pathlib import Path

from minsheng.core.labels import LabelSet
from minsheng.model.classifier import Classifier
from minsheng.model.embedding import served_quantize
from minsheng.model.registry import stored_model
from minsheng.store import production_tag, record_promotion
from minsheng.training.compare import Decision, decide, render_comparison, score


def promote(sessions, labels: LabelSet, tag: str, actor: str, tolerance: float = 0.02, force: bool = False,
            holdout: Path | None = None, limit: int | None = None) -> tuple[Decision, str]:
    with sessions() as session:
        current_tag = production_tag(session)
    current_model, candidate_model = stored_model(current_tag), stored_model(tag)
    quantize = served_quantize()
    current = score(Classifier.load(current_model.path, quantize=quantize), labels, holdout, limit)
    candidate = score(Classifier.load(candidate_model.path, quantize=quantize), labels, holdout, limit)
    decision = decide(current, candidate, tolerance)
    accepted = decision.accepted or force
    record_promotion(sessions, str(candidate_model.tag), str(current_model.tag), accepted, force and not
                     decision.accepted, actor, decision.reasons, {"current": current, "candidate": candidate,
                                                                  "tolerance": tolerance, "benchmark_limit": limit})
    return Decision(accepted, decision.reasons), render_comparison(current, candidate)

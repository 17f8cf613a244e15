"""labels/ is the one source of truth: it must be complete and consistent."""
import dataclasses

from minsheng.labels import TASKS, load_labels
from minsheng.modelstore import SHIPPED_MODEL
from minsheng.routing import Prediction, route


def test_fifteen_domains_with_their_sub_levels():
    labels = load_labels()
    assert len(labels.domains) == 15
    assert all(labels.taxonomy[d] for d in labels.domains)  # every domain has second-level topics
    assert "住房保障与房地产" in labels.taxonomy["城乡建设"]
    assert "出租车管理" in labels.taxonomy["交通运输"]


def test_every_domain_routed_to_its_own_queue():
    labels = load_labels()
    assert set(labels.routes) == set(labels.domains)
    queues = [r.queue for r in labels.routes.values()] + [labels.triage.queue]
    assert len(queues) == len(set(queues))
    assert all(q.isascii() and q == q.lower() for q in queues)


def test_label_values_unique_and_thresholds_sane():
    labels = load_labels()
    for task in TASKS:
        assert len(labels.values[task]) == len(set(labels.values[task])) >= 2
    assert labels.values["sentiment"] == ("负面", "中性", "正面")
    assert set(labels.values["appeal"]) == {"投诉", "举报", "咨询", "建议", "求助", "表扬"}
    assert 0 < labels.domain_threshold < 1 and 0 < labels.urgent_threshold < 1
    assert set(labels.domain_threshold_overrides) <= set(labels.domains)
    assert all(0 < v < 1 for v in labels.domain_threshold_overrides.values())
    assert set(labels.priorities) == {"urgent", "default"}


def test_shipped_model_knows_exactly_these_labels():
    import json

    meta = json.loads((SHIPPED_MODEL / "minsheng.json").read_text(encoding="utf-8"))
    labels = load_labels()
    assert {t: tuple(v) for t, v in meta["labels"].items()} == labels.values


def test_a_domain_with_its_own_threshold_sends_less_sure_messages_to_triage():
    """routing.yaml's domain_confidence_by_domain: that domain's messages need more confidence than the others."""
    labels = load_labels()
    strict, other = labels.domains[:2]
    labels = dataclasses.replace(labels, domain_threshold=0.5, domain_threshold_overrides={strict: 0.7})

    def prediction(domain: str, p: float) -> Prediction:
        rest = (1 - p) / (len(labels.domains) - 1)
        scores = {t: {v: 1 / len(labels.values[t]) for v in labels.values[t]} for t in TASKS}
        scores["domain"] = {d: p if d == domain else rest for d in labels.domains}
        return Prediction(scores)

    assert route(prediction(strict, 0.6), labels).queue == labels.triage.queue
    assert route(prediction(strict, 0.6), labels).needs_review
    assert route(prediction(strict, 0.8), labels).queue == labels.routes[strict].queue
    routed = route(prediction(other, 0.6), labels)
    assert not routed.needs_review and routed.queue == labels.routes[other].queue

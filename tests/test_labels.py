"""labels/ is the one source of truth: it must be complete and consistent."""
from minsheng.labels import TASKS, load_labels
from minsheng.modelstore import SHIPPED_MODEL


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
    assert set(labels.priorities) == {"urgent", "default"}


def test_shipped_model_knows_exactly_these_labels():
    import json

    meta = json.loads((SHIPPED_MODEL / "minsheng.json").read_text(encoding="utf-8"))
    labels = load_labels()
    assert {t: tuple(v) for t, v in meta["labels"].items()} == labels.values

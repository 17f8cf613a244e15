"""labels/ is the one source of truth: it must be complete and consistent."""
import dataclasses
import json
from pathlib import Path

import pytest

from minsheng.core.labels import LABELS_DIR, TASKS, load_labels
from minsheng.core.routing import (
    Scores,
    find_possible_emergency,
    find_praise_cues,
    find_urgent_cues,
    route,
)
from minsheng.model.registry import SHIPPED_MODEL


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


def _prediction(labels, domain_scores: dict[str, float]) -> Scores:
    """Uniform scores on every head but the domain's, which spreads what `domain_scores` leaves evenly."""
    rest = (1 - sum(domain_scores.values())) / max(1, len(labels.domains) - len(domain_scores))
    scores = {t: {v: 1 / len(labels.values[t]) for v in labels.values[t]} for t in TASKS}
    scores["domain"] = {d: domain_scores.get(d, rest) for d in labels.domains}
    return Scores(scores)


def test_a_domain_with_its_own_threshold_sends_less_sure_messages_to_triage():
    """routing.yaml's domain_confidence_by_domain: that domain's messages need more confidence than the others."""
    labels = load_labels()
    strict, other = labels.domains[:2]
    labels = dataclasses.replace(labels, domain_threshold=0.5, domain_threshold_overrides={strict: 0.7},
                                 unfamiliar_share=None)

    assert route(_prediction(labels, {strict: 0.6}), labels, None, "").queue == labels.triage.queue
    assert route(_prediction(labels, {strict: 0.6}), labels, None, "").needs_review
    assert route(_prediction(labels, {strict: 0.8}), labels, None, "").queue == labels.routes[strict].queue
    routed = route(_prediction(labels, {other: 0.6}), labels, None, "")
    assert not routed.needs_review and routed.queue == labels.routes[other].queue


def test_a_familiar_domain_with_much_on_the_unfamiliar_ones_goes_to_triage():
    """routing.yaml's unfamiliar_share: a confident familiar top domain still goes to triage when the domains
    the model saw little of hold that share together; a top unfamiliar domain is not affected."""
    labels = load_labels()
    familiar = labels.familiar_domains[0]
    unfamiliar = [d for d in labels.domains if d not in labels.familiar_domains]
    share = labels.unfamiliar_share
    assert familiar and unfamiliar and 0 < share < 0.5
    others = [d for d in labels.familiar_domains if d != familiar]

    def routed(top: str, p_top: float, on_unfamiliar: float):
        on_familiar = 1 - p_top - on_unfamiliar  # spread over the other familiar domains, none on the rest
        spread = {d: on_unfamiliar / len(unfamiliar) for d in unfamiliar if d != top}
        spread |= {d: on_familiar / len(others) for d in others if d != top}
        return route(_prediction(labels, {top: p_top, **spread}), labels, None, "")

    assert routed(familiar, 0.7, share * 0.9).queue == labels.routes[familiar].queue
    assert routed(familiar, 0.7, share * 1.1).needs_review
    assert routed(familiar, 0.7, share * 1.1).queue == labels.triage.queue
    off = dataclasses.replace(labels, unfamiliar_share=None)
    assert not route(_prediction(off, {familiar: 0.7, unfamiliar[0]: share * 1.1}), off, None, "").needs_review
    top = unfamiliar[0]  # the rule is about familiar top domains: an unfamiliar one keeps its threshold only
    assert not routed(top, 0.7, 0.3 - 1e-9).needs_review


def test_familiar_domains_are_the_shipped_models_domain_group():
    """routing.yaml's familiar_domains must be the domains the shipped model's Teddy-only head knows."""
    meta = json.loads((SHIPPED_MODEL / "minsheng.json").read_text(encoding="utf-8"))
    labels = load_labels()
    assert {labels.domains[i] for i in meta["calibration"]["group"]} == set(labels.familiar_domains)


def test_urgent_and_possible_emergency_cues_are_distinct_phrases_and_kinds():
    labels = load_labels()
    lexicons = (labels.urgent_cues, labels.possible_emergency)
    phrases = [p for cues in lexicons for kind in cues.values() for p in kind]
    assert all(cues and all(cues.values()) for cues in lexicons)
    assert len(phrases) == len(set(phrases)) and all(len(p) >= 2 for p in phrases)
    assert not set(labels.urgent_cues) & set(labels.possible_emergency)  # a kind names one tier
    assert 0 < labels.possible_emergency_score < labels.urgent_threshold


def calm(urgent_p: float) -> Scores:
    """Uniform scores but for the model's urgent probability."""
    labels = load_labels()
    scores = {t: {v: 1 / len(labels.values[t]) for v in labels.values[t]} for t in TASKS}
    scores["urgent"] = dict(zip(labels.values["urgent"], (1 - urgent_p, urgent_p)))
    return Scores(scores)


def test_a_named_emergency_is_urgent_whatever_the_model_says():
    labels = load_labels()
    gas = route(calm(0.02), labels, None, "我家楼下燃气管道泄漏，整栋楼都是煤气味")
    assert gas.urgent and gas.urgent_cues == ["燃气泄漏"] and gas.priority == labels.priorities["urgent"]
    assert gas.urgent_confidence == 0.02  # the model's own figure is kept beside the cue
    assert find_urgent_cues("孩子走失了，有人威胁要弄死我们", labels) == ["暴力威胁", "人员失踪"]  # routing.yaml order
    quiet = route(calm(0.02), labels, None, "建议增加公交线路，方便市民出行")
    assert not quiet.urgent and quiet.urgent_cues == [] and quiet.priority == labels.priorities["default"]
    sure = route(calm(0.9), labels, None, "建议增加公交线路")
    assert sure.urgent and sure.urgent_cues == []
    assert gas.possible_emergency and sure.possible_emergency and not quiet.possible_emergency  # urgent is in the lane


def test_the_guides_emergencies_written_as_people_write_them_are_urgent():
    labels = load_labels()
    said = {"电梯突然下坠，我们被困电梯里半个小时": ["电梯事故", "被困求救"],
            "楼上高空坠物，差点砸到人": ["坠物伤人"],
            "隔壁出租屋起火了，浓烟一直往楼道里冒": ["火灾爆炸"],
            "学校食堂发生集体中毒，十几个学生送医": ["中毒"],
            "老房子墙体开裂，随时可能倒塌": ["房屋倒塌"],
            "医院拒绝救治，我父亲生命垂危": ["急救受阻"]}
    for text, kinds in said.items():
        routed = route(calm(0.02), labels, None, text)
        assert routed.urgent and routed.urgent_cues == kinds and routed.possible_emergency, text


def test_a_cue_said_as_a_risk_or_in_an_idiom_is_not_urgent_but_may_be_an_emergency():
    labels = load_labels()
    risk = route(calm(0.02), labels, None, "消防通道被堵，一旦发生火灾后果不堪设想")
    assert not risk.urgent and risk.urgent_cues == [] and risk.possible_emergency
    assert risk.possible_emergency_cues[0] == "火灾爆炸" and "消防通道" in risk.possible_emergency_cues
    assert find_urgent_cues("一旦起火。现在楼下已经起火了", labels) == ["火灾爆炸"]  # the event counts, not the risk
    assert find_urgent_cues("这是我家的救命钱，请帮忙追回", labels) == []
    assert find_possible_emergency("这是我家的救命钱，请帮忙追回", labels) == []


def test_a_hazard_that_may_be_an_emergency_goes_to_the_lane_and_stays_normal_priority():
    labels = load_labels()
    for text in ("小区已经停水三天，几百户居民没有水用", "楼道里的电线老化，存在安全隐患"):
        routed = route(calm(0.02), labels, None, text)
        assert routed.possible_emergency and routed.possible_emergency_cues and not routed.urgent, text
        assert routed.priority == labels.priorities["default"]
    ranked = route(calm(labels.possible_emergency_score), labels, None, "建议增加公交线路")
    assert ranked.possible_emergency and ranked.possible_emergency_cues == [] and not ranked.urgent
    assert route(calm(0.02), labels, None, "建议增加公交线路").to_dict()["possible_emergency"] is False


PRAISE = Path(__file__).resolve().parent / "data" / "praise.jsonl"  # written by the team: thanks and polite asks


def test_thank_you_letters_are_praise_and_polite_complaints_are_not():
    labels = load_labels()
    cases = [json.loads(line) for line in PRAISE.read_text(encoding="utf-8").splitlines()]
    found = [bool(find_praise_cues(c["title"], c["text"], labels)) for c in cases]
    praise = [c["praise"] == 1 for c in cases]
    hits = sum(f and p for f, p in zip(found, praise))
    # 15 of 15 letters found; 1 of 15 polite complaints taken for praise (a hotel named 点赞宾馆)
    assert hits / sum(praise) >= 0.9 and hits / sum(found) >= 0.9, (hits, sum(found), sum(praise))


def test_praise_is_tagged_as_praise_with_the_models_own_figures():
    labels = load_labels()
    scores = {t: {v: 1 / len(labels.values[t]) for v in labels.values[t]} for t in TASKS}
    scores["sentiment"] = dict(zip(labels.values["sentiment"], (0.7, 0.2, 0.1)))  # the model reads a complaint
    thanks = route(Scores(scores), labels, None, "感谢派出所民警帮我找回了丢失的钱包")
    assert (thanks.sentiment, thanks.appeal, thanks.praise_cues) == ("正面", "表扬", ["感谢"])
    assert thanks.sentiment_confidence == 0.1
    polite = route(Scores(scores), labels, None, "感谢您百忙之中查看留言。楼下餐馆油烟很大,请处理")
    assert (polite.sentiment, polite.praise_cues) == ("负面", [])


def test_an_unfamiliar_share_that_is_no_share_is_refused(tmp_path):
    for name in ("taxonomy.csv", "tasks.yaml", "routing.yaml"):
        (tmp_path / name).write_bytes((LABELS_DIR / name).read_bytes())
    routing = (tmp_path / "routing.yaml").read_text(encoding="utf-8")
    assert "unfamiliar_share: " in routing
    for bad in ("0", "1.5"):
        changed = "\n".join(f"  unfamiliar_share: {bad}" if line.strip().startswith("unfamiliar_share:") else line
                            for line in routing.splitlines())
        (tmp_path / "routing.yaml").write_text(changed, encoding="utf-8")
        with pytest.raises(ValueError, match="unfamiliar_share"):
            load_labels(tmp_path)

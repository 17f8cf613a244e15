"""Reply quality before sending (the Teddy Cup 2020 C's third task): a draft reply scored for relevance to the
message, completeness and form, with what is missing, for the official to read (it never blocks a resolve).

- relevance: cosine of the message's and the reply's sentence vectors from the classifier's own encoder (both
  PII-masked, as every vector is), mapped onto 0..1 between RELEVANCE_LOW and RELEVANCE_HIGH;
- completeness: the share of the message's specific places and keywords (from intake's analysis) the reply names;
- form: salutation, a concrete action or result, a legal basis or policy named, a contact for follow-up, and more
  than the empty 已收悉/正在处理.

What it cannot judge: whether the facts are true or the action was really taken, whether a legal basis applies (it
only sees one named), whether the reply answers the request rather than mentioning its words, tone, and requests
the message makes without naming a place or keyword. bench/reply_quality.md measures it on data/cases."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from minsheng.assist.cases import ticket_input
from minsheng.assist.similarity import specific_places
from minsheng.core.nlp import masked_input
from minsheng.core.text import normalize

# a reply's cosine to its message, mapped to 0..1 between about the 10th and 90th percentiles of real replies'
# cosines on data/cases (0.32 and 0.85 with model 20261124-173030 as served: bench/reply_quality.md); a new
# model's vectors need them measured again
RELEVANCE_LOW, RELEVANCE_HIGH = 0.3, 0.85
KEYWORDS = 5  # of the message's keywords, the most salient, that a complete reply should name
WEIGHTS = {"relevance": 0.4, "completeness": 0.3, "form": 0.3}
FORM = {  # check → (weight within form, pattern, what to tell the official when it is missing)
    "salutation": (1, re.compile(r"^.{0,40}?(您好|你好|尊敬的|网友|先生|女士|同志)"), "缺少称呼（如“您好”）"),
    "action": (3, re.compile(
        r"经(调查|核实|核查|了解|现场|查)|已(于|经|安排|责令|督促|要求|完成|修复|维修|处理|整改|清理|解决|办理|落实|"
        r"协调|约谈|立案|查处|拆除|更换|发放|补发|支付|退还|恢复|告知|派)|现将.{0,12}(答复|回复)|(处理|调查|办理)(结果|情况)|"
        r"责令|整改|将于|计划于|预计|下一步"), "缺少具体措施或办理结果"),
    "basis": (1, re.compile(r"《[^》]{2,40}》|(根据|依据|按照|依照)[^。；]{0,40}(规定|条例|办法|政策|法|文件|标准|通知|意见)"),
              "未写明法律或政策依据（如适用）"),
    "contact": (1, re.compile(r"电话|联系方式|联系人|热线|咨询|\d{7,}|\d{3,4}-\d{7,8}|\[(PHONE|LANDLINE)\]"),
                "缺少后续联系方式"),
    "substance": (2, None, "只有“已收悉/正在处理”一类套话，没有实质内容"),
}
# what a reply says that is no answer: greetings, thanks, acknowledgements, promises to look into it
BOILERPLATE = re.compile(
    r"您好|你好|尊敬的|网友|先生|女士|感谢|谢谢|您的?(来信|留言|反映|问题|诉求)|已收悉|收悉|收到|正在(处理|调查|核实|办理|研究)|"
    r"我们(将|会)(尽快|认真|及时)?(处理|调查|核实|研究|办理|落实|跟进)|请耐心等待|特此(答复|回复)|此复|祝您?[^。]{0,8}|"
    r"[，。！？、；：,.!?;:\s\[\]A-Z_]")
SUBSTANCE_CHARS = 20  # characters left once the boilerplate is removed: fewer is an empty reply

Embed = Callable[[list[str]], tuple[str, np.ndarray]]  # Assistant.embed: texts → (embedding, unit vectors)


def form_checks(reply: str) -> dict[str, bool]:
    text = normalize(reply)
    out = {name: bool(pattern.search(text)) for name, (_, pattern, _) in FORM.items() if pattern is not None}
    out["substance"] = len(BOILERPLATE.sub("", text)) >= SUBSTANCE_CHARS
    return out


def expected_items(places: Sequence[str], keywords: Sequence[str]) -> list[str]:
    """What a complete reply names: the message's specific places (not the city or a district alone) and its
    most salient keywords."""
    return [*sorted(specific_places(places), key=list(places).index), *keywords[:KEYWORDS]]


def coverage(items: Sequence[str], reply: str) -> tuple[list[str], list[str]]:
    text = normalize(reply)
    return [i for i in items if i in text], [i for i in items if i not in text]


def relevance_score(cosine: float) -> float:
    return float(np.clip((cosine - RELEVANCE_LOW) / (RELEVANCE_HIGH - RELEVANCE_LOW), 0, 1))


def assess(cosine: float, items: Sequence[str], reply: str) -> dict[str, Any]:
    """The score (0..100) of a reply whose vector has `cosine` to the message's, and what is missing."""
    covered, missing_items = coverage(items, reply)
    form = form_checks(reply)
    form_share = sum(FORM[k][0] for k, ok in form.items() if ok) / sum(w for w, _, _ in FORM.values())
    completeness = len(covered) / len(items) if items else 1.0
    parts = {"relevance": relevance_score(cosine), "completeness": completeness, "form": form_share}
    missing = [FORM[k][2] for k, ok in form.items() if not ok]
    if missing_items:
        missing.append(f"未提及：{'、'.join(missing_items)}")
    if parts["relevance"] == 0:
        missing.append("与来信内容关联度低")
    return {"score": round(100 * sum(WEIGHTS[k] * v for k, v in parts.items())), "cosine": round(cosine, 4),
            **{k: round(v, 4) for k, v in parts.items()}, "checks": form, "covered": covered,
            "not_covered": missing_items, "missing": missing}


def check_reply(ticket: dict[str, Any], reply: str, embed: Embed) -> dict[str, Any]:
    """The draft `reply` to `ticket` (its places and keywords from intake), scored. The message and the reply
    are embedded in one call, both PII-masked."""
    embedding, vectors = embed([ticket_input(ticket), masked_input(None, reply)])
    cosine = float(vectors[0] @ vectors[1])
    items = expected_items(ticket.get("places") or [], ticket.get("keywords") or [])
    return {"ticket_id": ticket["id"], "model_version": embedding, **assess(cosine, items, reply)}

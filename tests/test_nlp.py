"""minsheng.core.nlp: PII offsets (exact, on the normalized text), masking, keywords, places, the spaCy pipeline."""
from __future__ import annotations

import json
import re

import pytest

from minsheng.core.nlp import (
    PII_COMPONENT,
    Analysis,
    PiiSpan,
    TextAnalyzer,
    get_analyzer,
    is_keyword,
    mask_pii,
)
from minsheng.core.text import normalize


@pytest.fixture(scope="module")
def analyzer() -> TextAnalyzer:
    return get_analyzer()


def _luhn(digits: str) -> bool:
    """Independent of the module's check, so the card fixtures below are known-valid / known-invalid."""
    total = sum(int(d) if i % 2 == 0 else sum(divmod(int(d) * 2, 10)) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


PII_CASES = [
    ("PHONE", "13812345678", "您好,我的手机13812345678,请尽快回电。"),
    ("PHONE", "138-1234-5678", "我的电话是138-1234-5678,白天都在。"),
    ("PHONE", "138 1234 5678", "联系人张先生 138 1234 5678 谢谢"),
    ("PHONE", "+86 138 1234 5678", "在外地,请打+86 138 1234 5678联系我"),
    ("PHONE", "+86-13812345678", "号码+86-13812345678。"),
    ("LANDLINE", "0731-1234567", "物业电话0731-1234567一直没人接"),
    ("LANDLINE", "0731-12345678", "拨打0731-12345678无人接听"),
    ("LANDLINE", "(0731)12345678", "社区电话(0731)12345678打不通"),
    ("LANDLINE", "0731 1234567", "座机0731 1234567,工作日可联系"),
    ("ID_NUMBER", "430102199003071234", "本人身份证号430102199003071234,户口在A市"),
    ("ID_NUMBER", "43010219900307123X", "身份证43010219900307123X。"),
    ("BANK_CARD", "6222021234567894", "工资打到卡号6222021234567894里了"),
    ("BANK_CARD", "6222 0212 3456 7894", "退款请转到6222 0212 3456 7894,谢谢"),
    ("BANK_CARD", "6222-0212-3456-7894", "卡号6222-0212-3456-7894被冻结"),
    ("BANK_CARD", "6228480012345678903", "农行卡6228480012345678903扣了两次费"),
    ("PLATE", "湘A12345", "车牌湘A12345长期占用消防通道"),
    ("PLATE", "湘A·12345", "湘A·12345的货车每晚停在小区门口"),
    ("PLATE", "粤BD12345", "新能源车粤BD12345占了充电位"),
    ("EMAIL", "zhang.san@example.com", "回复请发邮箱zhang.san@example.com,谢谢"),
]


@pytest.mark.parametrize(("kind", "value", "sentence"), PII_CASES, ids=[c[1] for c in PII_CASES])
def test_pii_found_with_exact_offsets(analyzer, kind, value, sentence):
    result = analyzer.analyze(sentence)
    start = result.text.index(value)
    assert [s for s in result.pii if s.type != "NAME"] == [PiiSpan(kind, start, start + len(value), value)]


def test_card_fixtures_are_luhn_valid_and_their_neighbour_is_not():
    assert _luhn("6222021234567894") and _luhn("6228480012345678903")
    assert not _luhn("6222021234567890")


def test_phone_and_id_in_one_message(analyzer):
    text = "我的电话是138-1234-5678,身份证430102199003071234"
    assert [(s.type, s.start, s.end) for s in analyzer.analyze(text).pii] == [("PHONE", 5, 18), ("ID_NUMBER", 22, 40)]


def test_offsets_refer_to_the_normalized_text(analyzer):
    raw = "我的   电话：１３８１２３４５６７８"  # full-width digits and a whitespace run
    result = analyzer.analyze(raw)
    assert result.text == normalize(raw) == "我的 电话:13812345678"
    (span,) = result.pii
    assert (span.type, result.text[span.start : span.end]) == ("PHONE", "13812345678")


def test_id_number_that_passes_luhn_is_not_also_a_bank_card(analyzer):
    assert _luhn("430102199003071236")
    assert [s.type for s in analyzer.analyze("身份证430102199003071236").pii] == ["ID_NUMBER"]


@pytest.mark.parametrize("sentence", [
    "订单号6222021234567890查不到",  # 16 digits failing Luhn
    "流水号12345678901234567890123",  # 23 digits: too long for any type
    "2019/2/28报修,2019-02-28 12:30又报了一次",
    "拖欠工资12000元,押金1020408元",
    "编号2013812345678999",  # a mobile number inside a longer digit run
    "单号13812345678901",
    "身份证430102199002301234",  # 30 February: not a birth date (and not Luhn-valid either)
    "我买了新iPad12,在A3区",
])
def test_no_false_positives(analyzer, sentence):
    assert analyzer.analyze(sentence).pii == []


def test_mask_pii_removes_every_digit_of_the_phone(analyzer):
    result = analyzer.analyze("楼下装修噪音太大,请联系我138 1234 5678,或发邮件到li@qq.com")
    masked = mask_pii(result.text, result.pii)
    assert masked == "楼下装修噪音太大,请联系我[PHONE],或发邮件到[EMAIL]"
    assert not re.search(r"\d", masked)
    assert mask_pii(result.text, result.to_dict()["pii"]) == masked  # dicts work as well as PiiSpans


def test_mask_pii_merges_overlapping_spans():
    spans = [{"type": "A", "start": 1, "end": 3}, {"type": "B", "start": 2, "end": 5}]
    assert mask_pii("0123456", spans) == "0[A]56"


def test_keywords_of_a_noise_complaint(analyzer):
    text = ("您好,领导!我们小区楼下的烧烤店每天营业到凌晨两点,噪音扰民严重,油烟也很大,"
            "投诉多次没有处理,请问能否尽快整改?谢谢!电话13812345678")
    keywords = analyzer.analyze(text).keywords
    assert "噪音" in keywords
    assert 0 < len(keywords) <= 8
    assert not {"你好", "您好", "谢谢", "请问", "问题", "领导", "我们", "他们"} & set(keywords)
    assert all(len(k) > 1 and not k.isdigit() and "138" not in k for k in keywords)


def test_top_k_limits_keywords():
    assert len(TextAnalyzer(top_k=3).analyze("小区噪音扰民,烧烤店油烟严重,垃圾无人清运,道路积水").keywords) == 3


def test_places_from_masked_address(analyzer):
    places = analyzer.analyze("A市A3区黄兴镇仙人市村联丰路米兰春天小区").places
    assert places == ["A市", "A3区", "黄兴镇", "仙人市村", "联丰路", "米兰春天小区"]


def test_places_deduplicated_and_bounded(analyzer):
    places = analyzer.analyze("我住在A市暮云街道丽发新城小区,A市的领导请管一管,西地省K市建设路与解放西路交汇处").places
    assert places == ["A市", "暮云街道", "丽发新城小区", "西地省", "K市", "建设路", "解放西路"]


def test_generic_place_words_alone_are_not_places(analyzer):
    assert analyzer.analyze("我去超市买东西走马路,这个小区的社区和我市本区都不管,该区也不管").places == []


def test_places_ignore_pii(analyzer):
    assert analyzer.analyze("湘A12345停在黄兴镇").places == ["黄兴镇"]  # 湘 is a province, but only as a plate here


def test_to_dict_carries_no_raw_pii_unless_asked(analyzer):
    result = analyzer.analyze("我的电话是138-1234-5678,身份证430102199003071234,住在A3区")
    plain = result.to_dict()
    dumped = json.dumps(plain, ensure_ascii=False)
    assert "1234" not in dumped and "430102" not in dumped
    assert plain["pii"] == [{"type": "PHONE", "start": 5, "end": 18}, {"type": "ID_NUMBER", "start": 22, "end": 40}]
    assert "A3区" in plain["places"]
    assert [p["text"] for p in result.to_dict(include_pii_text=True)["pii"]] == ["138-1234-5678", "430102199003071234"]


def test_pipe_matches_analyze(analyzer):
    texts = ["车牌湘A·12345乱停", "A市A3区噪音扰民", "", "邮箱a@b.cn"]
    assert analyzer.pipe(texts, batch_size=2) == [analyzer.analyze(t) for t in texts]


def test_empty_text(analyzer):
    assert analyzer.analyze("  ") == Analysis("", [], [], [])


def test_spacy_pipeline_holds_token_aligned_pii_spans(analyzer):
    assert analyzer.nlp.pipe_names == [PII_COMPONENT]
    assert analyzer.nlp.tokenizer.segmenter == "jieba"
    doc = analyzer.nlp("身份证430102199003071234,电话138-1234-5678")
    assert [s.label_ for s in doc.spans["pii"]] == ["ID_NUMBER", "PHONE"]
    for span, exact in zip(doc.spans["pii"], doc._.pii):
        assert span.start_char <= exact.start and span.end_char >= exact.end


def test_get_analyzer_is_a_singleton():
    assert get_analyzer() is get_analyzer()


def test_traditional_text_is_normalized_to_simplified_and_simplified_is_left_as_written():
    from minsheng.core.text import normalize

    assert normalize("建議政府加強對食品安全的監管") == "建议政府加强对食品安全的监管"
    assert normalize("路燈壞了一個月沒人修，請儘快處理") == "路灯坏了一个月没人修,请尽快处理"
    # Simplified text with a character t2s would rewrite (乾城 is a place name here) stays as written
    assert normalize("坚决反对修改A市乾城二期原规划") == "坚决反对修改A市乾城二期原规划"


@pytest.mark.parametrize(("sentence", "names"), [
    ("业主黄尊富多次找物业,王先生和李女士也去了", ["黄尊富", "王", "李"]),  # the HMM's name; titles keep their title
    ("尊敬的张书记:刘老师和陈师傅都知道", ["张", "刘", "陈"]),
    ("邻居杨秀英家的狗每天叫", ["杨秀英"]),  # jieba splits 杨|秀英
    ("请政府管一管这家公司,我在王府井百货买的", []),
    ("孩子的历史老师在长沙市长期补课,这张卡也不能用", []),  # 史老师, 沙市长, 张卡 are no names
    ("范林村和杨铭园之间的路", []),  # jieba tags these nr: places
])
def test_person_names(analyzer, sentence, names):
    found = [s.text for s in analyzer.analyze(sentence).pii if s.type == "NAME"]
    assert found == names


@pytest.mark.parametrize(("sentence", "kind", "value"), [
    ("我住3栋2单元502室,楼上漏水", "ADDRESS", "3栋2单元502室"),
    ("5号楼1单元的电梯坏了", "ADDRESS", "5号楼1单元"),
    ("家住12幢301", "ADDRESS", "12幢301"),
    ("地址是建设路88号", "ADDRESS", "88号"),
    ("我的QQ:123456789", "QQ", "123456789"),
    ("加微信zhang_wei88", "WECHAT", "zhang_wei88"),
    ("vx是lihua2020abc", "WECHAT", "lihua2020abc"),
    ("老身份证430102580307123", "ID_NUMBER", "430102580307123"),
])
def test_addresses_qq_wechat_and_old_ids(analyzer, sentence, kind, value):
    start = sentence.index(value)
    assert analyzer.analyze(sentence).pii == [PiiSpan(kind, start, start + len(value), value)]


@pytest.mark.parametrize("sentence", [
    "新建一栋十五层的楼", "11栋18层的小高层", "户型是3室2厅", "5号楼的电梯", "3栋105m2户型",  # no household
    "加入QQ群12345678", "关注微信公众号", "订单号202011281234567",  # a group, an account, a 15-digit non-date
])
def test_no_false_addresses_or_ids(analyzer, sentence):
    assert analyzer.analyze(sentence).pii == []


def test_keywords_carry_no_pii_and_no_junk(analyzer):
    text = ("业主黄尊富反映:我家一直漏水,三个月了,A8栋42m2的房子每月水费15m3,物业经理周海涛不管,"
            "王先生也说漏水严重,电话13812345678,微信zhang_wei88,A市A3区")
    keywords = analyzer.analyze(text).keywords
    assert "漏水" in keywords
    shown = "".join(keywords)
    for pii in ("黄尊富", "尊富", "周海涛", "海涛", "138", "zhang"):
        assert pii not in shown
    assert not {"我家", "一直", "三个", "三个月", "42m2", "15m3", "A8", "A3", "A市", "PHONE", "NAME"} & set(keywords)


@pytest.mark.parametrize("word", ["我家", "一直", "三个", "42m2", "15m3", "A8", "L3", "A市", "A3区", "PHONE", "12345",
                                  "黄尊富", "附近"])
def test_junk_is_no_keyword(word):
    assert not is_keyword(word)


@pytest.mark.parametrize("word", ["噪音", "漏水", "幼儿园", "许可证", "高新区", "物业", "拖欠"])
def test_content_words_are_keywords(word):
    assert is_keyword(word)

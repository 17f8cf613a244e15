"""spaCy text analysis of a feedback message: PII spans (for masking), keywords and place mentions.

Everything runs on `normalize(text)`, so PII offsets index the normalized text. spaCy has no Chinese pretrained
pipeline here, so the pipeline is a blank "zh" one (jieba segmentation) plus one rule component for PII: the
patterns, then one jieba POS pass over the text with their hits blanked, whose tokens give the person names and
the places; keywords come from jieba's TF-IDF on the text with all PII blanked out.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Iterable, Sequence

import jieba
import jieba.analyse
import jieba.posseg
import spacy
from spacy.language import Language
from spacy.tokens import Doc

from minsheng.core.text import model_input, normalize

jieba.setLogLevel(logging.WARNING)

PII_COMPONENT = "minsheng_pii"
if not Doc.has_extension("pii"):
    # The exact PII spans; doc.spans["pii"] can only hold token-aligned (expanded) spans.
    Doc.set_extension("pii", default=None)
if not Doc.has_extension("tagged"):
    Doc.set_extension("tagged", default=None)  # jieba (word, POS) of the text with the pattern PII blanked

# --- PII patterns. Chinese text has no spaces, so boundaries are digit lookarounds, never \b. -----------------
# Listed in priority order: a later pattern never claims characters an earlier one already claimed, so an ID
# number is not also a bank card and a phone inside an e-mail address is not reported twice. A pattern with a
# group "v" reports that group only: the cue before it (QQ, 微信) stays readable.
_NUM = r"(?:\d{1,4}|[一二三四五六七八九十两零〇]{1,3})"
_PII_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("EMAIL", re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("ID_NUMBER", re.compile(
        r"(?<!\d)[1-9]\d{5}(?P<y>(?:18|19|20)\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)")),
    # the 15-digit ID of before 1999: a two-digit year of the 1900s, no check digit
    ("ID_NUMBER", re.compile(
        r"(?<!\d)[1-9]\d{5}(?P<y>\d{2})(?P<m>0[1-9]|1[0-2])(?P<d>0[1-9]|[12]\d|3[01])\d{3}(?![\dXx])")),
    # 16-19 digits, either one run (not the front of an ID ending in X) or grouped in fours with one separator.
    ("BANK_CARD", re.compile(
        r"(?<!\d)(?:\d{16,19}(?![\dXx])"
        r"|\d{4}(?P<sep>[- ])\d{4}(?P=sep)\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,3})?(?![- ]?\d))")),
    ("PHONE", re.compile(r"(?<!\d)(?:(?:\+|00)86[- ]?|86)?1[3-9]\d(?:[- ]?\d{4}){2}(?!\d)")),
    # A separator or parentheses after the area code is required: bare 0-led digit runs are too often codes.
    ("LANDLINE", re.compile(r"(?<!\d)(?:\(0\d{2,3}\) ?|0\d{2,3}[- ])\d{7,8}(?!\d)")),
    # QQ numbers and WeChat ids only after their cue: alone they are any digit run or word.
    ("QQ", re.compile(r"(?:QQ|qq|Qq|扣扣)(?:号码|号)? ?(?:是|为|:)? ?(?P<v>[1-9]\d{4,10})(?!\d)")),
    ("WECHAT", re.compile(
        r"(?:(?:微信|威信|薇信|[VvWw][Xx]|[Vv]信)(?:号|账号|[Ii][Dd])? ?(?:是|为|:)? ?(?P<v>[A-Za-z][-_A-Za-z0-9]{5,19})"
        r"|(?P<wxid>wxid_[A-Za-z0-9]{4,20}))(?![-_A-Za-z0-9])")),
    ("PLATE", re.compile(
        r"[京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新][A-Z][·• ]?(?P<tail>[A-Z0-9]{5,6})(?![A-Za-z0-9])")),
    # A household's address: a house number on a street (建设路88号), a unit in a building (5号楼1单元), a room in a
    # building or unit (3栋2单元502室, 12幢301), a room with 室. Not a building alone (5号楼) nor a building and
    # a floor count (一栋十五层, 11栋18层: how tall), nor a floor area (3栋105m2).
    ("ADDRESS", re.compile(
        r"(?:(?<=[路街巷道弄里])(?P<house>\d{1,5}号)(?:院)?)?"
        rf"(?P<bld>(?:[A-Za-z]?{_NUM}[A-Za-z]?|[A-Za-z])(?:号楼|栋|幢|座|号院))?-?"
        rf"(?P<unit>{_NUM}单元)?-?"
        rf"(?P<floor>{_NUM}(?:楼|层)(?![梯道房顶下上]))?-?"
        r"(?P<room>\d{3,5}(?![\d楼层厅栋幢mM㎡平户元万人米])(?:室|房|号)?|\d{1,2}(?:室|号房)(?![厅\d]))?")),
]


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _valid(label: str, m: re.Match[str]) -> bool:
    """Checks a regex cannot express: a real birth date, the Luhn digit, a plate tail that looks like a plate, an
    address precise enough to find a household."""
    if label == "ID_NUMBER":
        year = int(m["y"]) + (1900 if len(m["y"]) == 2 else 0)
        try:
            born = date(year, int(m["m"]), int(m["d"]))
        except ValueError:  # e.g. 0230
            return False
        return date(1900, 1, 1) <= born <= date.today()
    if label == "BANK_CARD":
        return _luhn_ok(re.sub(r"\D", "", m.group()))
    if label == "PLATE":  # plate tails carry digits and at most two letters ("粤BD12345" -> "D12345")
        tail = m["tail"]
        return sum(c.isalpha() for c in tail) <= 2 and any(c.isdigit() for c in tail)
    if label == "ADDRESS":
        room_in = m["room"] and (m["bld"] or m["unit"] or m["floor"] or m["room"].endswith("室"))
        return bool(m["house"] or (m["unit"] and (m["bld"] or m["room"])) or room_in)
    return True


# --- person names: jieba's "nr" tokens that look like a name, and a surname before a title ---------------------
# The commonest surnames. Left out on purpose: surnames that are mostly other words at a name's place (于 向 和 原
# 区 全 时 成 明 路 车 文 史 乐 都 ...), so 向老师反映 or 原书记 are no names.
SURNAMES = frozenset(
    "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 林 罗 郑 梁 谢 宋 唐 许 韩 冯 邓 曹 彭 曾 肖 萧 田 董 袁 潘 蔡 蒋 "
    "余 杜 叶 程 苏 魏 吕 丁 任 沈 姚 卢 姜 崔 钟 谭 陆 汪 范 金 石 廖 贾 夏 韦 付 傅 方 白 邹 孟 熊 秦 邱 江 尹 薛 闫 阎 "
    "段 雷 侯 龙 陶 黎 贺 顾 毛 郝 龚 邵 万 钱 严 覃 武 戴 莫 孔 汤 易 常 温 康 施 牛 樊 葛 邢 安 齐 伍 庞 颜 倪 聂 章 "
    "鲁 岳 翟 殷 詹 欧 申 耿 关 兰 焦 俞 左 柳 甘 祝 包 宁 尚 符 舒 阮 柯 纪 梅 童 凌 毕 单 季 裴 霍 涂 苗 谷 盛 曲 翁 "
    "冉 骆 蓝 游 辛 靳 管 柴 蒙 鲍 华 喻 祁 蒲 房 滕 屈 饶 解 牟 艾 尤 阳 穆 农 卓 古 吉 缪 简 项 连 芦 麦 褚 娄 窦 "
    "戚 岑 景 党 宫 费 卜 冷 晏 席 卫 米 柏 宗 瞿 桂 佟 应 臧 闵 苟 邬 边 卞 姬 栾 隋 商 刁 荣 巫 寇 桑 郎 甄 丛 仲 "
    "虞 敖 巩 佘 池 乔 高 欧阳 司马 诸葛 上官 皇甫 尉迟 公孙 令狐 慕容 夏侯 长孙 宇文 司徒 东方 独孤 端木".split())
# Titles and forms of address after a surname: 王先生, 李女士, 张书记, 刘老师, 陈师傅; 张某 (a name withheld).
HONORIFICS = ("先生 女士 小姐 太太 书记 老师 师傅 主任 局长 处长 科长 所长 院长 校长 部长 厅长 队长 组长 站长 社长 "
              "经理 总监 老板 医生 大夫 护士 警官 律师 会计 阿姨 大爷 大妈 大姐 大哥 同志 支书 老总 某某 某").split()
_HONORIFIC = re.compile("(?P<v>{})(?:{})".format(
    "|".join(sorted(SURNAMES, key=len, reverse=True)), "|".join(sorted(HONORIFICS, key=len, reverse=True))))
# What a name never ends in, and never stands right before: places, estates, shops (范林村, 杨铭园, 金鸿星小区).
_NOT_NAME_ENDINGS = ("村", "路", "街", "巷", "镇", "乡", "县", "区", "市", "省", "苑", "园", "城", "湾", "冲", "塘",
                     "庄", "桥", "山", "岭", "坡", "洲", "港", "楼", "栋", "店", "厂", "府")
_NAME_BLOCKERS = _NOT_NAME_ENDINGS + ("小区", "社区", "花园", "广场", "大道", "新城", "家园", "大厦", "公司", "集团",
                                  "超市", "商场", "银行", "酒店", "宾馆", "医院", "学校", "中学", "小学", "大学", "学院",
                                  "幼儿园", "派出所", "物业", "公馆", "名城", "国际", "新村", "自然村", "安置", "河", "湖",
                                  "东路", "西路", "南路", "北路", "中路", "大桥", "高铁", "地图", "置业", "地产",
                                  "房地产", "实业", "投资", "建设", "工程", "机械", "医药", "文化", "科技", "商业",
                                  "物流", "传媒", "贸易", "信群")
# Before 张 (这张卡, 一张) or 连 (为何连), a numeral or demonstrative makes the "surname" a measure word or adverb.
_NOT_BEFORE_NAME = frozenset("这那一二两三几每哪半整某何")
_COMMON_NAME_WORD_FREQ = 50  # a dictionary word this frequent is a word, even where jieba tags it a name
_COMMON_PREFIX_WORD_FREQ = 100  # 历史老师, 长沙市长: the character before a surname forms a word with it


def _surname_of(word: str) -> str | None:
    for size in (2, 1):
        if word[:size] in SURNAMES:
            return word[:size]
    return None


def _token_names(tokens: Sequence[tuple[str, str]], text: str) -> list[tuple[int, int]]:
    """Person names among jieba's POS tokens: an "nr" token (or a surname token and a given-name token: 杨|秀英,
    欧阳|娜娜) that starts with a surname, has 2-3 characters after a one-character surname (3-4 after a
    two-character one), is not a word of jieba's dictionary (real names come from its HMM; it also tags 幼儿园,
    许可, 高峰, 戴眼镜 nr, and its rare full names are as often brands: 高露洁, 温斯顿), is no place or shop
    (范林村, 金鸿星|小区) and does not follow a numeral or demonstrative (这张卡)."""
    names, offset, i = [], 0, 0
    while i < len(tokens):
        word, flag = tokens[i]
        size = 1
        given = tokens[i + 1] if i + 1 < len(tokens) else ("", "")
        if (word in SURNAMES and (flag == "nr" or len(word) == 2) and given[1].startswith("nr")
                and len(given[0]) <= 2 and given[0] not in HONORIFICS
                and (jieba.get_FREQ(given[0]) or 0) < _COMMON_NAME_WORD_FREQ):
            word, size = word + given[0], 2
        elif not (flag in ("nr", "nrfg") and not jieba.get_FREQ(word)):
            offset, i = offset + len(word), i + 1
            continue
        surname = _surname_of(word)
        following = tokens[i + size][0] if i + size < len(tokens) else ""
        if (surname and 2 <= len(word) - len(surname) + 1 <= 3 and not word.endswith(_NOT_NAME_ENDINGS)
                and text[offset - 1 : offset] not in _NOT_BEFORE_NAME and not following.startswith(_NAME_BLOCKERS)):
            names.append((offset, offset + len(word)))
        offset, i = offset + len(word), i + size
    return names


def _honorific_names(text: str) -> list[tuple[int, int]]:
    """The surname of 王先生, 李女士, 张书记...: not where the character before makes a common word with the
    surname (历史老师, 长沙市长 would give 史, 沙)."""
    found = []
    for m in _HONORIFIC.finditer(text):
        start = m.start("v")
        if start and (jieba.get_FREQ(text[start - 1 : start + 1]) or 0) >= _COMMON_PREFIX_WORD_FREQ:
            continue
        found.append((start, m.end() if m.group().endswith("某") else m.end("v")))
    return found


PII_TYPES = frozenset(label for label, _ in _PII_PATTERNS) | {"NAME"}


@dataclass(frozen=True)
class PiiSpan:
    type: str
    start: int  # offsets into the normalized text
    end: int
    text: str


def _overlaps(start: int, end: int, taken: Sequence[PiiSpan]) -> bool:
    return any(start < s.end and s.start < end for s in taken)


def _blank(text: str, spans: Sequence[PiiSpan]) -> str:
    """PII replaced by as many spaces: offsets stay valid and no PII character reaches keywords or places."""
    for s in spans:
        text = f"{text[: s.start]}{' ' * (s.end - s.start)}{text[s.end :]}"
    return text


def _scan(text: str) -> tuple[list[PiiSpan], list[tuple[str, str]]]:
    """All PII in `text` (non-overlapping, in text order, exact offsets) and the jieba POS tokens of the text with
    the pattern PII blanked: the one POS pass, which gives names here and places to the analyzer."""
    taken: list[PiiSpan] = []
    for label, pattern in _PII_PATTERNS:
        for m in pattern.finditer(text):
            group = next((g for g in ("v", "wxid") if g in pattern.groupindex and m[g]), 0)
            start, end = m.span(group)
            if end > start and _valid(label, m) and not _overlaps(start, end, taken):
                taken.append(PiiSpan(label, start, end, text[start:end]))
    blanked = _blank(text, taken)
    tokens = [(p.word, p.flag) for p in jieba.posseg.cut(blanked)]
    for start, end in sorted(_token_names(tokens, blanked) + _honorific_names(blanked)):
        if not _overlaps(start, end, taken):
            taken.append(PiiSpan("NAME", start, end, text[start:end]))
    return sorted(taken, key=lambda s: s.start), tokens


def find_pii(text: str) -> list[PiiSpan]:
    """All PII in `text`, non-overlapping, in text order, with the exact offsets: the patterns (phone, ID, bank
    card, plate, e-mail, QQ, WeChat, address) and person names."""
    return _scan(text)[0]


@Language.component(PII_COMPONENT)
def pii_component(doc: Doc) -> Doc:
    """Sets doc._.pii (exact spans), doc._.tagged (the POS tokens the places come from) and doc.spans["pii"] (the
    spans widened to token boundaries for spaCy)."""
    found, doc._.tagged = _scan(doc.text)
    doc._.pii = found
    doc.spans["pii"] = [doc.char_span(s.start, s.end, label=s.type, alignment_mode="expand") for s in found]
    return doc


# --- keywords and places -------------------------------------------------------------------------------------
# Words every message has (greetings, the writer, the addressee): never useful as keywords.
KEYWORD_STOPWORDS = frozenset(
    "你好 您好 谢谢 感谢 请问 问题 领导 我们 他们 你们 希望 反映 情况 现在 没有 已经 一下 什么 怎么 这个 那个 本人".split())
_NUMBER_UNIT = re.compile(r"[\d.,%]+(?:[A-Za-z㎡²³]{1,3}\d?)?")  # 42, 3.5, 50%, 42m2, 15m3, 100ml
_QUANTITY = re.compile(r"[一二三四五六七八九十百千万亿两几半多数每第]+[个只条次天年月周日号位名家户栋层楼米元块份台辆间套倍]?")
_MASKED_CODE = re.compile(r"[A-Za-z]{1,2}\d{0,3}[省市区县镇乡村]?")  # the organisers' masks (A市, A3区, L3) and QQ, vx
# pronouns, adverbs, numerals, measure words, conjunctions, prepositions, particles, locatives, interjections
_JUNK_FLAGS = ("r", "d", "m", "q", "c", "p", "u", "f", "y", "e", "o", "x")
_CJK = re.compile(r"[\u4e00-\u9fff]+")

# Longest first, so "小区" wins over "区".
PLACE_SUFFIXES = ("街道", "大道", "小区", "社区", "花园", "广场", "省", "市", "区", "县", "镇", "乡", "村", "路", "街")
# Place nouns that name no particular place: they end a place name ("暮云街道") but are not one alone.
GENERIC_PLACES = frozenset(
    "街道 大道 小区 社区 花园 广场 大街 市区 城区 郊区 地区 辖区 片区 园区 景区 街区 新区 农村 乡村 城乡 乡镇".split()
) | frozenset(PLACE_SUFFIXES)
# "我市"/"本区" refer to a place without naming one; the rest are words jieba's tagger often mislabels ns.
NOT_PLACES = frozenset(
    "本市 我市 该市 全市 此市 本区 我区 该区 全区 本县 我县 该县 全县 本镇 我镇 该镇 全镇 本村 我村 该村 全村 省市 "
    "东西 美丽 治安 新建 平安".split())
# Common words that end in a place suffix character but name no place: 城市, 卫生城市, 步步高超市, 马路.
_NOT_PLACE_ENDINGS = ("城市", "超市", "门市", "马路", "道路", "公路", "思路", "线路", "电路")
_NAME_FLAGS = ("ns", "nt", "nz", "nr")
_COMMON_WORD_FREQ = 50  # a dictionary word this frequent and not tagged as a name is a common noun: 超市, 马路, 城市
_FUNCTION_FLAGS = ("r", "p", "c", "u", "d", "x", "w", "y", "q", "f")  # no "e": it would catch "eng"
_INNER_FLAGS = ("n", "t", "s", "j", "b", "a", "m", "vn")  # what may stand further back: "米兰/ns 春天/t 小区"
_LEADING_FLAGS = ("t", "m", "a")  # time words, numerals, adjectives do not start a name: "去年黄兴镇", "好这条百姓路"
_ONE_CHAR = frozenset(s for s in PLACE_SUFFIXES if len(s) == 1)
MAX_PLACE_CHARS = 12
# Tokens a name may take before a suffix token, by how much name that token already has: 米兰/春天/小区,
# 解放/西路, and none for 西地省 (else "集团旗下西地省").
_MAX_PREFIX_TOKENS = (3, 1, 0)


def _suffix_name_len(word: str, flag: str) -> int | None:
    """How much of a place name a token ending in a place suffix carries (黄兴镇 2, 西路 1, 镇 0), or None if the
    token cannot end a place name (超市, 马路: common words; 我市). Generic nouns (小区) and unflagged one-character
    names (市村 in 仙人/市村, 交市) count 0: a name must come before them."""
    suffix = next((s for s in PLACE_SUFFIXES if word.endswith(s)), None)
    if suffix is None or word in NOT_PLACES or word.endswith(_NOT_PLACE_ENDINGS):
        return None
    named = flag.startswith(_NAME_FLAGS)
    if word in GENERIC_PLACES:
        return 0
    if not named and jieba.get_FREQ(word, 0) >= _COMMON_WORD_FREQ:
        return None
    name_len = len(word) - len(suffix)
    return name_len if named or name_len >= 2 else 0


def _can_prefix(word: str, flag: str, immediate: bool, name_len: int) -> bool:
    """Whether a token can be part of the name before a place suffix token."""
    if word.isascii():  # a masked name (A, A3, K5) stands right before its suffix and is the whole name
        return immediate and word.isalnum() and not word.isdigit()
    if any(c.isdigit() for c in word) or flag.startswith(_FUNCTION_FLAGS):  # "2009年", "住在", "这个"
        return False
    if flag.startswith("v") and flag != "vn":  # "解放/v 西路", but not "上报/v 小区", "移交/v 市", "举报/v 西地省"
        return immediate and name_len == 1 and len(word) > 1
    return immediate or flag.startswith(_INNER_FLAGS)


def _accept_place(place: str) -> bool:
    return 2 <= len(place) <= MAX_PLACE_CHARS and place not in NOT_PLACES and not place.endswith(_NOT_PLACE_ENDINGS)


def extract_places(text: str) -> list[str]:
    return places_of([(p.word, p.flag) for p in jieba.posseg.cut(text)])


def places_of(tagged: Iterable[tuple[str, str]]) -> list[str]:
    """Place mentions in text order, deduplicated, from jieba's POS tokens: 'ns' words, and names ending in a place
    suffix assembled from the tokens before it (jieba splits "黄兴镇" into 黄兴/镇 and "米兰春天小区" into three)."""
    tokens: list[tuple[str, str]] = []
    for word, flag in tagged:
        after_code = tokens and tokens[-1][0].isascii() and tokens[-1][0].isalnum()
        if after_code and len(word) > 1 and word[0] in _ONE_CHAR:  # jieba glues a masked name's suffix on: A6|区乾源
            tokens += [(word[0], "n"), (word[1:], flag)]
        else:
            tokens.append((word, flag))
    starts: dict[int, str] = {}  # first token index -> place assembled from it
    used: set[int] = set()
    for i, (word, flag) in enumerate(tokens):
        name_len = _suffix_name_len(word, flag)
        if name_len is None:
            continue
        j, size = i, len(word)
        while (
            j > 0 and i - j < _MAX_PREFIX_TOKENS[min(name_len, 2)]
            and _suffix_name_len(*tokens[j - 1]) is None  # a suffix token ends the previous place: A市|A3区
            and _can_prefix(*tokens[j - 1], immediate=j == i, name_len=name_len)
            and size + len(tokens[j - 1][0]) <= MAX_PLACE_CHARS
        ):
            j -= 1
            size += len(tokens[j][0])
            if tokens[j][0].isascii():
                break
        while j < i and tokens[j][1].startswith(_LEADING_FLAGS) and not (
            j == i - 1 and tokens[j][1][0] == "a" and len(tokens[j][0]) > 1
        ):
            j += 1  # keeps a lone two-character adjective: "幸福/a 小区", not "新/a 小区"
        if j < i or name_len:
            starts[j] = "".join(w for w, _ in tokens[j : i + 1])
            used.update(range(j, i + 1))
    places: list[str] = []
    for i, (word, flag) in enumerate(tokens):
        place = starts.get(i) or (word if flag == "ns" and i not in used else None)
        if place and place not in places and _accept_place(place):
            places.append(place)
    return places


def _looks_like_name(word: str) -> bool:
    """A word that starts with a surname and is not in jieba's dictionary (made up by its HMM: 黄尊富) or is one of
    the dictionary's rarer person names: a name the PII rules let through must not become a keyword either."""
    if _surname_of(word) is None or not 2 <= len(word) <= 4 or not _CJK.fullmatch(word):
        return False
    jieba.dt.check_initialized()  # get_FREQ answers None until the dictionary is loaded
    freq = jieba.get_FREQ(word)
    if not freq:
        return True
    # the dictionary's rarer "names" are names (雷峰, 温斯顿); its common ones are words (许可, 阳光, 高新区)
    named = jieba.posseg.dt.word_tag_tab.get(word, "").startswith("nr")
    return named and freq < _COMMON_NAME_WORD_FREQ and not word.endswith(_NOT_NAME_ENDINGS)


def is_keyword(word: str) -> bool:
    """Whether a TF-IDF candidate says what a message is about: no single character, stop word, pronoun, adverb,
    numeral, measure word or other function word (我家, 一直, 三个), no number with a unit (42m2, 15m3), no masked
    code or PII tag (A8, L3, A市, PHONE), no name."""
    return (len(word) > 1 and word not in KEYWORD_STOPWORDS and word not in PII_TYPES
            and not jieba.posseg.dt.word_tag_tab.get(word, "").startswith(_JUNK_FLAGS)
            and not any(p.fullmatch(word) for p in (_NUMBER_UNIT, _QUANTITY, _MASKED_CODE))
            and not _looks_like_name(word))


def extract_keywords(text: str, top_k: int) -> list[str]:
    """jieba TF-IDF keywords that pass is_keyword. Asks jieba for extra candidates so filtering still leaves top_k.
    PII must be blanked or masked in `text` first (TextAnalyzer and masked_input do)."""
    candidates = jieba.analyse.extract_tags(text, topK=3 * top_k + len(KEYWORD_STOPWORDS))
    return [w for w in candidates if is_keyword(w)][:top_k]


# --- public API ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Analysis:
    text: str  # the normalized text
    pii: list[PiiSpan]
    keywords: list[str]
    places: list[str]

    def to_dict(self, include_pii_text: bool = False) -> dict:
        """JSON-ready. Leaves out the text itself and, unless asked, the PII strings: logs and API responses must
        not carry PII. Keywords and places never contain PII (they are computed with it blanked out)."""
        pii = [{"type": s.type, "start": s.start, "end": s.end} | ({"text": s.text} if include_pii_text else {})
               for s in self.pii]
        return {"pii": pii, "keywords": list(self.keywords), "places": list(self.places)}


def mask_pii(text: str, spans: Sequence[PiiSpan | dict]) -> str:
    """Replaces each span by its type tag ("[PHONE]"). Overlapping spans are merged (first type wins) so no
    character of either survives; replacing right to left keeps the remaining offsets valid."""
    items = sorted((s["start"], s["end"], s["type"]) if isinstance(s, dict) else (s.start, s.end, s.type)
                   for s in spans)
    merged: list[list] = []
    for start, end, kind in items:
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end, kind])
    for start, end, kind in reversed(merged):
        text = f"{text[:start]}[{kind}]{text[end:]}"
    return text


def masked_input(title: str | None, text: str, pii: Sequence[PiiSpan | dict] | None = None) -> str:
    """The model input (title。text) with PII replaced by its type ("[PHONE]"): what the classifier reads in
    training, evaluation and serving, and what the case base and hot issues embed, so no prediction or vector
    is computed from a citizen's phone number or ID. `pii`: the spans found at intake (offsets into the
    normalized text); found again when not given."""
    text = normalize(text)
    title = normalize(title)
    return model_input(mask_pii(title, find_pii(title)) if title else None,
                       mask_pii(text, find_pii(text) if pii is None else pii))


class TextAnalyzer:
    def __init__(self, top_k: int = 8):
        """Builds the spaCy pipeline once and loads jieba's dictionary and IDF table now, not on the first
        message."""
        self.top_k = top_k
        self.nlp = spacy.blank("zh", config={"nlp": {"tokenizer": {"segmenter": "jieba"}}})
        self.nlp.add_pipe(PII_COMPONENT)
        self._from_doc(self.nlp("A市黄兴镇噪音扰民"))

    def _from_doc(self, doc: Doc) -> Analysis:
        clean = _blank(doc.text, doc._.pii)
        return Analysis(doc.text, doc._.pii, extract_keywords(clean, self.top_k), places_of(doc._.tagged))

    def analyze(self, text: str) -> Analysis:
        return self._from_doc(self.nlp(normalize(text)))

    def pipe(self, texts: Iterable[str], batch_size: int = 64) -> list[Analysis]:
        return [self._from_doc(d) for d in self.nlp.pipe((normalize(t) for t in texts), batch_size=batch_size)]


@lru_cache(maxsize=1)
def get_analyzer() -> TextAnalyzer:
    return TextAnalyzer()

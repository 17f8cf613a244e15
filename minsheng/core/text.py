"""Text normalization and the model's input string: one definition, used by training and serving alike."""
from __future__ import annotations

import re
import unicodedata

import opencc

MAX_TEXT_CHARS = 5000  # longest message text the service accepts (documented in the README)
_SPACE = re.compile(r"\s+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
_TO_SIMPLIFIED = opencc.OpenCC("t2s")
# OpenCC's t2s also rewrites characters that are valid Simplified (乾城 -> 干城, 打坏 -> 打坯), so a text is
# converted only when at least a tenth of its Han characters change: in data/, 337 of 39,300 titles and texts
# have a character t2s would change; the four above the tenth (10-35%) are written in Traditional, the rest
# (at most 9.4%) are Simplified with a stray character, left as written.
TRADITIONAL_SHARE = 0.1


def to_simplified(text: str) -> str:
    """`text` in Simplified characters if it is written in Traditional ones, else unchanged."""
    converted = _TO_SIMPLIFIED.convert(text)
    if converted == text or len(converted) != len(text):
        return text
    changed = sum(a != b for a, b in zip(text, converted))
    return converted if changed >= TRADITIONAL_SHARE * len(_HAN.findall(text)) else text


def normalize(text: str | None) -> str:
    """NFKC (full-width letters, digits and punctuation to half-width), Traditional to Simplified characters,
    whitespace runs to one space."""
    if not text:
        return ""
    return to_simplified(_SPACE.sub(" ", unicodedata.normalize("NFKC", str(text))).strip())


def model_input(title: str | None, text: str | None) -> str:
    """What the encoder and the TF-IDF features read: the title first (it carries most of the signal), then
    the text. Either may be missing in training data; the service always has a text."""
    title, text = normalize(title), normalize(text)
    if title and text:
        return f"{title}。{text}"
    return title or text

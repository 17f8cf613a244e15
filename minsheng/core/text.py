"""Text normalization and the model's input string: one definition, used by training and serving alike."""
from __future__ import annotations

import re
import unicodedata

MAX_TEXT_CHARS = 5000  # longest message text the service accepts (documented in the README)
_SPACE = re.compile(r"\s+")


def normalize(text: str | None) -> str:
    """NFKC (full-width letters, digits and punctuation to half-width), whitespace runs to one space."""
    if not text:
        return ""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", str(text))).strip()


def model_input(title: str | None, text: str | None) -> str:
    """What the encoder and the TF-IDF features read: the title first (it carries most of the signal), then
    the text. Either may be missing in training data; the service always has a text."""
    title, text = normalize(title), normalize(text)
    if title and text:
        return f"{title}。{text}"
    return title or text

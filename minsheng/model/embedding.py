"""Which sentence vectors are comparable: those of one model version under one quantization (a dynamic int8
vector is at cosine ~0.99 to the fp32 one, so a verbatim repost would not look verbatim). Stored vectors (case
base, hot issues) carry this id, so vectors of another model or quantization are found and re-embedded, never
compared. No torch here: the service's HTTP worker reads it too."""
from __future__ import annotations

from minsheng.settings import settings


def served_quantize() -> str:
    """The quantization the service runs the model with ($MINSHENG_QUANTIZE, else int8); what `minsheng cases
    build` embeds with and the promotion gate scores with too."""
    return settings().quantize


def embedding_id(model_version: str, quantize: str) -> str:
    """The id stored with a vector (column model_version of case_entry and hot_issue_ticket), e.g.
    "20261124-173030/int8"."""
    return f"{model_version}/{quantize}"

"""The multi-head transformer: one encoder, one linear head per task, mean-pooled sentence vector."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoTokenizer


class MultiHeadEncoder(nn.Module):
    """Encoder + a head per task. Each training example teaches only the heads it has labels for (-100 = none)."""

    def __init__(self, encoder: nn.Module, head_sizes: dict[str, int], dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        hidden = encoder.config.hidden_size
        self.heads = nn.ModuleDict({task: nn.Linear(hidden, n) for task, n in head_sizes.items()})

    def add_heads(self, head_sizes: dict[str, int]) -> None:
        """New, freshly initialised heads (a model continued on data with a task it lacked)."""
        for task, n in head_sizes.items():
            self.heads[task] = nn.Linear(self.encoder.config.hidden_size, n)

    @classmethod
    def from_base(cls, base_model: str | Path, head_sizes: dict[str, int]) -> "MultiHeadEncoder":
        return cls(AutoModel.from_pretrained(str(base_model)), head_sizes)

    @classmethod
    def from_config_dir(cls, path: str | Path, head_sizes: dict[str, int]) -> "MultiHeadEncoder":
        """Architecture only (weights come from the model's own state dict): loading needs no base model."""
        return cls(AutoModel.from_config(AutoConfig.from_pretrained(str(path))), head_sizes)

    @property
    def max_positions(self) -> int:
        """The longest input (in tokens, special ones included) the encoder has position embeddings for."""
        return self.encoder.config.max_position_embeddings

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.dropout(self.embed(input_ids, attention_mask))
        return {task: head(pooled) for task, head in self.heads.items()}


def multitask_loss(logits: dict[str, torch.Tensor], labels: dict[str, torch.Tensor],
                   class_weights: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
    """Sum of per-task cross-entropies over the examples that carry that task's label; `class_weights[task]`
    (optional) reweights that task's classes."""
    class_weights = class_weights or {}
    total = logits[next(iter(logits))].new_zeros(())
    for task, y in labels.items():
        known = y != -100
        if known.any():
            total = total + nn.functional.cross_entropy(logits[task][known], y[known], weight=class_weights.get(task))
    return total


HEAD_SHARE = 0.75  # of a long message's tokens, kept from its start (title, facts); the rest from its end (the ask)


def token_ids(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text with the model's special tokens, at most max_length. A longer text keeps its head
    and its tail: letters put their request last ("恳请…", "希望…"), and the tail helps the appeal and domain
    heads (reports/experiments.md, "Smaller measurements")."""
    body = max_length - 2
    head = round(body * HEAD_SHARE)
    out = []
    # verbose=False: the untruncated ids of a long message are cut here, not fed to the model
    for ids in tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]:
        if len(ids) > body:
            ids = ids[:head] + ids[len(ids) - (body - head):]
        out.append([tokenizer.cls_token_id, *ids, tokenizer.sep_token_id])
    return out


def load_tokenizer(path: str | Path):
    return AutoTokenizer.from_pretrained(str(path))

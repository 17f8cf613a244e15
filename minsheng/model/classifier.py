"""The shipped classifier: the multi-head encoder and the TF-IDF heads, blended per task and temperature-
calibrated, saved as one folder. `predict` is what the service, the batch command and the evaluator call."""
from __future__ import annotations

import json
import threading
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from minsheng.core.labels import TASKS, LabelSet
from minsheng.core.nlp import masked_input
from minsheng.core.routing import Scores
from minsheng.model.embedding import embedding_id
from minsheng.model.encoder import MultiHeadEncoder, load_tokenizer, token_ids
from minsheng.model.tfidf import TfidfHeads
from minsheng.settings import QUANTIZATIONS

META_FILE, WEIGHTS_FILE, TFIDF_FILE = "minsheng.json", "model.safetensors", "tfidf.npz"
# Messages per encoder call. One: a message's int8 scores then never depend on its batch neighbours (dynamic
# int8 quantizes activations per call), no padding is computed, and on a CPU at 256 tokens it is as fast per
# message as any batch (int8, two single-thread workers: 74 msg/s at 1, 74 at 8, 69 at 16; bench/README.md,
# finding 16).
CHUNK = 1


def quantize_int8(encoder: MultiHeadEncoder) -> MultiHeadEncoder:
    """Dynamic int8 of the transformer's nn.Linear layers: weights int8 with one scale per output channel,
    activations quantized per batch. The task heads stay fp32 (their outputs are the logits): the faster variants
    that quantize more cost accuracy (reports/experiments.md, "Smaller measurements"; reports/evaluation.md "As served")."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    transformer = {name: per_channel_dynamic_qconfig for name, module in encoder.named_modules()
                   if isinstance(module, torch.nn.Linear) and not name.startswith("heads.")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice (torchao is its successor)
        return quantize_dynamic(encoder.eval(), transformer, dtype=torch.qint8)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# The domain head of the Teddy data alone: its 7 domains, as its organisers draw the lines between them. The
# 15-way head, shared with the citizen rows, decides whether a message belongs to those 7 at all; this head may
# then re-divide that share among them (Calibration.group_weight, chosen on dev). Sharing one head between the two
# sources cost the Teddy domains points once the citizen rows grew (issue 17).
GROUP_HEAD = "domain_group"


def within_group(p_domain: np.ndarray, p_group: np.ndarray, group: list[int], weight: float) -> np.ndarray:
    """`p_domain` with the probability it gives the group's domains re-divided: (1 - weight) as it was, weight
    as the group head divides it. The group's total and the other domains are unchanged."""
    out = p_domain.copy()
    mass = p_domain[:, group].sum(1, keepdims=True)
    share = p_domain[:, group] / np.clip(mass, 1e-12, None)
    out[:, group] = mass * ((1 - weight) * share + weight * p_group)
    return out


@dataclass
class Calibration:
    """Per head: weight of the encoder in the probability blend; per task: the temperature applied after it; for
    the domain, how much the group head re-divides the group's share (`group`: its classes' domain indices)."""
    blend: dict[str, float] = field(default_factory=lambda: {t: 0.5 for t in TASKS})
    temperature: dict[str, float] = field(default_factory=lambda: {t: 1.0 for t in TASKS})
    group: list[int] = field(default_factory=list)
    group_weight: float = 0.0

    def mix(self, task: str, p_encoder: dict[str, np.ndarray], p_tfidf: dict[str, np.ndarray]) -> np.ndarray:
        """The blended probabilities of `task` before the temperature."""
        w = self.blend[task]
        mixed = w * p_encoder[task] + (1 - w) * p_tfidf[task]
        if task == "domain" and self.group and self.group_weight:
            mixed = within_group(mixed, self.mix(GROUP_HEAD, p_encoder, p_tfidf), self.group, self.group_weight)
        return mixed

    def apply(self, p_encoder: dict[str, np.ndarray], p_tfidf: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """{task: calibrated probabilities} from each member's uncalibrated ones (the group head is folded in)."""
        return {t: softmax(np.log(np.clip(self.mix(t, p_encoder, p_tfidf), 1e-12, None)) / self.temperature[t])
                for t in self.temperature}


class Classifier:
    def __init__(self, encoder: MultiHeadEncoder, tokenizer, tfidf: TfidfHeads, labels: dict[str, list[str]],
                 calibration: Calibration, meta: dict, max_length: int = 128):
        self.encoder = encoder.eval()
        self.tokenizer = tokenizer
        self.tfidf = tfidf
        self.labels = labels
        self.calibration = calibration
        self.meta = meta
        self.max_length = max_length
        self.quantize = "off"  # "int8" once Classifier.load quantized the encoder
        # the service encodes on several threads at once; a fast tokenizer called from two threads at once can
        # fail ("Already borrowed"), and tokenizing is ~3 % of a message's time
        self._tokenizing = threading.Lock()

    @property
    def version(self) -> str:
        return self.meta.get("version", "unversioned")

    @property
    def embedding(self) -> str:
        """What this model's vectors are comparable by: version and quantization (model/embedding.py)."""
        return embedding_id(self.version, self.quantize)

    # -- inference ---------------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The heads' logits {task: array} and the mean-pooled sentence vectors of `texts`, from one encoder pass
        over length-sorted batches (padding costs more than batching gains). The heads read the pooled vector as
        the model's forward does in eval (its dropout is off); they cost next to nothing beside the encoder."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        logits: list[dict[str, np.ndarray]] = []
        vectors: list[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            with self._tokenizing:
                enc = self.tokenizer.pad(
                    {"input_ids": token_ids(self.tokenizer, [texts[i] for i in idx], self.max_length)},
                    return_tensors="pt")
            pooled = self.encoder.embed(enc["input_ids"], enc["attention_mask"])
            logits.append({t: head(pooled).float().numpy() for t, head in self.encoder.heads.items()})
            vectors.append(pooled.float().numpy())
        inverse = np.empty_like(order)
        inverse[order] = np.arange(len(order))
        return ({t: np.concatenate([c[t] for c in logits])[inverse] for t in self.encoder.heads},
                np.concatenate(vectors)[inverse])

    def component_probs(self, texts: Sequence[str], batch_size: int = CHUNK):
        """Uncalibrated probabilities of each member: ({head: p_encoder}, {head: p_tfidf})."""
        enc, _ = self.encode(texts, batch_size)
        tf = self.tfidf.predict_logits(list(texts))
        return {t: softmax(v) for t, v in enc.items()}, {t: softmax(v) for t, v in tf.items()}

    def predict_proba(self, texts: Sequence[str], batch_size: int = CHUNK) -> dict[str, np.ndarray]:
        if not texts:
            return {t: np.zeros((0, len(v))) for t, v in self.labels.items()}
        return self.calibration.apply(*self.component_probs(texts, batch_size))

    def predict(self, items: Sequence[tuple[str | None, str]], batch_size: int = CHUNK) -> list[Scores]:
        """items: (title, text) pairs, read PII-masked as in training."""
        probs = self.predict_proba([masked_input(title, text) for title, text in items], batch_size)
        return [Scores({t: dict(zip(self.labels[t], map(float, probs[t][i]))) for t in self.labels})
                for i in range(len(items))]

    def embed(self, texts: Sequence[str], batch_size: int = CHUNK) -> np.ndarray:
        """L2-normalised mean-pooled sentence vectors from the same encoder (for similar cases)."""
        _, vectors = self.encode(list(texts), batch_size)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)

    def predict_and_embed(self, texts: Sequence[str], batch_size: int = CHUNK) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """predict_proba and embed of the same model inputs from one encoder pass (building the case base)."""
        logits, vectors = self.encode(list(texts), batch_size)
        tf = self.tfidf.predict_logits(list(texts))
        probs = self.calibration.apply({t: softmax(v) for t, v in logits.items()},
                                       {t: softmax(v) for t, v in tf.items()})
        return probs, vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)

    # -- persistence -------------------------------------------------------------------------------------
    def save(self, path: Path | str) -> Path:
        if self.quantize != "off":
            raise ValueError("a quantized classifier is for serving; save the model as trained")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.encoder.encoder.config.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        # float16 on disk keeps the shipped model small; it is cast back to float32 on load
        state = {k: v.detach().to(torch.float16).contiguous() for k, v in self.encoder.state_dict().items()}
        save_file(state, str(path / WEIGHTS_FILE))
        self.tfidf.save(path / TFIDF_FILE)
        meta = {**self.meta, "labels": self.labels, "max_length": self.max_length,
                "calibration": asdict(self.calibration)}
        (path / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path | str, threads: int | None = None, quantize: str = "off") -> "Classifier":
        """quantize: "off" (the fp32 weights as trained) or "int8" (faster on a CPU, slightly less accurate)."""
        if quantize not in QUANTIZATIONS:
            raise ValueError(f"quantize must be one of {QUANTIZATIONS}, not {quantize!r}")
        path = Path(path)
        if threads:
            torch.set_num_threads(threads)
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        labels = meta.pop("labels")
        cal = Calibration(**meta.pop("calibration"))
        sizes = {t: len(v) for t, v in labels.items()} | ({GROUP_HEAD: len(cal.group)} if cal.group else {})
        encoder = MultiHeadEncoder.from_config_dir(path, sizes)
        encoder.load_state_dict({k: v.float() for k, v in load_file(str(path / WEIGHTS_FILE)).items()})
        if quantize == "int8":
            encoder = quantize_int8(encoder)
        clf = cls(encoder, load_tokenizer(path), TfidfHeads.load(path / TFIDF_FILE, sizes), labels, cal, meta,
                  meta.pop("max_length"))
        clf.quantize = quantize
        return clf

    def check_labels(self, labels: LabelSet) -> None:
        """A model trained on another label set must not serve silently: its head indices would be wrong."""
        for task, values in self.labels.items():
            if tuple(values) != labels.values[task]:
                raise ValueError(f"model {self.version} was trained with other {task} labels than labels/ holds")

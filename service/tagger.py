"""The model service: the classifier loaded once, behind BentoML's adaptive batching."""
from __future__ import annotations

import os

import bentoml

from minsheng.classifier import Classifier
from minsheng.labels import load_labels
from minsheng.modelstore import resolve


@bentoml.service(name="minsheng-tagger", workers=1, traffic={"timeout": 60})
class Tagger:
    def __init__(self) -> None:
        self.model_ref = resolve(os.environ.get("MINSHENG_MODEL") or None)
        self.classifier = Classifier.load(self.model_ref.path, threads=int(os.environ.get("MINSHENG_THREADS", 0)))
        self.classifier.check_labels(load_labels())

    @bentoml.api(batchable=True, max_batch_size=32, max_latency_ms=2000)
    def predict(self, texts: list[str]) -> list[dict]:
        """texts: model inputs (minsheng.text.model_input). Returns calibrated scores per task for each."""
        probs = self.classifier.predict_proba(texts)
        labels = self.classifier.labels
        return [{t: dict(zip(labels[t], map(float, probs[t][i]))) for t in labels} for i in range(len(texts))]

    @bentoml.api
    def info(self) -> dict:
        meta = self.classifier.meta
        return {"model_version": self.classifier.version, "label_version": meta.get("label_version", ""),
                "base_model": meta.get("base_model", ""), "model_created_at": meta.get("created_at")}

"""The model service: the classifier loaded once, behind a greedy batcher (serving/batcher.py), switched to a newly
promoted model without a restart."""
from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING

import bentoml

from minsheng.core.labels import load_labels
from minsheng.model.embedding import served_quantize
from minsheng.model.registry import stored_model
from minsheng.serving.batcher import GreedyBatcher
from minsheng.serving.case_base import BatchedClassifier, build_in_background
from minsheng.settings import settings
from minsheng.store import make_engine, migrate, serving_tag, session_factory

if TYPE_CHECKING:
    from minsheng.model.classifier import Classifier

log = logging.getLogger("minsheng.tagger")


@bentoml.service(name="minsheng-tagger", workers=1, traffic={"timeout": 60},
                 # BentoML's caller closes its connection pool (requests in flight included) every 100 requests
                 # by default: at 8+ concurrent clients that failed requests as ServerDisconnectedError (bench/)
                 runner_connection={"max_requests": 1_000_000_000, "max_age": 86400.0})
class Tagger:
    def __init__(self) -> None:
        # the model code (transformers, scikit-learn) is imported here, in the model worker only: BentoML's
        # supervisor and the HTTP worker import this module too, and start faster without it (reports/experiments.md)
        engine = make_engine()
        migrate(engine)  # at head already when started by `minsheng serve`; a bare `bentoml serve` may need it
        self.sessions = session_factory(engine)
        # batches side by side, one core each (a torch thread team stalls when the entry worker takes one of its
        # cores); a message alone gets them all (bench/README.md, finding 16)
        self.threads = settings().threads or os.cpu_count() or 1
        self.quantize = served_quantize()
        self._reload_lock = threading.Lock()
        self._worker = threading.local()  # each batch worker's torch thread count
        self.tag, self.classifier = self._load_wanted()
        # small batches: the encoder reads one message a call anyway (model/classifier.py, CHUNK), and a worker
        # that took the whole queue would leave the others idle
        self._batches = GreedyBatcher(self._answer, max_batch_size=8, max_queued=256, workers=self.threads)
        self._build_case_base()

    def _build_case_base(self) -> None:
        """The serving model's case base, built in the background if missing (serving/case_base.py)."""
        model = BatchedClassifier(self._batches, self.classifier.labels, self.classifier.embedding)
        build_in_background(model, self.sessions, load_labels())

    def _wanted_tag(self) -> str | None:
        with self.sessions() as session:
            return serving_tag(session)

    def _load_wanted(self) -> tuple[str, Classifier]:
        from minsheng.model.classifier import (
            Classifier,  # in the model worker only: see __init__
        )

        model = stored_model(self._wanted_tag())
        classifier = Classifier.load(model.path, threads=1, quantize=self.quantize)
        classifier.check_labels(load_labels())
        return str(model.tag), classifier

    def _answer(self, texts: list[str]) -> list[dict]:
        """One encoder pass over a batch: for each text the model version, the calibrated scores per task, the
        sentence vector and what it is comparable by (`embedding`: model version and quantization)."""
        import torch  # in the model worker only: see __init__

        threads = self.threads if self._batches.alone() else 1
        if getattr(self._worker, "threads", None) != threads:  # a change costs ~4 ms (torch clears caches)
            torch.set_num_threads(threads)  # the calling thread's (OpenMP)
            self._worker.threads = threads
        classifier = self.classifier  # one model per batch, even if a reload swaps it meanwhile
        probs, vectors = classifier.predict_and_embed(texts)
        labels = classifier.labels
        return [{"model_version": classifier.version, "embedding": classifier.embedding,
                 "scores": {t: dict(zip(labels[t], map(float, probs[t][i]))) for t in labels},
                 "vector": vectors[i].tolist()}
                for i in range(len(texts))]

    @bentoml.api
    async def predict(self, texts: list[str]) -> list[dict]:
        """texts: PII-masked model inputs (minsheng.core.nlp.masked_input). For each, from one encoder pass: the
        model version, the calibrated scores per task and the sentence vector (as `embed` gives it)."""
        return await self._batches(texts)

    @bentoml.api
    async def embed(self, texts: list[str]) -> list[dict]:
        """texts: model inputs. For each: the model version, the L2-normalised mean-pooled sentence vector of
        the classifier's own encoder (similar cases, hot issues) and its `embedding` (model version and
        quantization): vectors of two embeddings are not compared."""
        return [{k: a[k] for k in ("model_version", "embedding", "vector")} for a in await self._batches(texts)]

    @bentoml.api
    def reload(self) -> dict:
        """Switch to the production model if it changed. The new one is loaded beside the old, then swapped in
        by one assignment: requests in flight finish on the old model, none fails."""
        with self._reload_lock:
            wanted = self._wanted_tag()
            if str(stored_model(wanted).tag) != self.tag:
                self.tag, self.classifier = self._load_wanted()
                log.info("now serving %s", self.tag)
                self._build_case_base()
        return self._describe()  # not self.info(): inside a service that is an HTTP call to itself

    @bentoml.api
    def info(self) -> dict:
        return self._describe()

    def _describe(self) -> dict:
        meta = self.classifier.meta
        return {"model_version": self.classifier.version, "label_version": meta.get("label_version", ""),
                "base_model": meta.get("base_model", ""), "model_created_at": meta.get("created_at"),
                "quantize": self.classifier.quantize}

"""The case base, built in the background when a model starts serving, so that similar cases work on a first run
without `minsheng cases build` (which does the same in the foreground). It embeds through the model service's own
batcher: requests and the build share its batches, so a request waits for one batch at most, never for the whole
build; the service answers meanwhile, more slowly (data/cases, 2,507 replies: bench/README.md). Idempotent: once the
serving model's vectors are stored, a restart embeds nothing."""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Sequence

import numpy as np
from bentoml.exceptions import ServiceUnavailable
from sqlalchemy.orm import Session, sessionmaker

from minsheng.assist.cases import REPLIES_CSV, build_case_base
from minsheng.core.labels import LabelSet
from minsheng.settings import settings

log = logging.getLogger("minsheng.case_base")
BATCH_SIZE = 16  # messages per call to the batcher: a request queued behind the build waits for one such batch
LOG_EVERY_S = 30.0


class ModelSwitched(RuntimeError):
    """The service switched models during the build: the new model starts a build of its own."""


class BatchedClassifier:
    """What build_case_base needs of a classifier (labels, embedding, predict_and_embed, embed), answered by the
    model service's batcher, for one embedding only."""

    def __init__(self, batches: Callable[[list[str]], Awaitable[list[dict]]], labels: dict[str, list[str]],
                 embedding: str):
        self._batches, self.labels, self.embedding = batches, labels, embedding

    def predict_and_embed(self, texts: Sequence[str]) -> tuple[dict[str, np.ndarray], np.ndarray]:
        while True:
            try:  # on this thread's own event loop: the batcher settles each call on its caller's loop
                answers = asyncio.run(self._batches(list(texts)))
                break
            except ServiceUnavailable:  # requests fill the model's queue: they go first
                time.sleep(1)
        if any(a["embedding"] != self.embedding for a in answers):
            raise ModelSwitched(self.embedding)
        probs = {t: np.array([[a["scores"][t][label] for label in values] for a in answers])
                 for t, values in self.labels.items()}
        return probs, np.array([a["vector"] for a in answers], dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.predict_and_embed(texts)[1]


def build_in_background(model: BatchedClassifier, sessions: sessionmaker[Session], labels: LabelSet) -> None:
    """Starts the build in a daemon thread (MINSHENG_BUILD_CASES=off: not at all), logging its progress."""
    if settings().build_cases:
        threading.Thread(target=_build, args=(model, sessions, labels), name="case-base", daemon=True).start()


def _build(model: BatchedClassifier, sessions: sessionmaker[Session], labels: LabelSet) -> None:
    started = last_log = time.monotonic()

    def progress(done: int, todo: int) -> None:
        nonlocal last_log
        if done == todo or time.monotonic() - last_log >= LOG_EVERY_S:
            last_log = time.monotonic()
            log.info("case base for %s: %d of %d published replies embedded (%.0f s)", model.embedding, done, todo,
                     last_log - started)

    try:
        counts = build_case_base(sessions, model, labels, settings().cases_file or REPLIES_CSV,
                                 batch_size=BATCH_SIZE, progress=False, on_batch=progress)
    except ModelSwitched:
        log.info("case base build for %s stopped: the service switched models", model.embedding)
        return
    except Exception as e:  # noqa: BLE001 (a thread's failure would vanish; the service runs on without cases)
        log.error("case base build for %s failed: %s; `minsheng cases build` retries", model.embedding,
                  type(e).__name__)
        return
    log.info("case base for %s ready: %s", model.embedding, counts)

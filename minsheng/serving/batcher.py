"""Greedy batching for the model: a call runs as soon as the model is free, together with every call that queued
while the previous batch was computing. Alone, a message waits for nothing; under load, batches form by
themselves. BentoML's adaptive batcher instead waits as long as the average past wait, which a burst inflates and
an idle period never deflates (bench/README.md, finding 10). Several workers each take the next batch: two
single-threaded encoder passes side by side keep both cores busy without the stalls of one two-thread pass whose
second core the HTTP worker has taken (finding 16)."""
from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from bentoml.exceptions import ServiceUnavailable


@dataclass
class _Job:
    items: Sequence[Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future = field(repr=False)


class GreedyBatcher:
    """`await batcher(items)` → fn's outputs for those items. fn (items → one output per item) runs on `workers`
    threads of its own, over at most max_batch_size items a call (a bigger single call runs alone). More than
    max_queued items waiting is back-pressure: ServiceUnavailable (a 503 to the client) rather than an ever
    longer wait."""

    def __init__(self, fn: Callable[[list], list], max_batch_size: int = 32, max_queued: int = 256,
                 workers: int = 1) -> None:
        self.fn, self.max_batch_size, self.max_queued = fn, max_batch_size, max_queued
        self._jobs: deque[_Job] = deque()
        self._queued = 0  # items in self._jobs
        self._running = 0  # batches being computed
        self._ready = threading.Condition()
        for i in range(workers):
            threading.Thread(target=self._run, name=f"model-batches-{i}", daemon=True).start()

    def alone(self) -> bool:
        """Whether the calling worker's batch is the only work: no other batch running, nothing queued (fn may then
        spend every core on it)."""
        with self._ready:
            return self._running <= 1 and not self._jobs

    async def __call__(self, items: Sequence[Any]) -> list:
        if not items:
            return []
        loop = asyncio.get_running_loop()
        job = _Job(items, loop, loop.create_future())
        with self._ready:
            if self._queued and self._queued + len(items) > self.max_queued:
                raise ServiceUnavailable(f"model queue full ({self._queued} messages waiting)")
            self._jobs.append(job)
            self._queued += len(items)
            self._ready.notify()
        return await job.future

    def _next_batch(self) -> list[_Job]:
        with self._ready:
            self._ready.wait_for(lambda: self._jobs)
            batch = [self._jobs.popleft()]
            size = len(batch[0].items)
            while self._jobs and size + len(self._jobs[0].items) <= self.max_batch_size:
                size += len(self._jobs[0].items)
                batch.append(self._jobs.popleft())
            self._queued -= size
            self._running += 1
            return batch

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            try:
                outputs = self.fn([item for job in batch for item in job.items])
            except Exception as exc:  # each caller gets the error of its own call
                for job in batch:
                    job.loop.call_soon_threadsafe(_settle, job.future, None, exc)
                continue
            finally:
                with self._ready:
                    self._running -= 1
            start = 0
            for job in batch:
                job.loop.call_soon_threadsafe(_settle, job.future, outputs[start:start + len(job.items)], None)
                start += len(job.items)


def _settle(future: asyncio.Future, result: Any, error: BaseException | None) -> None:
    if future.done():  # the caller went away (cancelled)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)

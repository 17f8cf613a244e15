"""The Tagger's greedy batcher: every caller gets its own outputs, calls that queue while the model computes go
together, a full queue is a 503, and a failing batch fails its callers, not the batcher."""
import asyncio
import threading

import pytest
from bentoml.exceptions import ServiceUnavailable

from minsheng.serving.batcher import GreedyBatcher


class Model:
    """Doubles numbers. Calls block until the test releases them, so that the test can queue calls behind one."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started, self.release = threading.Event(), threading.Event()

    def __call__(self, items: list[int]) -> list[int]:
        self.started.set()
        self.release.wait(5)
        self.batches.append(list(items))
        if -1 in items:
            raise ValueError("bad item")
        return [2 * i for i in items]


async def _queued(batcher: GreedyBatcher, items: list[int]) -> asyncio.Task:
    task = asyncio.create_task(batcher(items))
    await asyncio.sleep(0.01)  # the task runs up to its wait for the answer: its job is queued
    return task


async def _running(batcher: GreedyBatcher, model: Model, items: list[int]) -> asyncio.Task:
    task = await _queued(batcher, items)
    assert await asyncio.to_thread(model.started.wait, 5), "the model never started"
    return task


def test_calls_queued_behind_a_running_batch_go_together_each_with_its_own_outputs():
    async def scenario():
        model = Model()
        batcher = GreedyBatcher(model, max_batch_size=4, max_queued=100)
        first = await _running(batcher, model, [1])
        queued = [await _queued(batcher, items) for items in ([2, 3], [4], [5], [6, 7])]
        model.release.set()
        return model.batches, await first, [await q for q in queued]

    batches, first, queued = asyncio.run(scenario())
    assert first == [2]
    assert queued == [[4, 6], [8], [10], [12, 14]]
    # the first ran alone at once; then as many waiting calls as fit in 4 items, in arrival order
    assert batches == [[1], [2, 3, 4, 5], [6, 7]]


def test_more_than_max_queued_waiting_is_service_unavailable_and_the_rest_still_answered():
    async def scenario():
        model = Model()
        batcher = GreedyBatcher(model, max_batch_size=8, max_queued=3)
        running = await _running(batcher, model, [1])
        waiting = await _queued(batcher, [2, 3])
        with pytest.raises(ServiceUnavailable, match="queue full"):
            await batcher([4, 5])
        model.release.set()
        return await running, await waiting, await batcher([9])

    assert asyncio.run(scenario()) == ([2], [4, 6], [18])


def test_a_failing_batch_fails_its_callers_and_the_batcher_goes_on():
    async def scenario():
        model = Model()
        batcher = GreedyBatcher(model, max_batch_size=8)
        model.release.set()
        with pytest.raises(ValueError, match="bad item"):
            await batcher([-1])
        return await batcher([]), await batcher([3])

    assert asyncio.run(scenario()) == ([], [6])


def test_with_two_workers_two_batches_run_side_by_side_and_neither_is_alone():
    class TwoAtOnce(Model):
        """Each batch waits until two run at once; records whether the batcher called it alone."""

        def __init__(self) -> None:
            super().__init__()
            self.both = threading.Barrier(2, timeout=5)
            self.alone: list[bool] = []

        def __call__(self, items: list[int]) -> list[int]:
            self.both.wait()  # a broken barrier (one worker only) fails the call
            self.alone.append(batcher.alone())
            self.both.wait()  # neither finishes before both have looked
            return [2 * i for i in items]

    model = TwoAtOnce()
    batcher = GreedyBatcher(model, max_batch_size=1, workers=2)

    async def scenario():
        return await asyncio.gather(batcher([1]), batcher([2]))

    assert asyncio.run(scenario()) == [[2], [4]]
    assert model.alone == [False, False]


def test_a_lone_batch_is_alone():
    seen = []
    batcher = GreedyBatcher(lambda items: seen.append(batcher.alone()) or items, workers=2)
    assert asyncio.run(batcher([5])) == [5] and seen == [True]

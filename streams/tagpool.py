"""Where stories are tagged: in the event loop, or in child processes that each hold a Tagger.

Tagging is CPU-bound (about a millisecond per story). Run in the worker's event loop it holds up
everything else the loop does: consuming, producing, indexing, alerting, heartbeats. With
WIREWATCH_TAG_PROCESSES=N (default 1) the tag agent hands each batch of raw messages to N child
processes and awaits the outcomes while the loop goes on with the other agents. Outcomes come back
in input order, so a partition's stories leave in the order they came.

A child that dies (killed for memory, a crash in native code) breaks the pool. The batch is then
tagged again story by story in a fresh pool; a story that breaks that one too is the cause and
goes to the dead-letter topic as "tagging_crashed", and the stream goes on.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from streams.tag import StoryTaggingStep, TaggedOutcome, loaded_step
from streams.validate import Rejection

log = logging.getLogger(__name__)

Outcome = TaggedOutcome | Rejection


class TaggingRunner(Protocol):
    """Tags batches of raw message values; one outcome per value, in order."""

    @property
    def ner_backends(self) -> dict[str, str]: ...

    async def tag_batch(self, values: Sequence[bytes]) -> list[Outcome]: ...

    def close(self) -> None: ...


class InlineTagging:
    """Tags in the calling thread (the event loop): for tests and WIREWATCH_TAG_PROCESSES=0."""

    def __init__(self, step: StoryTaggingStep) -> None:
        self.step = step

    @property
    def ner_backends(self) -> dict[str, str]:
        return dict(self.step.tagger.ner_backends)

    async def tag_batch(self, values: Sequence[bytes]) -> list[Outcome]:
        return [self.step(value) for value in values]

    def close(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ChildConfig:
    """What a tagging process needs to build its own StoryTaggingStep."""

    max_body_bytes: int
    stanza_dir: Path | None
    cache_dir: Path | None
    parent_pid: int


# The child process's step, built once by _start_child.
_child_step: StoryTaggingStep | None = None


def _start_child(config: ChildConfig) -> None:
    """Initializer of a tagging process: load the Tagger, warm it up, watch the parent."""
    global _child_step
    _watch_parent(config.parent_pid)
    _child_step = loaded_step(config.max_body_bytes, config.stanza_dir, config.cache_dir)
    # What is loaded now lives as long as the process: the garbage collector need not walk it
    # again on every full collection (each one a pause of ~0.1 s otherwise).
    gc.freeze()


def _watch_parent(parent_pid: int) -> None:
    """Exit when the worker that started this process is gone (even if it was SIGKILLed), so no
    tagging process outlives its worker."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_ready() -> tuple[int, dict[str, str]]:
    """Runs in a child once it has loaded: its pid and place-span backends."""
    assert _child_step is not None, "tagging process used before its initializer ran"
    return os.getpid(), dict(_child_step.tagger.ner_backends)


def _tag_in_child(values: Sequence[bytes]) -> list[Outcome]:
    assert _child_step is not None, "tagging process used before its initializer ran"
    return [_child_step(value) for value in values]


class ProcessTagging:
    """Tags in `processes` child processes; a batch is split among them and joined in order.

    `initializer`, `ready` and `task` are the functions the children run (module-level, as spawn
    pickles them by name); tests give their own to tag without loading a Tagger.
    """

    def __init__(
        self, processes: int, max_body_bytes: int, stanza_dir: Path | None,
        cache_dir: Path | None = None,
        initializer: Callable[[ChildConfig], None] = _start_child,
        ready: Callable[[], tuple[int, dict[str, str]]] = _child_ready,
        task: Callable[[Sequence[bytes]], list[Outcome]] = _tag_in_child,
    ) -> None:
        if processes < 1:
            raise ValueError("ProcessTagging needs at least one process; use InlineTagging")
        self.processes = processes
        self.config = ChildConfig(max_body_bytes, stanza_dir, cache_dir, os.getpid())
        self._initializer, self._ready, self._task = initializer, ready, task
        self._pool = self._new_pool()
        self._backends: dict[str, str] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the worker has threads (Kafka consumer, metrics server) by now.
        return ProcessPoolExecutor(
            max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
            initializer=self._initializer, initargs=(self.config,),
        )

    @property
    def ner_backends(self) -> dict[str, str]:
        return dict(self._backends)

    def start(self, timeout: float = 300.0) -> None:
        """Block until every child has loaded its Tagger (they load in parallel)."""
        started = time.perf_counter()
        ready: set[int] = set()
        while len(ready) < self.processes:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"only {len(ready)} of {self.processes} tagging processes "
                                   f"were ready after {timeout:.0f}s; see the worker log")
            futures = [self._pool.submit(self._ready) for _ in range(self.processes - len(ready))]
            for future in futures:
                pid, self._backends = future.result(timeout=timeout)
                ready.add(pid)
        log.info("%d tagging process(es) ready in %.1fs", self.processes,
                 time.perf_counter() - started)

    async def tag_batch(self, values: Sequence[bytes]) -> list[Outcome]:
        try:
            return await self._run(values)
        except BrokenProcessPool:
            log.error("a tagging process died on a batch of %d stories; tagging them one by one "
                      "in new processes to find the cause", len(values))
        self._replace_pool()
        outcomes: list[Outcome] = []
        for value in values:
            try:
                outcomes.extend(await self._run([value]))
            except BrokenProcessPool:
                log.error("a tagging process died on one story; sending it to the dead-letter "
                          "topic")
                outcomes.append(Rejection(
                    "tagging_crashed",
                    "the tagging process died while tagging this story (twice): out of memory, "
                    "or a crash in native code; see the worker log",
                ))
                self._replace_pool()
        return outcomes

    async def _run(self, values: Sequence[bytes]) -> list[Outcome]:
        loop = asyncio.get_running_loop()
        size = -(-len(values) // self.processes)  # ceiling: one chunk per process
        chunks = [values[k:k + size] for k in range(0, len(values), size)] or [values]
        results = await asyncio.gather(*(
            loop.run_in_executor(self._pool, self._task, list(chunk)) for chunk in chunks))
        return [outcome for result in results for outcome in result]

    def _replace_pool(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def close(self) -> None:
        # Not waiting: a child finishes the chunk it holds and exits; none outlives the worker.
        self._pool.shutdown(wait=False, cancel_futures=True)

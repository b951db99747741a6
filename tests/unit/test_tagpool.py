"""Tagging in child processes: order kept, a crashing story set aside, the real Tagger loaded."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence

import pytest

from streams.clustering import fingerprint
from streams.tag import StoryTaggingStep, TaggedOutcome
from streams.tagging.core import Tagger
from streams.tagpool import ChildConfig, InlineTagging, Outcome, ProcessTagging
from streams.validate import Rejection
from tests.conftest import SAMPLE_STORY

# Functions the child processes run instead of the Tagger (module level: spawn imports them).

def _no_setup(config: ChildConfig) -> None:
    pass


def _ready() -> tuple[int, dict[str, str]]:
    time.sleep(0.05)  # long enough for the other process to start and take its share
    return os.getpid(), {"el": "gazetteer"}


def _echo_or_die(values: Sequence[bytes]) -> list[Outcome]:
    out: list[Outcome] = []
    time.sleep(0.2)  # a chunk takes a while, as tagging does: the other one goes elsewhere
    for value in values:
        if value == b"die":
            os._exit(1)  # what an out-of-memory kill looks like from the worker
        out.append(TaggedOutcome(story_id=value.decode(), key=b"none", value=value,
                                 language="en", violent=False, focus_country="none",
                                 tagging_seconds=float(os.getpid())))
    return out


def fake_pool(processes: int) -> ProcessTagging:
    pool = ProcessTagging(processes, 1000, None, initializer=_no_setup, ready=_ready,
                          task=_echo_or_die)
    pool.start(timeout=60)
    return pool


async def test_outcomes_come_back_in_input_order_from_two_processes() -> None:
    pool = fake_pool(2)
    try:
        values = [f"story-{k}".encode() for k in range(21)]
        outcomes = await pool.tag_batch(values)
        assert [o.story_id for o in outcomes if isinstance(o, TaggedOutcome)] == \
            [v.decode() for v in values]
        # the batch was split between both processes
        assert len({o.tagging_seconds for o in outcomes if isinstance(o, TaggedOutcome)}) == 2
        assert pool.ner_backends == {"el": "gazetteer"}
    finally:
        pool.close()


async def test_a_story_that_kills_the_process_is_set_aside_and_the_rest_flow() -> None:
    pool = fake_pool(1)
    try:
        outcomes = await pool.tag_batch([b"a", b"die", b"b"])
        assert isinstance(outcomes[0], TaggedOutcome) and outcomes[0].story_id == "a"
        assert isinstance(outcomes[1], Rejection)
        assert outcomes[1].reason == "tagging_crashed"
        assert "died" in outcomes[1].detail
        assert isinstance(outcomes[2], TaggedOutcome) and outcomes[2].story_id == "b"
        # the pool was replaced and keeps working
        after = await pool.tag_batch([b"c"])
        assert isinstance(after[0], TaggedOutcome) and after[0].story_id == "c"
    finally:
        pool.close()


def test_no_processes_is_refused() -> None:
    with pytest.raises(ValueError, match="InlineTagging"):
        ProcessTagging(0, 1000, None)


async def test_real_child_loads_the_tagger_and_tags_the_sample() -> None:
    from streams.feeds import text_story

    story = text_story(SAMPLE_STORY.read_text(encoding="utf-8"))
    assert story is not None
    pool = ProcessTagging(1, 200_000, None)
    pool.start(timeout=180)
    try:
        good, bad = await pool.tag_batch([story.dumps(), b"{not json"])
        assert isinstance(good, TaggedOutcome)
        assert good.focus_country == "KZ"
        assert good.key == b"KZ"
        assert good.violent
        assert b"1526384" in good.value  # Almaty's GeoNames id in the TaggedStory JSON
        assert isinstance(bad, Rejection) and bad.reason == "not_json"
    finally:
        pool.close()

    # Tagging in the event loop (WIREWATCH_TAG_PROCESSES=0) gives the same story.
    inline = InlineTagging(StoryTaggingStep(Tagger.load(), fingerprint, 200_000))
    same, also_bad = await inline.tag_batch([story.dumps(), b"{not json"])
    assert isinstance(same, TaggedOutcome)
    assert isinstance(also_bad, Rejection) and also_bad.reason == "not_json"
    in_child, in_loop = json.loads(good.value), json.loads(same.value)
    for timestamp in ("tagged_at", "received_at"):
        in_child.pop(timestamp), in_loop.pop(timestamp)
    assert in_child == in_loop
    assert (same.key, same.language, same.violent) == (good.key, good.language, good.violent)

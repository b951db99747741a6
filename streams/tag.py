"""The tag agent: raw bytes -> validated RawStory -> StoryTags -> TaggedStory on the tagged topic."""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import faust
import orjson
from faust.streams import Stream
from faust.types import EventT, StreamT

from streams import metrics
from streams.app import Topics
from streams.deadletter import send_to_deadletter
from streams.records import FocusPlace, LocationTag, RawStory, TaggedStory, ViolenceTag
from streams.tagging.core import Tagger
from streams.tagging.model import StoryTags
from streams.validate import Rejection, validate_raw

if TYPE_CHECKING:
    from streams.tagpool import TaggingRunner

log = logging.getLogger(__name__)

Fingerprint = Callable[[str], list[int]]


# Faust's marks of the record types, written as Record.dumps() writes them, so that
# TaggedStory.loads() reads the message exactly as if the Record had encoded it.
_NS = "__faust"
_TAGGED_NS = {"ns": f"{TaggedStory.__module__}.{TaggedStory.__qualname__}"}
_LOCATION_NS = {"ns": f"{LocationTag.__module__}.{LocationTag.__qualname__}"}
_VIOLENCE_NS = {"ns": f"{ViolenceTag.__module__}.{ViolenceTag.__qualname__}"}
_FOCUS_NS = {"ns": f"{FocusPlace.__module__}.{FocusPlace.__qualname__}"}


def tagged_story_data(raw: RawStory, tags: StoryTags, languages: list[str],
                      fingerprint: list[int], tagged_at: float) -> dict[str, Any]:
    """Join a raw story and its tags into the TaggedStory the later stages read, as the JSON
    object TaggedStory.dumps() would write (same fields, same order; tests check it). Built as
    plain data: creating the Faust Records and encoding them cost more than tagging the body."""
    focus = None
    if tags.focus is not None:
        f = tags.focus
        focus = {"name": f.name, "country_code": f.country_code, "geonames_id": f.geonames_id,
                 "lat": f.lat, "lon": f.lon, "kind": f.kind, _NS: _FOCUS_NS}
    return {
        "id": raw.id,
        "body": raw.body,
        "headline": raw.headline,
        "language": tags.language,
        "languages": languages or [tags.language],
        "source": raw.source,
        "url": raw.url,
        "published_at": raw.published_at,
        "received_at": raw.received_at or tagged_at,
        "tagged_at": tagged_at,
        "locations": [{**m.as_dict(), _NS: _LOCATION_NS} for m in tags.locations],
        "focus": focus,
        "violence": [{**v.as_dict(), _NS: _VIOLENCE_NS} for v in tags.violence],
        "categories": tags.categories,
        "countries": tags.countries,
        "severity": tags.severity,
        "killed": tags.casualties.killed,
        "injured": tags.casualties.injured,
        "sources": list(tags.sources),
        "lemmas": tags.lemmas,
        "fingerprint": fingerprint,
        _NS: _TAGGED_NS,
    }


def partition_key(focus_country: str | None) -> bytes:
    """Tagged stories are keyed by focus country, so one partition holds all stories about a
    country: near-duplicate clusters and per-country bursts are then partition-local."""
    return (focus_country or "none").encode()


@dataclass(frozen=True, slots=True)
class TaggedOutcome:
    """A tagged story ready to send, and the facts the agent counts in metrics. Plain data that
    crosses from a tagging process to the worker cheaply (the story is already encoded)."""

    story_id: str
    key: bytes
    value: bytes  # TaggedStory JSON
    language: str
    violent: bool
    focus_country: str  # "none" when the story has no focus
    tagging_seconds: float


class StoryTaggingStep:
    """Validate, tag and encode one raw message; pure apart from the clock (unit-testable)."""

    def __init__(self, tagger: Tagger, fingerprint: Fingerprint, max_body_bytes: int) -> None:
        self.tagger = tagger
        self.fingerprint = fingerprint
        self.max_body_bytes = max_body_bytes

    def __call__(self, value: bytes) -> TaggedOutcome | Rejection:
        checked = validate_raw(value, self.max_body_bytes)
        if isinstance(checked, Rejection):
            return checked
        started = time.perf_counter()
        try:
            tags = self.tagger.tag(checked.body, headline=checked.headline or None,
                                   language=checked.language)
            story = tagged_story_data(checked, tags, self.tagger.languages_of(tags),
                                      self.fingerprint(tags.lemmas), time.time())
            encoded = orjson.dumps(story)
        except Exception as err:  # a tagging bug on one input must not stop the stream
            log.exception("tagging failed for story %s", checked.id)
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            return Rejection(reason="tagging_error", detail=f"tagging raised {detail}")
        focus_country = tags.focus.country_code if tags.focus else None
        return TaggedOutcome(
            story_id=checked.id, key=partition_key(focus_country), value=encoded,
            language=tags.language, violent=bool(tags.violence),
            focus_country=focus_country or "none",
            tagging_seconds=time.perf_counter() - started,
        )


def loaded_step(max_body_bytes: int, stanza_dir: Path | None = None,
                cache_dir: Path | None = None, tagger: Tagger | None = None) -> StoryTaggingStep:
    """A tagging step with its Tagger loaded (unless given) and warmed up: what the worker and
    each tagging process build once at start."""
    from streams.clustering import fingerprint

    tagger = tagger or Tagger.load(stanza_dir=stanza_dir, cache_dir=cache_dir)
    warm_up(tagger)
    return StoryTaggingStep(tagger, fingerprint, max_body_bytes)


def warm_up(tagger: Tagger) -> None:
    """Tag the bundled sample stories once, so lazily loaded data (lemma dictionaries, language
    detectors) and caches are ready before the first real story, whose latency counts."""
    from streams.feeds import read_stories
    from streams.samples import sample_paths

    started = time.perf_counter()
    for path in sample_paths():
        for story in read_stories(path):
            tagger.tag(story.body, headline=story.headline, language=story.language)
    log.info("tagger warmed up in %.2fs", time.perf_counter() - started)


def register_tag_agent(app: faust.App, topics: Topics, tagging: TaggingRunner) -> Any:
    """Declare the agent on app; offsets are acked only after its outputs are delivered."""

    @app.agent(topics.raw, name="tag", concurrency=1)
    async def tag(stream: StreamT[bytes]) -> None:
        stream = cast(Stream[bytes], stream)  # noack_take lives on the concrete class
        # (event with raw bytes) -> TaggedStory | dead letter
        # Small batches: while one is tagged (in a tagging process, or in the loop when
        # WIREWATCH_TAG_PROCESSES=0) the stories behind it wait.
        async for values in stream.noack_take(50, within=0.02):
            batch = cast(list[EventT], values)  # noack_take yields the events themselves
            metrics.STORIES_IN.labels("tag").inc(len(batch))
            outcomes = await tagging.tag_batch([
                event.message.value if isinstance(event.message.value, bytes) else b""
                for event in batch
            ])
            deliveries = [await _deliver(event, outcome)
                          for event, outcome in zip(batch, outcomes, strict=True)]
            await asyncio.gather(*deliveries)
            for event in batch:
                await stream.ack(event)

    async def _deliver(event: EventT, outcome: TaggedOutcome | Rejection) -> Awaitable[Any]:
        if isinstance(outcome, Rejection):
            return await send_to_deadletter(topics.deadletter, event.message, outcome.reason,
                                            outcome.detail, stage="tag")
        metrics.TAGGING_SECONDS.observe(outcome.tagging_seconds)
        metrics.STORIES_OUT.labels("tag").inc()
        metrics.STORIES_BY_LANGUAGE.labels(outcome.language).inc()
        if outcome.violent:
            metrics.VIOLENCE_STORIES.labels(outcome.focus_country).inc()
        metrics.LAST_STORY_TIMESTAMP.labels("tag").set(time.time())
        return await topics.tagged.send(key=outcome.key, value=outcome.value)

    return tag

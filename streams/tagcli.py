"""`wirewatch tag`: the fixed JSON Lines contract of the tagging core (stdin -> stdout)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, Any

from streams.feeds import text_story
from streams.tagging.core import Tagger
from streams.tagging.model import StoryTags


def tags_to_json(story_id: object, tags: StoryTags) -> dict[str, Any]:
    """The output object of the contract for one story."""
    focus = None
    if tags.focus is not None:
        f = tags.focus
        focus = {"name": f.name, "country_code": f.country_code, "geonames_id": f.geonames_id,
                 "lat": f.lat, "lon": f.lon, "kind": f.kind}
    return {
        "id": story_id,
        "language": tags.language,
        "languages": [
            {"start": s.start, "end": s.end, "language": s.language} for s in tags.segments
        ],
        "focus": focus,
        "locations": [m.as_dict() for m in tags.locations],
        "violence": [v.as_dict() for v in tags.violence],
        "categories": tags.categories,
        "severity": tags.severity,
        "casualties": {"killed": tags.casualties.killed, "injured": tags.casualties.injured},
        "sources": list(tags.sources),
    }


def tag_line(tagger: Tagger, line: str) -> dict[str, Any]:
    """Tag one input line; a bad line yields {"id", "error"} and never raises."""
    try:
        story = json.loads(line)
    except json.JSONDecodeError as err:
        return {"id": None, "error": f"line is not valid JSON ({err.msg} at column {err.colno})"}
    if not isinstance(story, dict):
        return {"id": None, "error": "line is JSON but not an object; expected {\"id\": ..., \"body\": ...}"}
    story_id = story.get("id")
    body = story.get("body")
    if not isinstance(body, str):
        what = "lacks \"body\"" if body is None else "has a \"body\" that is not a string"
        return {"id": story_id, "error": f"story {what}; give the story text as \"body\""}
    headline = story.get("headline")
    language = story.get("language")
    try:
        tags = tagger.tag(body, headline=headline if isinstance(headline, str) else None,
                          language=language if isinstance(language, str) and language else None)
    except Exception as err:  # one bad story must not stop the rest
        return {"id": story_id, "error": f"tagging failed: {type(err).__name__}: {err}"}
    return tags_to_json(story_id, tags)


def run_tag(stdin: IO[str], stdout: IO[str], text_file: Path | None = None, pretty: bool = False,
            stanza_dir: Path | None = None, cache_dir: Path | None = None) -> int:
    tagger = Tagger.load(stanza_dir=stanza_dir, cache_dir=cache_dir)
    if text_file is not None:
        # Read as `wirewatch publish` reads it, so offsets match what the pipeline indexes.
        try:
            story = text_story(text_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            print(f"wirewatch tag: cannot read {text_file}: {err}", file=sys.stderr)
            return 1
        if story is None:
            print(f"wirewatch tag: {text_file} holds no story text", file=sys.stderr)
            return 1
        body, headline = story.body, story.headline or None
        out = tags_to_json(text_file.stem, tagger.tag(body, headline=headline))
        if headline:
            out["headline"] = headline
        stdout.write(json.dumps(out, ensure_ascii=False, indent=2 if pretty else None) + "\n")
        return 0
    for line in stdin:
        if not line.strip():
            continue
        stdout.write(json.dumps(tag_line(tagger, line), ensure_ascii=False) + "\n")
        stdout.flush()
    return 0

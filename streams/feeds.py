"""Read the feed formats newsrooms have (ninjs, JSON Lines, RSS/Atom, plain text) as RawStory."""

from __future__ import annotations

import calendar
import codecs
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser

from streams.records import RawStory
from streams.validate import (
    STORY_FORMATS,
    content_id,
    format_utc,
    normalise_body,
    normalise_language,
    normalise_line,
    normalise_timestamp,
    stable_id,
)

SNIFF_BYTES = 65_536

# Property names only ninjs (1.x or 2.x) uses; our own JSON shape has none of them.
NINJS_KEYS = frozenset(
    {
        "uri", "guid", "headlines", "body_text", "body_html", "bodies", "versioncreated",
        "firstcreated", "contentcreated", "copyrightholder", "copyrightnotice", "located",
        "pubstatus", "urgency", "renditions", "associations", "descriptions",
        "description_text", "description_html", "representationtype", "profile", "altids",
        "infosources", "slugline", "embargoed", "usageterms", "ednote", "standard",
    }
)  # fmt: skip
# ninjs items that are not (or no longer) for publication.
UNUSABLE_PUBSTATUS = frozenset({"canceled", "withheld"})

_JSON_KEY = re.compile(r'"([A-Za-z_][A-Za-z0-9_]*)"\s*:')
_FEED_ROOT = re.compile(r"<(rss|feed|rdf:rdf)[\s>]")
# First line of a plain-text story: " date 2022-01 <headline>" (date may be a full ISO 8601).
_DATE_MARKER = re.compile(
    r"\s*date\s+(\d{4}-\d{2}(?:-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
    r"(?:Z|[+-]\d{2}(?::?\d{2})?)?)?)?)(?:\s+(.*))?",
    re.IGNORECASE,
)
_HTML_SPACE = re.compile(r"\s+")


class FeedError(ValueError):
    """A feed file that cannot be read as the format it is in, and where it goes wrong."""


# --- HTML to text -------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li",
        "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul",
    }
)  # fmt: skip
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "head"})


class _TextExtractor(HTMLParser):
    """Collects the text of an HTML fragment: blocks become paragraphs, <br> a line break."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(_HTML_SPACE.sub(" ", data))


def html_to_text(html: str) -> str:
    """The readable text of an HTML fragment: tags and scripts gone, entities decoded."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return normalise_body("".join(extractor.parts))


# --- format detection ----------------------------------------------------------------------------


def _decode(data: bytes, origin: str) -> str:
    """Text of a file: UTF-8 (a BOM may say UTF-8 or UTF-16)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise FeedError(f"{origin}: broken UTF-16 at byte {error.start}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FeedError(
            f"{origin}: byte 0x{data[error.start]:02x} at offset {error.start} is not UTF-8; "
            "save the file as UTF-8"
        ) from None


def _sniff_text(head: bytes) -> str:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = head.decode("utf-16", errors="replace")
    else:
        text = head.decode("utf-8", errors="replace")
    return text.removeprefix("\ufeff").lstrip()


def detect_format(path_or_bytes: Path | str | bytes) -> str:
    """The format of a feed file (path) or its bytes: "ninjs", "jsonl", "rss" (or Atom), "text".

    Raises FeedError for XML or HTML that is not an RSS/Atom feed.
    """
    if isinstance(path_or_bytes, bytes | bytearray):
        head = bytes(path_or_bytes[:SNIFF_BYTES])
        origin = "<bytes>"
    else:
        origin = str(path_or_bytes)
        with open(path_or_bytes, "rb") as file:
            head = file.read(SNIFF_BYTES)
    text = _sniff_text(head)
    if text.startswith("<"):
        if _FEED_ROOT.search(text.lower()):
            return "rss"
        raise FeedError(f"{origin}: XML or HTML, but not an RSS or Atom feed")
    if text.startswith(("{", "[")):
        keys = set(_JSON_KEY.findall(text))
        if keys & NINJS_KEYS:
            return "ninjs"
        if keys:
            return "jsonl"
    return "text"


# --- shared story building ------------------------------------------------------------------------


def _string(value: object) -> str:
    """value when it is a string, else "" (feeds put anything anywhere)."""
    return value if isinstance(value, str) else ""


def parse_timestamp(value: object) -> str | None:
    """A feed's date as ISO 8601 UTC: ISO 8601, RFC 2822 or epoch seconds; None if unreadable.

    A date without a time zone is taken as UTC.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value  # epoch milliseconds
        try:
            return format_utc(datetime.fromtimestamp(seconds, UTC))
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return normalise_timestamp(value)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_utc(moment)


def build_story(
    *,
    fmt: str,
    body: str,
    headline: str = "",
    raw_id: str = "",
    source: str = "",
    url: str = "",
    published_at: str | None = None,
    language: str | None = None,
) -> RawStory | None:
    """A normalised RawStory; the headline stands in for a missing body; None without text.

    The id is the feed's own (normalised) when it has one, else the content hash.
    """
    headline = normalise_line(headline)
    body = normalise_body(body) or headline
    if not body:
        return None
    story_id = stable_id(raw_id) if raw_id else ""
    return RawStory(
        id=story_id or content_id(headline, body),
        body=body,
        headline=headline,
        language=normalise_language(language),
        source=normalise_line(source),
        url=normalise_line(url),
        published_at=published_at,
        format=fmt,
    )


def _json_items(text: str, origin: str) -> Iterator[tuple[str, Any]]:
    """(where, value) of each item of one JSON document (object or array) or of JSON Lines."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        pass
    else:
        if isinstance(document, list):
            for index, item in enumerate(document):
                yield f"{origin}[{index}]", item
        else:
            yield origin, document
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{origin}:{number}", json.loads(line)
        except json.JSONDecodeError as error:
            raise FeedError(f"{origin}:{number}: not JSON ({error.msg})") from None


def _json_object(where: str, item: object) -> Mapping[str, Any]:
    if not isinstance(item, dict):
        raise FeedError(f"{where}: expected a JSON object, got {type(item).__name__}")
    return item


# --- ninjs ----------------------------------------------------------------------------------------


def _is_html(part: Mapping[str, Any]) -> bool:
    return "html" in _string(part.get("contenttype")).lower()


def _pick_part(parts: object) -> str:
    """Text of the best entry of a ninjs 2.x headlines/bodies/descriptions array.

    Prefers role "main" (or no role), then plain text over HTML.
    """
    if not isinstance(parts, list):
        return ""
    candidates = [p for p in parts if isinstance(p, dict) and _string(p.get("value")).strip()]
    candidates.sort(key=lambda p: (_string(p.get("role")) not in ("", "main"), _is_html(p)))
    for part in candidates:
        value = _string(part["value"])
        text = html_to_text(value) if _is_html(part) else value
        if text.strip():
            return text
    return ""


def _ninjs_source(item: Mapping[str, Any]) -> str:
    holder = _string(item.get("copyrightholder"))
    if holder.strip():
        return holder
    infosources = item.get("infosources")
    if isinstance(infosources, list):
        for infosource in infosources:
            if isinstance(infosource, dict) and _string(infosource.get("name")).strip():
                return _string(infosource["name"])
    return _string(item.get("by"))


def ninjs_story(item: Mapping[str, Any]) -> RawStory | None:
    """RawStory of one ninjs 1.x/2.x item; None for items without text or not for publication."""
    if _string(item.get("pubstatus")).lower() in UNUSABLE_PUBSTATUS:
        return None
    headline = (
        _string(item.get("headline"))
        or _pick_part(item.get("headlines"))
        or _string(item.get("title"))
    )
    body = (
        _pick_part(item.get("bodies"))
        or _string(item.get("body_text"))
        or html_to_text(_string(item.get("body_html")))
        or _pick_part(item.get("descriptions"))
        or _string(item.get("description_text"))
        or html_to_text(_string(item.get("description_html")))
    )
    located = normalise_line(_string(item.get("located")))
    if body.strip() and located and located.casefold() not in body[:300].casefold():
        body = f"{located} — {body}"  # the dateline the tagger reads the place from
    uri = _string(item.get("uri"))
    published_at = None
    for name in ("versioncreated", "firstcreated", "contentcreated"):
        published_at = parse_timestamp(item.get(name))
        if published_at:
            break
    return build_story(
        fmt="ninjs",
        body=body,
        headline=headline,
        raw_id=uri or _string(item.get("guid")),
        source=_ninjs_source(item),
        url=uri if uri.startswith(("http://", "https://")) else "",
        published_at=published_at,
        language=_string(item.get("language")) or None,
    )


def _ninjs_stories(data: bytes, origin: str) -> Iterator[RawStory]:
    for where, item in _json_items(_decode(data, origin), origin):
        story = ninjs_story(_json_object(where, item))
        if story is not None:
            yield story


# --- JSON Lines of our own shape ------------------------------------------------------------------


def _jsonl_stories(data: bytes, origin: str) -> Iterator[RawStory]:
    for where, item in _json_items(_decode(data, origin), origin):
        fields = _json_object(where, item)
        body, headline = fields.get("body", ""), fields.get("headline") or ""
        if not isinstance(body, str) or not isinstance(headline, str):
            raise FeedError(f"{where}: body and headline must be strings")
        raw_id = fields.get("id")
        story = build_story(
            fmt="jsonl",
            body=body,
            headline=headline,
            raw_id=str(raw_id) if isinstance(raw_id, str | int) else "",
            source=_string(fields.get("source")),
            url=_string(fields.get("url")),
            published_at=parse_timestamp(fields.get("published_at")),
            language=_string(fields.get("language")) or None,
        )
        if story is not None:
            yield story


# --- RSS / Atom -----------------------------------------------------------------------------------


def _detail_text(detail: Mapping[str, Any] | None, fallback: str = "") -> str:
    """Text of a feedparser text construct (title_detail, summary_detail, content[i])."""
    if not detail:
        return fallback
    value = _string(detail.get("value"))
    kind = _string(detail.get("type")).lower()
    return html_to_text(value) if "html" in kind else value


def _struct_time_utc(entry: Mapping[str, Any]) -> str | None:
    for name in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(name)
        if parsed:
            return format_utc(datetime.fromtimestamp(calendar.timegm(parsed), UTC))
    return None


def _rss_stories(data: bytes, origin: str) -> Iterator[RawStory]:
    parsed = feedparser.parse(data)  # bytes: parsed as a document, never fetched
    feed = parsed.feed
    found = 0
    for entry in parsed.entries:
        contents = [c for c in entry.get("content", []) if _string(c.get("value")).strip()]
        body = _detail_text(contents[0]) if contents else ""
        body = body or _detail_text(entry.get("summary_detail"), _string(entry.get("summary")))
        language = (
            (contents[0].get("language") if contents else None)
            or (entry.get("title_detail") or {}).get("language")
            or feed.get("language")
        )
        story = build_story(
            fmt="rss",
            body=body,
            headline=_detail_text(entry.get("title_detail"), _string(entry.get("title"))),
            raw_id=_string(entry.get("id")) or _string(entry.get("link")),
            source=_string((entry.get("source") or {}).get("title")) or _string(feed.get("title")),
            url=_string(entry.get("link")),
            published_at=_struct_time_utc(entry),
            language=language,
        )
        if story is not None:
            found += 1
            yield story
    if parsed.bozo and not found:
        raise FeedError(f"{origin}: not a readable RSS/Atom feed ({parsed.get('bozo_exception')})")


# --- plain text -----------------------------------------------------------------------------------


def text_story(text: str) -> RawStory | None:
    """A plain-text story: first line is the headline, optionally after a "date <ISO date>" marker.

    The rest is the body; the id is the content hash.
    """
    lines = normalise_body(text).split("\n")
    headline, published_at = lines[0], None
    rest = lines[1:]
    marker = _DATE_MARKER.fullmatch(headline)
    if marker:
        published_at = parse_timestamp(marker[1])
        headline = marker[2] or ""
        while not headline and rest:
            headline, rest = rest[0], rest[1:]
    return build_story(
        fmt="text", body="\n".join(rest), headline=headline, published_at=published_at
    )


def _text_stories(data: bytes, origin: str) -> Iterator[RawStory]:
    story = text_story(_decode(data, origin))
    if story is not None:
        yield story


_READERS = {
    "ninjs": _ninjs_stories,
    "jsonl": _jsonl_stories,
    "rss": _rss_stories,
    "text": _text_stories,
}
assert set(_READERS) == set(STORY_FORMATS)


def stories_from_bytes(
    data: bytes, fmt: str | None = None, origin: str = "<bytes>"
) -> Iterator[RawStory]:
    """The stories in a feed file's bytes (fmt detected when None); origin names it in errors."""
    fmt = fmt or detect_format(data)
    reader = _READERS.get(fmt)
    if reader is None:
        raise FeedError(f"unknown feed format {fmt!r}; known: {', '.join(STORY_FORMATS)}")
    yield from reader(data, origin)


def read_stories(path: Path, fmt: str | None = None) -> Iterator[RawStory]:
    """The stories in a feed file, normalised, in file order (fmt detected when None)."""
    data = Path(path).read_bytes()
    yield from stories_from_bytes(data, fmt or detect_format(data), origin=str(path))

"""Validate and normalise raw-topic message values into RawStory, or say exactly why not."""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args

import fastjsonschema
import pycountry
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from streams.records import RawStory

# The `format` values a RawStory may carry: the feed formats streams.feeds reads.
STORY_FORMATS: tuple[str, ...] = ("ninjs", "jsonl", "rss", "text")

# Why a message goes to the dead-letter topic. "tagging_error" (the tagging core raised) and
# "tagging_crashed" (the tagging process died on this story, twice) are the tag agent's own;
# validate_raw never gives them.
RejectionReason = Literal[
    "invalid_utf8", "not_json", "schema", "empty_body", "body_too_large", "tagging_error",
    "tagging_crashed",
]
REJECTION_REASONS: tuple[RejectionReason, ...] = get_args(RejectionReason)

# Ids longer than this (UTF-8 bytes) are replaced by a hash of themselves: they become
# Kafka keys and Elasticsearch _ids (which stop at 512 bytes).
MAX_ID_BYTES = 256
CONTENT_ID_PREFIX = "sha256:"

RAW_STORY_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "raw_story.schema.json"

_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_BREAK = re.compile("\r\n|[\r\u2028\u2029\x85\x0b\x0c]")
# Control characters other than the newline, plus the stray byte-order mark.
_CONTROL = re.compile("[\x00-\x09\x0e-\x1f\x7f-\x84\x86-\x9f\ufeff]+")
# Runs of horizontal white space other than a single plain space (which needs no rewrite).
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]{2,}|[^\S\n ]")
# Anything _clean_controls would change; most wire text has none, so one search skips the rest.
_NEEDS_CLEANING = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ufeff\u2028\u2029\ud800-\udfff]")
_BLANK_LINES = re.compile(r"\n{3,}")
_ANY_SPACE = re.compile(r"\s+")
_ANY_SPACE_BUT_ONE = re.compile(r"\s{2,}|[^\S ]")
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}")
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")
_NO_LANGUAGE = frozenset({"und", "mul", "zxx", "mis"})


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message value cannot become a RawStory (reason is one of REJECTION_REASONS)."""

    reason: RejectionReason
    detail: str


def _clean_controls(text: str) -> str:
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", _SURROGATE.sub("\ufffd", text))
    if _NEEDS_CLEANING.search(text) is None:
        return text
    text = _SURROGATE.sub("\ufffd", text)  # lone surrogates from "\ud800" escapes
    text = unicodedata.normalize("NFC", text)
    text = _LINE_BREAK.sub("\n", text)
    return _CONTROL.sub(" ", text)


def normalise_body(text: str) -> str:
    """NFC, one kind of newline, control characters and space runs as one space, <=1 blank line."""
    text = _HORIZONTAL_SPACE.sub(" ", _clean_controls(text))
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def normalise_line(text: str) -> str:
    """A one-line field (headline, source, id): NFC, every whitespace/control run as one space."""
    return _ANY_SPACE_BUT_ONE.sub(" ", _clean_controls(text)).strip()


def normalise_language(tag: str | None) -> str | None:
    """The ISO 639-1 code of a language tag ("en-GB" -> "en", "ell" -> "el"); None if unknown."""
    if not tag:
        return None
    primary = normalise_line(tag).lower().replace("_", "-").split("-", 1)[0]
    if not _LANGUAGE_TAG.fullmatch(primary) or primary in _NO_LANGUAGE:
        return None
    if len(primary) == 3:
        language = pycountry.languages.get(alpha_3=primary) or pycountry.languages.get(
            bibliographic=primary
        )
        if language is None:
            return None
        return str(getattr(language, "alpha_2", primary))
    return primary


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC to the second ("2022-01-06T05:42:00Z"); moment must be timezone-aware."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment.isoformat()} has no time zone")
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def normalise_timestamp(value: str) -> str:
    """An ISO 8601 date or date-time as UTC ("2022-01" -> "2022-01-01T00:00:00Z").

    A value without an offset is taken as UTC. Raises ValueError when it is not a valid date.
    """
    text = value.strip()
    year_month = _YEAR_MONTH.fullmatch(text)
    if year_month:
        moment = datetime(int(year_month[1]), int(year_month[2]), 1, tzinfo=UTC)
    else:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return format_utc(moment)


def content_id(headline: str, body: str) -> str:
    """Stable id of a story that has none: sha256 of its normalised headline and body."""
    text = normalise_line(headline) + "\n\n" + normalise_body(body)
    return CONTENT_ID_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def stable_id(raw_id: str) -> str:
    """A feed's own id, normalised; a hash of it when longer than MAX_ID_BYTES."""
    story_id = normalise_line(raw_id)
    if len(story_id.encode("utf-8")) > MAX_ID_BYTES:
        return CONTENT_ID_PREFIX + hashlib.sha256(story_id.encode("utf-8")).hexdigest()
    return story_id


def message_limit_bytes(max_body_bytes: int) -> int:
    """The largest message value worth parsing when bodies stop at max_body_bytes.

    JSON escapes make a body at most 6 times longer ("\\u0001"); 64 KiB covers the other fields.
    """
    return 6 * max_body_bytes + 65_536


@cache
def raw_story_validator() -> Draft202012Validator:
    """The JSON Schema validator of raw-topic messages, built once.

    Reads schemas/raw_story.schema.json; where the package is installed without that folder,
    builds the identical schema from the RawStory Record (tests keep the two equal).
    """
    try:
        schema = json.loads(RAW_STORY_SCHEMA_PATH.read_text(encoding="utf-8"))
    except FileNotFoundError:
        from streams.schemagen import record_schema

        schema = record_schema(RawStory)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@cache
def fast_raw_story_check() -> Any:
    """The same schema compiled to Python code (fastjsonschema): the check every message pays."""
    return fastjsonschema.compile(raw_story_validator().schema)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{_clip(text, 40)} is out of range for a JSON number")
    return number


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names = {dict: "object", list: "array", str: "string", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(error: ValidationError) -> str:
    """A short sentence for the first schema error: where, what was expected, what came."""
    where = "$" + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path
    )
    value = error.instance
    if error.validator == "type":
        expected = error.validator_value
        wanted = " or ".join(expected) if isinstance(expected, list) else str(expected)
        return f"{where} must be {wanted}, got {_json_type(value)}"
    if error.validator == "pattern" and where == "$.published_at":
        return (
            f"{where} must be an ISO 8601 date-time such as 2022-01-06T05:42:00Z, "
            f"got {_clip(repr(value))}"
        )
    if error.validator == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return f"{where} must be one of {allowed}, got {_clip(repr(value))}"
    return f"{where}: {_clip(error.message, 200)}"


def _fill_defaults_and_id(message: dict[str, Any]) -> None:
    """Treat null as absent for optional fields that cannot be null; fill a missing id."""
    for name, default in RawStory._options.defaults.items():
        if name in message and message[name] is None and default is not None:
            del message[name]
    story_id = message.get("id")
    if story_id is None or (isinstance(story_id, str) and not normalise_line(story_id)):
        body, headline = message.get("body"), message.get("headline", "")
        if isinstance(body, str) and isinstance(headline, str):
            message["id"] = content_id(headline, body)


def validate_raw(value: bytes, max_body_bytes: int) -> RawStory | Rejection:
    """Turn one raw-topic message value into a normalised RawStory, or a Rejection. Never raises."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        limit = message_limit_bytes(max_body_bytes)
        if len(data) > limit:
            return Rejection(
                "body_too_large",
                f"message is {len(data)} bytes; with bodies of at most {max_body_bytes} bytes "
                f"no message needs more than {limit}",
            )
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            return Rejection(
                "invalid_utf8",
                f"byte 0x{data[error.start]:02x} at offset {error.start} is not valid UTF-8 "
                f"({error.reason})",
            )
    elif value is None:
        return Rejection("not_json", "message has no value (a tombstone)")
    else:
        return Rejection("not_json", f"message value is a {type(value).__name__}, not bytes")

    text = text.removeprefix("\ufeff")
    if not text.strip():
        return Rejection("not_json", "message value is empty")
    try:
        message = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as error:
        return Rejection("not_json", f"line {error.lineno} column {error.colno}: {error.msg}")
    except (ValueError, RecursionError) as error:
        return Rejection("not_json", _clip(str(error) or type(error).__name__, 200))

    if isinstance(message, dict):
        _fill_defaults_and_id(message)
    try:
        fast_raw_story_check()(message)
    except fastjsonschema.JsonSchemaException:
        # The slow validator only runs for invalid messages, to say exactly what is wrong.
        first_error = best_match(raw_story_validator().iter_errors(message))
        detail = _describe(first_error) if first_error is not None else "message breaks the schema"
        return Rejection("schema", detail)
    return _normalised_story(message, max_body_bytes)


def _normalised_story(message: dict[str, Any], max_body_bytes: int) -> RawStory | Rejection:
    """The RawStory of a schema-valid message, every text field normalised."""
    published_at = message.get("published_at")
    if published_at is not None:
        try:
            published_at = normalise_timestamp(published_at)
        except ValueError as error:
            shown = _clip(repr(published_at))
            return Rejection("schema", f"$.published_at {shown} is not a date: {error}")
    try:
        received_at = float(message.get("received_at", 0.0))
    except OverflowError:
        return Rejection("schema", "$.received_at is too large for epoch seconds")
    body = normalise_body(message["body"])
    if not body:
        return Rejection("empty_body", "body is empty once whitespace and control characters go")
    body_bytes = len(body.encode("utf-8"))
    if body_bytes > max_body_bytes:
        return Rejection(
            "body_too_large",
            f"body is {body_bytes} bytes; the limit is {max_body_bytes} (WIREWATCH_MAX_BODY_BYTES)",
        )
    headline = normalise_line(message.get("headline", ""))
    story_id = stable_id(message["id"])
    if not story_id:
        story_id = content_id(headline, body)
    return RawStory(
        id=story_id,
        body=body,
        headline=headline,
        language=normalise_language(message.get("language")),
        source=normalise_line(message.get("source", "")),
        url=normalise_line(message.get("url", "")),
        published_at=published_at,
        received_at=received_at,
        format=message.get("format", "jsonl"),
    )

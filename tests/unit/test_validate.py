"""validate_raw: each raw-topic value becomes a normalised RawStory or a Rejection; never raises."""

from __future__ import annotations

import dataclasses
import json
import random
import re
import unicodedata
from typing import Any

import pytest

from streams.records import RawStory
from streams.validate import (
    MAX_ID_BYTES,
    REJECTION_REASONS,
    Rejection,
    content_id,
    message_limit_bytes,
    normalise_body,
    normalise_language,
    normalise_line,
    normalise_timestamp,
    raw_story_validator,
    validate_raw,
)

LIMIT = 20_000
SHA256_ID = re.compile(r"sha256:[0-9a-f]{64}")

ALMATY_EL = (
    "Η αστυνομία της Αλμάτι, της μεγαλύτερης πόλης του Καζακστάν, ανακοίνωσε ότι δεκάδες "
    'ταραξίες "εξαλείφθηκαν".\n\nΠυροβολισμοί ακούστηκαν καθώς οι στρατιώτες προσέγγιζαν το πλήθος.'
)


def encode(message: Any) -> bytes:
    return json.dumps(message, ensure_ascii=False).encode("utf-8")


def accepted(value: bytes | None, limit: int = LIMIT) -> RawStory:
    result = validate_raw(value, limit)  # type: ignore[arg-type]
    assert isinstance(result, RawStory), result
    return result


def rejected(value: bytes | None, limit: int = LIMIT) -> Rejection:
    result = validate_raw(value, limit)  # type: ignore[arg-type]
    assert isinstance(result, Rejection), result
    return result


# --- accepted messages ----------------------------------------------------------------------------


def test_full_message_is_normalised() -> None:
    message = {
        "id": "  urn:tass.com:news:1384761\n",
        "headline": "  Troops clash\twith protesters\r\non Almaty's main square  ",
        "body": "\ufeffALMATY, January 6. /TASS/.\u00a0Troops\x00and protesters clashed."
        "\r\n\r\n\r\n\r\nGunfire was heard.   \u2028Soldiers approached.",
        "language": "EN-gb",
        "source": " TASS ",
        "url": "https://tass.com/world/1384761",
        "published_at": "2022-01-06T08:51:00+03:00",
        "received_at": 1641448260.5,
        "format": "ninjs",
        "__faust": {"ns": "streams.records.RawStory"},
    }
    story = accepted(encode(message))
    assert story.id == "urn:tass.com:news:1384761"
    assert story.headline == "Troops clash with protesters on Almaty's main square"
    assert story.body == (
        "ALMATY, January 6. /TASS/. Troops and protesters clashed.\n\n"
        "Gunfire was heard.\nSoldiers approached."
    )
    assert (story.language, story.source, story.url) == ("en", "TASS", message["url"])
    assert story.published_at == "2022-01-06T05:51:00Z"
    assert (story.received_at, story.format) == (1641448260.5, "ninjs")


def test_minimal_message_gets_defaults_and_a_content_id() -> None:
    story = accepted(encode({"body": ALMATY_EL}))
    assert SHA256_ID.fullmatch(story.id)
    assert story.id == content_id("", ALMATY_EL)
    assert (story.headline, story.language, story.source, story.url) == ("", None, "", "")
    assert (story.published_at, story.received_at, story.format) == (None, 0.0, "jsonl")


def test_content_id_ignores_whitespace_but_not_words() -> None:
    plain = accepted(encode({"headline": "Πυροβολισμοί στην Αλμάτι", "body": ALMATY_EL}))
    spaced = accepted(
        encode({"headline": " Πυροβολισμοί  στην Αλμάτι", "body": ALMATY_EL.replace(" ", " \t ")})
    )
    edited = accepted(encode({"headline": "Πυροβολισμοί στην Αλμάτι", "body": ALMATY_EL + "!"}))
    assert plain.id == spaced.id
    assert plain.id != edited.id


def test_nfc_makes_decomposed_and_composed_text_the_same_story() -> None:
    composed = "Ηράκλειο: επεισόδια με τραυματίες"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    a = accepted(encode({"body": composed}))
    b = accepted(encode({"body": decomposed}))
    assert a.body == b.body == composed
    assert a.id == b.id


@pytest.mark.parametrize(
    ("value", "id_field"),
    [({"id": None}, "null"), ({"id": ""}, "empty"), ({"id": " \t\x00"}, "blank")],
)
def test_missing_or_blank_id_is_filled_from_content(value: dict[str, Any], id_field: str) -> None:
    story = accepted(encode({**value, "headline": "h", "body": "Shots heard in Almaty."}))
    assert story.id == content_id("h", "Shots heard in Almaty."), id_field


def test_long_ids_are_hashed_stably() -> None:
    long_id = "urn:agency:" + "ж" * MAX_ID_BYTES
    first = accepted(encode({"id": long_id, "body": "text"}))
    second = accepted(encode({"id": long_id, "body": "other text"}))
    assert SHA256_ID.fullmatch(first.id)
    assert first.id == second.id


def test_null_optional_fields_count_as_absent() -> None:
    message = {"id": "a", "body": "b", "headline": None, "source": None, "received_at": None,
               "format": None, "url": None, "language": None, "published_at": None}  # fmt: skip
    story = accepted(encode(message))
    assert (story.headline, story.source, story.received_at, story.format) == ("", "", 0.0, "jsonl")


def test_lone_surrogate_escapes_become_replacement_characters() -> None:
    story = accepted(b'{"id": "a", "body": "Almaty \\ud83d shots \\udc00 heard"}')
    assert story.body == "Almaty \ufffd shots \ufffd heard"
    assert story.dumps()  # encodable


def test_utf8_bom_and_str_values_are_accepted() -> None:
    assert accepted(b"\xef\xbb\xbf" + encode({"id": "a", "body": "b"})).id == "a"
    assert accepted(json.dumps({"id": "a", "body": "b"})).id == "a"  # type: ignore[arg-type]


def test_validation_is_idempotent() -> None:
    story = accepted(encode({"headline": " Επεισόδια ", "body": ALMATY_EL + "\r\n\r\n\r\n#Almaty"}))
    assert accepted(story.dumps()) == story


def test_schema_validator_is_built_once() -> None:
    assert raw_story_validator() is raw_story_validator()


# --- rejections ----------------------------------------------------------------------------------

OK = {"id": "urn:x:1", "body": "Shots were heard in Almaty."}

REJECTION_CASES: list[tuple[str, bytes | None, str, str]] = [
    ("latin-1 bytes", "Αλμάτι".encode("iso-8859-7"), "invalid_utf8", "offset 0"),
    ("truncated UTF-8", encode(OK)[:-3] + b"\xce", "invalid_utf8", "not valid UTF-8"),
    ("tombstone", None, "not_json", "tombstone"),
    ("empty", b"", "not_json", "empty"),
    ("whitespace", b" \n ", "not_json", "empty"),
    ("truncated JSON", encode(OK)[:-5], "not_json", "line 1 column"),
    ("plain text", "Πυροβολισμοί στην Αλμάτι".encode(), "not_json", "Expecting value"),
    ("NaN", b'{"id": "a", "body": "b", "received_at": NaN}', "not_json", "NaN"),
    ("Infinity", b'{"id": "a", "body": "b", "received_at": -Infinity}', "not_json", "Infinity"),
    ("1e400", b'{"id": "a", "body": "b", "received_at": 1e400}', "not_json", "out of range"),
    ("deep nesting", b"[" * 50_000 + b"]" * 50_000, "not_json", "recursion"),
    ("array", encode([OK]), "schema", "$ must be object, got array"),
    ("string", encode("body"), "schema", "$ must be object, got string"),
    ("missing body", encode({"id": "a", "headline": "h"}), "schema", "'body' is a required"),
    (
        "body is a number",
        encode({"id": "a", "body": 5}),
        "schema",
        "$.body must be string, got number",
    ),
    ("id is a number", encode({"id": 7, "body": "b"}), "schema", "$.id must be string, got number"),
    (
        "language is a list",
        encode({**OK, "language": ["el"]}),
        "schema",
        "$.language must be string or null",
    ),
    (
        "received_at is text",
        encode({**OK, "received_at": "now"}),
        "schema",
        "$.received_at must be number",
    ),
    ("received_at is a bool", encode({**OK, "received_at": True}), "schema", "got boolean"),
    (
        "received_at too big",
        b'{"id": "a", "body": "b", "received_at": 1' + b"0" * 400 + b"}",
        "schema",
        "too large",
    ),
    (
        "unknown field",
        encode({**OK, "subjects": ["unrest"]}),
        "schema",
        "'subjects' was unexpected",
    ),
    (
        "unknown format",
        encode({**OK, "format": "nitf"}),
        "schema",
        "one of ninjs, jsonl, rss, text, got 'nitf'",
    ),
    ("date in words", encode({**OK, "published_at": "yesterday"}), "schema", "ISO 8601"),
    (
        "RFC 2822 date",
        encode({**OK, "published_at": "Thu, 06 Jan 2022 05:42:00 GMT"}),
        "schema",
        "ISO 8601",
    ),
    ("month 13", encode({**OK, "published_at": "2022-13-01"}), "schema", "not a date"),
    (
        "faust tag not an object",
        encode({**OK, "__faust": "RawStory"}),
        "schema",
        "$.__faust must be object",
    ),
    ("empty body", encode({"id": "a", "body": ""}), "empty_body", "empty"),
    ("blank body", encode({"id": "a", "body": " \r\n\t\x00\x07\u2028 "}), "empty_body", "empty"),
    (
        "body over the limit",
        encode({"id": "a", "body": "ж" * (LIMIT // 2 + 1)}),
        "body_too_large",
        f"{LIMIT + 2} bytes; the limit is {LIMIT}",
    ),
    (
        "message over the limit",
        b" " * (message_limit_bytes(LIMIT) + 1) + encode(OK),
        "body_too_large",
        "message is",
    ),
]


@pytest.mark.parametrize(
    ("value", "reason", "detail"),
    [c[1:] for c in REJECTION_CASES],
    ids=[c[0] for c in REJECTION_CASES],
)
def test_rejection_reason_and_detail(value: bytes | None, reason: str, detail: str) -> None:
    rejection = rejected(value)
    assert rejection.reason == reason, rejection.detail
    assert detail in rejection.detail
    assert rejection.detail


def test_body_exactly_at_the_limit_is_accepted() -> None:
    assert len(accepted(encode({"id": "a", "body": "ж" * (LIMIT // 2)})).body) == LIMIT // 2


def test_rejection_is_frozen() -> None:
    rejection = Rejection("schema", "x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        rejection.reason = "not_json"  # type: ignore[misc]


# --- normalisers ---------------------------------------------------------------------------------

LANGUAGE_CASES = [
    ("el", "el"), ("EN-gb", "en"), ("ru_RU", "ru"), ("zh-Hant-TW", "zh"), ("ell", "el"),
    ("gre", "el"), ("fre", "fr"), ("ukr", "uk"), ("ast", "ast"), ("und", None), ("mul", None),
    ("english", None), ("e", None), ("", None), (None, None), ("qqq", None),
]  # fmt: skip


@pytest.mark.parametrize(("tag", "code"), LANGUAGE_CASES)
def test_normalise_language(tag: str | None, code: str | None) -> None:
    assert normalise_language(tag) == code


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2022-01-06T11:42:00+06:00", "2022-01-06T05:42:00Z"),
        ("2022-01-06 05:42", "2022-01-06T05:42:00Z"),
        ("2022-01-06T05:42:00.999999Z", "2022-01-06T05:42:00Z"),
        ("2022-01", "2022-01-01T00:00:00Z"),
        ("2022-01-06", "2022-01-06T00:00:00Z"),
    ],
)
def test_normalise_timestamp(value: str, expected: str) -> None:
    assert normalise_timestamp(value) == expected


@pytest.mark.parametrize("value", ["2022-00", "2022-02-30", "06/01/2022", "soon"])
def test_normalise_timestamp_refuses_non_dates(value: str) -> None:
    with pytest.raises(ValueError):
        normalise_timestamp(value)


def test_normalise_body_and_line() -> None:
    raw = "  Πρώτη\u00a0 γραμμή \r\n\x0b\n\n\nΔεύτερη\x1b[0m παράγραφος\u2029τέλος  "
    assert normalise_body(raw) == "Πρώτη γραμμή\n\nΔεύτερη [0m παράγραφος\nτέλος"
    assert normalise_line(raw) == "Πρώτη γραμμή Δεύτερη [0m παράγραφος τέλος"
    # meaningful format characters stay (Persian zero-width non-joiner, Arabic marks)
    assert normalise_body("می\u200cخواهم") == "می\u200cخواهم"


# --- fuzzing: never raise ------------------------------------------------------------------------


def check_outcome(value: bytes) -> RawStory | Rejection:
    result = validate_raw(value, LIMIT)
    if isinstance(result, Rejection):
        assert result.reason in REJECTION_REASONS
        assert result.reason not in ("tagging_error", "tagging_crashed")
        assert isinstance(result.detail, str)
        assert result.detail
    else:
        assert isinstance(result, RawStory)
        assert result.body
        assert len(result.body.encode("utf-8")) <= LIMIT
        assert validate_raw(result.dumps(), LIMIT) == result
    return result


def random_json_value(rng: random.Random, depth: int = 0) -> Any:
    kinds = ["str", "int", "float", "bool", "null", "list", "dict", "weird"]
    kind = rng.choice(kinds if depth < 3 else kinds[:5])
    if kind == "str":
        alphabet = 'aζжب \n\t\x00\u200c\ud800\U0001f600\\"é'
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
    if kind == "int":
        return rng.choice([0, -1, 10**18, -(10**30), rng.randint(-(10**6), 10**6)])
    if kind == "float":
        return rng.choice([0.5, -1e308, 1e-300, rng.random() * 1e10])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "list":
        return [random_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if kind == "dict":
        return {str(i): random_json_value(rng, depth + 1) for i in range(rng.randint(0, 3))}
    return rng.choice(["2022-01-06T05:42:00Z", "2022-99-99", "ninjs", "rss", "und", "ell"])


def test_fuzz_random_bytes_never_raise() -> None:
    rng = random.Random(20220106)
    outcomes = set()
    for _ in range(3000):
        value = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        outcomes.add(type(check_outcome(value)).__name__)
    assert outcomes == {"Rejection"}


def test_fuzz_mutated_messages_never_raise() -> None:
    rng = random.Random(6012022)
    base = encode(
        {
            "id": "urn:x:1",
            "headline": "Выстрелы в Алматы",
            "body": ALMATY_EL,
            "language": "el",
            "published_at": "2022-01-06T05:42:00Z",
            "format": "text",
        }
    )
    reasons: set[str] = set()
    stories = 0
    for _ in range(3000):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            op, at = rng.random(), rng.randrange(len(data))
            if op < 0.4:
                data[at] = rng.randrange(256)
            elif op < 0.6:
                del data[at : at + rng.randint(1, 20)]
            elif op < 0.8:
                data[at:at] = rng.choice([b"\\", b'"', b"{", b"]", b"\\u0000", b"\\ud800", b"\xff"])
            else:
                data = data[: rng.randrange(len(data) + 1)]
            if not data:
                break
        result = check_outcome(bytes(data))
        if isinstance(result, Rejection):
            reasons.add(result.reason)
        else:
            stories += 1
    assert stories > 0
    assert {"invalid_utf8", "not_json"} <= reasons


def test_fuzz_random_field_values_never_raise() -> None:
    rng = random.Random(42)
    fields = ["id", "body", "headline", "language", "source", "url", "published_at",
              "received_at", "format", "__faust", "extra"]  # fmt: skip
    reasons: set[str] = set()
    stories = 0
    for _ in range(3000):
        message: dict[str, Any] = {"id": "urn:x:1", "body": ALMATY_EL}
        for name in rng.sample(fields, rng.randint(1, 4)):
            message[name] = random_json_value(rng)
        if rng.random() < 0.1:
            del message["body"]
        value = json.dumps(message, ensure_ascii=rng.random() < 0.5).encode(
            "utf-8", "surrogatepass"
        )
        result = check_outcome(value)
        if isinstance(result, Rejection):
            reasons.add(result.reason)
        else:
            stories += 1
    assert stories > 0
    assert {"schema", "invalid_utf8"} <= reasons

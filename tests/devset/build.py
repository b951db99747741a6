"""Builds the gold development set: strips the markup of src/<lang>.txt into gold/<lang>.jsonl."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

DEVSET_DIR = Path(__file__).resolve().parent
SRC_DIR = DEVSET_DIR / "src"
GOLD_DIR = DEVSET_DIR / "gold"
PLACES_FILE = DEVSET_DIR / "places.tsv"

VIOLENCE_CATEGORIES = frozenset(
    {
        "killing",
        "shooting",
        "explosion",
        "armed_clash",
        "assault",
        "riot_unrest",
        "arson",
        "storming",
        "security_crackdown",
        "kidnapping",
        "terrorism",
    }
)
AGENCIES = frozenset(
    {
        "Interfax",
        "TASS",
        "Reuters",
        "Sputnik",
        "AFP",
        "AP",
        "Xinhua",
        "RIA Novosti",
        "ANA-MPA",
        "Anadolu",
        "Al Jazeera",
        "BBC",
        "Ukrinform",
        "Kazinform",
        "UNIAN",
        "Bloomberg",
        "dpa",
        "EFE",
        "ANSA",
    }
)
PLACE_KINDS = frozenset({"city", "country", "admin"})
REQUIRED_HEADERS = ("headline", "focus", "sources")
KNOWN_HEADERS = frozenset({*REQUIRED_HEADERS, "also", "note"})

STORY_START = "@@@ "
HEADER_END = "---"
# [[surface|place-key]], [[surface|place-key|opt]], {{surface|category}}, {{surface|category|opt}}
_PLACE_MARK = r"\[\[(?P<ptext>[^\[\]{}|\n]+)\|(?P<pkey>[^\[\]{}|\n]+)(?:\|(?P<popt>opt))?\]\]"
_VIOLENCE_MARK = r"\{\{(?P<vtext>[^\[\]{}|\n]+)\|(?P<vcat>[^\[\]{}|\n]+)(?:\|(?P<vopt>opt))?\}\}"
MARKUP = re.compile(f"{_PLACE_MARK}|{_VIOLENCE_MARK}")
_LEFTOVER = re.compile(r"\[\[|\]\]|\{\{|\}\}")
_STORY_ID = re.compile(r"^(?P<lang>[a-z]{2})-\d{3}$")


class DevsetError(ValueError):
    """A source file breaks the markup or the annotation guideline."""


@dataclass(frozen=True, slots=True)
class GazetteerEntry:
    """One row of places.tsv: the place an annotation key stands for."""

    key: str
    geonames_id: int | None
    name: str
    country_code: str
    kind: str
    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class SourceStory:
    """One story as written in a src file: headers and body with markup."""

    story_id: str
    headers: dict[str, str]
    markup: str
    origin: str  # "file:line" of the @@@ line, for error messages


def load_places(path: Path = PLACES_FILE) -> dict[str, GazetteerEntry]:
    """Reads the annotators' gazetteer (key -> place); fails on malformed or duplicate rows."""
    entries: dict[str, GazetteerEntry] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) != 7:
            raise DevsetError(
                f"{path.name}:{number}: expected 7 tab-separated cells, got {len(cells)}"
            )
        key, gid, name, country, kind, lat, lon = cells
        if key in entries:
            raise DevsetError(f"{path.name}:{number}: duplicate key {key!r}")
        if kind not in PLACE_KINDS:
            raise DevsetError(f"{path.name}:{number}: kind {kind!r} not in {sorted(PLACE_KINDS)}")
        if not re.fullmatch(r"[A-Z]{2}", country):
            raise DevsetError(f"{path.name}:{number}: bad country code {country!r}")
        entries[key] = GazetteerEntry(
            key=key,
            geonames_id=int(gid) if gid else None,
            name=name,
            country_code=country,
            kind=kind,
            lat=float(lat),
            lon=float(lon),
        )
    return entries


def parse_source(text: str, origin: str) -> list[SourceStory]:
    """Splits a src file into stories: '@@@ <id>' line, 'name: value' headers, '---', body."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith(STORY_START)]
    if not starts or any(line.strip() for line in lines[: starts[0]]):
        raise DevsetError(f"{origin}: text must begin with a '{STORY_START}<id>' line")
    stories = []
    for n, first in enumerate(starts):
        last = starts[n + 1] if n + 1 < len(starts) else len(lines)
        where = f"{origin}:{first + 1}"
        story_id = lines[first][len(STORY_START) :].strip()
        block = lines[first + 1 : last]
        try:
            separator = block.index(HEADER_END)
        except ValueError:
            raise DevsetError(f"{where}: no '{HEADER_END}' line after the headers") from None
        headers: dict[str, str] = {}
        for raw in block[:separator]:
            name, colon, value = raw.partition(":")
            name = name.strip()
            if not colon or name not in KNOWN_HEADERS or name in headers:
                raise DevsetError(f"{where}: bad or repeated header line {raw!r}")
            headers[name] = value.strip()
        missing = [h for h in REQUIRED_HEADERS if h not in headers]
        if missing:
            raise DevsetError(f"{where}: missing headers {missing}")
        body_lines = block[separator + 1 :]
        while body_lines and not body_lines[-1].strip():
            body_lines.pop()
        stories.append(SourceStory(story_id, headers, "\n".join(body_lines), where))
    return stories


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _check_boundaries(body: str, start: int, end: int, optional: bool, where: str) -> None:
    """Spans begin and end at word edges (optional spans may sit inside a hashtag)."""
    text = body[start:end]
    if text != text.strip():
        raise DevsetError(f"{where}: span {text!r} has surrounding whitespace")
    if optional:
        return
    if start > 0 and _is_word_char(body[start - 1]) and _is_word_char(body[start]):
        raise DevsetError(f"{where}: span {text!r} starts inside a word")
    if end < len(body) and _is_word_char(body[end]) and _is_word_char(body[end - 1]):
        raise DevsetError(f"{where}: span {text!r} ends inside a word")


def strip_markup(
    markup: str, places: dict[str, GazetteerEntry], where: str
) -> tuple[str, list[dict[str, object]], list[dict[str, object]]]:
    """Removes the markup; returns the clean body and the place and violence spans in it."""
    pieces: list[str] = []
    place_spans: list[dict[str, object]] = []
    violence_spans: list[dict[str, object]] = []
    cursor = 0
    length = 0
    for match in MARKUP.finditer(markup):
        plain = markup[cursor : match.start()]
        pieces.append(plain)
        length += len(plain)
        surface = match.group("ptext") or match.group("vtext")
        start, end = length, length + len(surface)
        pieces.append(surface)
        length = end
        cursor = match.end()
        if match.group("ptext") is not None:
            key = match.group("pkey")
            optional = match.group("popt") is not None
            place_spans.append(_place_record(surface, start, end, key, optional, places, where))
        else:
            category = match.group("vcat")
            if category not in VIOLENCE_CATEGORIES:
                raise DevsetError(f"{where}: unknown violence category {category!r} on {surface!r}")
            violence_spans.append(
                {
                    "text": surface,
                    "start": start,
                    "end": end,
                    "category": category,
                    "optional": match.group("vopt") is not None,
                }
            )
    pieces.append(markup[cursor:])
    body = "".join(pieces)
    leftover = _LEFTOVER.search(body)
    if leftover:
        context = body[max(0, leftover.start() - 30) : leftover.end() + 30]
        raise DevsetError(f"{where}: malformed markup near {context!r}")
    for span in (*place_spans, *violence_spans):
        start, end = int(str(span["start"])), int(str(span["end"]))
        if body[start:end] != span["text"]:
            raise DevsetError(f"{where}: offsets of {span['text']!r} do not slice the body")
        _check_boundaries(body, start, end, bool(span["optional"]), where)
    return body, place_spans, violence_spans


def _place_record(
    surface: str,
    start: int,
    end: int,
    key: str,
    optional: bool,
    places: dict[str, GazetteerEntry],
    where: str,
) -> dict[str, object]:
    record: dict[str, object] = {"text": surface, "start": start, "end": end, "key": key}
    if key == "-":
        if not optional:
            raise DevsetError(f"{where}: {surface!r} has no place key; only optional spans may")
        record.update(geonames_id=None, name=None, country_code=None, kind=None, lat=None, lon=None)
    else:
        entry = places.get(key)
        if entry is None:
            raise DevsetError(f"{where}: place key {key!r} (on {surface!r}) not in places.tsv")
        record.update(
            geonames_id=entry.geonames_id,
            name=entry.name,
            country_code=entry.country_code,
            kind=entry.kind,
            lat=entry.lat,
            lon=entry.lon,
        )
    record["optional"] = optional
    return record


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip() and item.strip() != "-"]


def build_story(source: SourceStory, language: str, places: dict[str, GazetteerEntry]) -> dict:
    """Turns one source story into its gold record (clean body, spans with offsets)."""
    where = f"{source.origin} ({source.story_id})"
    id_match = _STORY_ID.match(source.story_id)
    if not id_match or id_match.group("lang") != language:
        raise DevsetError(f"{where}: story id must look like '{language}-001'")
    body, place_spans, violence_spans = strip_markup(source.markup, places, where)
    if not body.strip():
        raise DevsetError(f"{where}: empty body")
    focus = source.headers["focus"]
    if focus == "-":
        focus_code = None
    elif re.fullmatch(r"[A-Z]{2}", focus):
        focus_code = focus
    else:
        raise DevsetError(f"{where}: focus must be an ISO 3166-1 alpha-2 code or '-'")
    sources = _split_list(source.headers["sources"])
    unknown = sorted(set(sources) - AGENCIES)
    if unknown:
        raise DevsetError(f"{where}: agencies {unknown} are not canonical names")
    headline = source.headers["headline"]
    if _LEFTOVER.search(headline):
        raise DevsetError(f"{where}: the headline carries no markup")
    return {
        "id": source.story_id,
        "language": language,
        "other_languages": _split_list(source.headers.get("also", "")),
        "headline": headline,
        "body": body,
        "focus": focus_code,
        "sources": sorted(set(sources)),
        "places": place_spans,
        "violence": violence_spans,
    }


def build_language(
    language: str, src_dir: Path = SRC_DIR, places: dict[str, GazetteerEntry] | None = None
) -> list[dict]:
    """Gold records of one language file, in file order."""
    gazetteer = load_places() if places is None else places
    path = src_dir / f"{language}.txt"
    sources = parse_source(path.read_text(encoding="utf-8"), f"src/{path.name}")
    return [build_story(source, language, gazetteer) for source in sources]


def source_languages(src_dir: Path = SRC_DIR) -> list[str]:
    """Languages that have a src file, sorted."""
    return sorted(path.stem for path in src_dir.glob("*.txt"))


def build_all(src_dir: Path = SRC_DIR) -> dict[str, list[dict]]:
    """Gold records of every language; story ids are unique across the set."""
    places = load_places()
    built = {lang: build_language(lang, src_dir, places) for lang in source_languages(src_dir)}
    seen: set[str] = set()
    for records in built.values():
        for record in records:
            if record["id"] in seen:
                raise DevsetError(f"duplicate story id {record['id']}")
            seen.add(record["id"])
    return built


def render_jsonl(records: list[dict]) -> str:
    """One JSON object per line, UTF-8 kept readable, stable key order."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="fail if gold/ differs from what src/ builds"
    )
    args = parser.parse_args(argv)
    try:
        built = build_all()
    except DevsetError as error:
        print(f"devset: {error}", file=sys.stderr)
        return 1
    stale = []
    for language, records in built.items():
        target = GOLD_DIR / f"{language}.jsonl"
        text = render_jsonl(records)
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(target.name)
            continue
        GOLD_DIR.mkdir(exist_ok=True)
        target.write_text(text, encoding="utf-8")
        places = sum(1 for r in records for p in r["places"] if not p["optional"])
        violence = sum(1 for r in records for v in r["violence"] if not v["optional"])
        print(f"{language}: {len(records)} stories, {places} places, {violence} violence spans")
    if stale:
        print(f"devset: stale gold files {stale}; run tests/devset/build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`wirewatch search`: stories from Elasticsearch, newest first, with places and severity."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import sys
from typing import Any

from elasticsearch import ApiError, TransportError

from streams.es import es_client
from streams.settings import Settings
from streams.tagging.core import lemma
from streams.tagging.text import normalize, tokenize

_AGE = re.compile(r"^(\d+)\s*([smhdw])$")


def parse_since(since: str) -> str:
    """'30m' / '6h' / '2d' / '1w' -> an Elasticsearch date-math lower bound ('now-6h')."""
    m = _AGE.match(since.strip().lower())
    if not m:
        raise ValueError(f"--since {since!r} is not an age; write e.g. 30m, 6h, 2d or 1w")
    return f"now-{m.group(1)}{m.group(2)}"


def _script_languages(word: str) -> tuple[str, ...]:
    if any("\u0370" <= ch <= "\u03ff" or "\u1f00" <= ch <= "\u1fff" for ch in word):
        return ("el",)
    if any("\u0400" <= ch <= "\u04ff" for ch in word):
        return ("ru", "uk")
    return ("en", "fr", "es", "de")


def query_lemmas(words: str) -> str:
    """The lemma forms of query words, as the tagging core writes them into `lemmas`."""
    out: list[str] = []
    for tok in tokenize(words):
        forms = {lemma(tok.norm, lang) for lang in _script_languages(tok.norm)} | {tok.norm}
        out.extend(sorted(forms))
    return " ".join(out)


def build_query(text: str, countries: list[str], categories: list[str], since: str | None,
                min_severity: int) -> dict[str, Any]:
    """The Elasticsearch bool query for a search (any language; Greek and Russian via lemmas)."""
    must: list[dict[str, Any]] = []
    try:
        parts = shlex.split(text) if text else []
    except ValueError:
        parts = text.split()
    for part in parts:
        if " " in part:  # a quoted phrase
            must.append({"bool": {"should": [
                {"match_phrase": {"headline": part}}, {"match_phrase": {"body": part}},
                {"match_phrase": {"lemmas": query_lemmas(part)}},
            ], "minimum_should_match": 1}})
        else:
            must.append({"bool": {"should": [
                {"match": {"headline": {"query": part, "boost": 3}}},
                {"match": {"body": part}},
                {"match": {"lemmas": {"query": query_lemmas(part), "boost": 2}}},
                {"term": {"place_names": {"value": part, "case_insensitive": True}}},
            ], "minimum_should_match": 1}})
    filters: list[dict[str, Any]] = []
    if countries:
        filters.append({"terms": {"countries": [c.upper() for c in countries]}})
    if categories:
        filters.append({"terms": {"categories": [normalize(c) for c in categories]}})
    if since:
        filters.append({"range": {"@timestamp": {"gte": parse_since(since)}}})
    if min_severity:
        filters.append({"range": {"severity": {"gte": min_severity}}})
    return {"bool": {"must": must or [{"match_all": {}}], "filter": filters}}


def format_hit(source: dict[str, Any]) -> str:
    places = ", ".join(source.get("place_names") or []) or "-"
    cats = ",".join(source.get("categories") or []) or "-"
    srcs = ",".join(source.get("sources") or []) or "-"
    return (f"{source.get('@timestamp', '')[:19]}  sev {source.get('severity', 0):>3}  "
            f"[{source.get('language', '?')}] {source.get('headline') or source.get('body', '')[:80]}\n"
            f"    places: {places} | violence: {cats} | cited: {srcs} | id: {source.get('id')}")


async def search_stories(settings: Settings, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    client = es_client(settings)
    try:
        resp = await client.search(index=settings.stories_index, query=query, size=limit,
                                   sort=[{"@timestamp": "desc"}],
                                   source_excludes=["body", "lemmas", "locations", "violence"])
    finally:
        await client.close()
    return [hit["_source"] for hit in resp["hits"]["hits"]]


def run_search(settings: Settings, text: str, countries: list[str], categories: list[str],
               since: str | None, min_severity: int, limit: int, as_json: bool) -> int:
    try:
        query = build_query(text, countries, categories, since, min_severity)
    except ValueError as err:
        print(f"wirewatch search: {err}", file=sys.stderr)
        return 2
    try:
        hits = asyncio.run(search_stories(settings, query, limit))
    except (ApiError, TransportError) as err:
        hint = ("run the worker first (`wirewatch worker`) so the index exists"
                if "index_not_found" in str(err) else
                "start the local stack (`deploy/local/stack up`) or set WIREWATCH_ES_URL")
        print(f"wirewatch search: Elasticsearch at {settings.es_url} failed: {err}; {hint}",
              file=sys.stderr)
        return 1
    for source in hits:
        print(json.dumps(source, ensure_ascii=False) if as_json else format_hit(source))
    if not as_json:
        print(f"({len(hits)} stories)")
    return 0

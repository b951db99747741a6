"""Desk rules: which tagged stories alert which desk, where alerts go, and when a desk may be paged.

The rules file is YAML (schemas/rules.schema.json describes it; deploy/rules.example.yaml shows
it). It is read once at start by `load_rules`, which checks everything and reports every problem
at once (file, desk or rule, field, what is wrong, what to write instead) in a `RulesError`.

Matching: a rule matches a story when every condition it lists holds; a list condition holds
when any of its values does. Conditions:
  countries     ISO 3166-1 alpha-2 codes; the story's tagged countries and its focus country
  places        GeoNames ids (numbers) or names (GeoNames name, or as written in the story);
                any tagged location or the focus
  within        {lat, lon, radius_km}; any tagged location or the focus lies in the circle
  categories    violence categories (as the tagging lexicon names them)
  min_severity  the story's severity (0..100) is at least this
  languages     ISO 639-1 codes; the story's main language or any language of its segments
  sources       agencies; the delivering source or any agency the story cites (any case)
  query         words over headline, body and lemmas, see `parse_query`

Destinations: every alert goes to the alerts topic. Webhooks of the desk (and of the rule) are
paged unless the desk's quiet hours or rate limit hold it back (`DeskPager`): in quiet hours only
alerts with severity >= the quiet hours' min_severity page; the rate limit allows at most
max_alerts pages per sliding window. Held-back alerts still go to the topic.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Collection, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
import yaml

from streams.records import TaggedStory
from streams.settings import Secret
from streams.tagging.text import normalize, tokenize

WebhookFormat = Literal["json", "slack"]
WEBHOOK_FORMATS: tuple[WebhookFormat, ...] = ("json", "slack")
SEVERITY_MAX = 100
RULES_VERSION = 1

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_QUIET_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s+(\S+)$")
_EARTH_RADIUS_KM = 6371.0088


class RulesError(Exception):
    """The rules file cannot be used; `.problems` lists every problem found, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = len(problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the desk rules:"
        super().__init__("\n  ".join([header, *problems]))


class QueryError(ValueError):
    """A query string that does not parse; the message says what to write instead."""


# Query language
# --------------
#   word          the word (case and accents ignored) in headline, body or lemmas
#   word*         a word starting with this prefix (at least 3 letters)
#   "two words"   these words one after the other
#   a OR b        either (OR in capitals; binds tighter than the implicit AND)
#   -word         the story must not contain it (also -"a phrase", -prefix*)
# Items are ANDed. No brackets. Example: almaty OR алматы "state of emergency" -football


@dataclass(frozen=True, slots=True)
class QueryTerm:
    """One word, prefix or phrase, as normalized tokens, and the text to look for."""

    words: tuple[str, ...]
    prefix: bool = False
    needle: str = ""  # in a haystack of space-separated normalized words

    @classmethod
    def of(cls, words: tuple[str, ...], prefix: bool = False) -> QueryTerm:
        joined = " ".join(words)
        return cls(words, prefix, f" {joined}" if prefix else f" {joined} ")


@dataclass(frozen=True, slots=True)
class QueryClause:
    """Terms joined by OR; a negated clause must not match."""

    terms: tuple[QueryTerm, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed keyword query: all clauses must hold."""

    text: str
    clauses: tuple[QueryClause, ...]

    def matches(self, haystack: str) -> bool:
        """Whether a haystack from `story_haystack` satisfies the query."""
        for clause in self.clauses:
            found = any(term.needle in haystack for term in clause.terms)
            if found == clause.negated:
                return False
        return True


_QUERY_ITEM = re.compile(r'\s*(-?)(?:"([^"]*)"|(\S+))')


def parse_query(text: str) -> Query:
    """Parse the small query language above; QueryError says what is wrong."""
    if text.count('"') % 2:
        raise QueryError('a quote is not closed; close every phrase: "shots fired"')
    items: list[tuple[bool, QueryTerm] | None] = []  # None stands for OR
    pos = 0
    while pos < len(text):
        m = _QUERY_ITEM.match(text, pos)
        if m is None:
            break
        pos = m.end()
        negated, phrase, word = m.group(1) == "-", m.group(2), m.group(3)
        if word == "OR" and not negated:
            items.append(None)
            continue
        items.append((negated, _query_term(phrase, word)))
    clauses: list[QueryClause] = []
    pending_or = False
    for item in items:
        if item is None:
            if not clauses or pending_or:
                raise QueryError("OR needs a word on each side: almaty OR алматы")
            if clauses[-1].negated:
                raise QueryError("a -negated word cannot be part of an OR; negate each: -a -b")
            pending_or = True
            continue
        negated, term = item
        if pending_or:
            if negated:
                raise QueryError("a -negated word cannot be part of an OR; negate each: -a -b")
            clauses[-1] = QueryClause((*clauses[-1].terms, term))
            pending_or = False
        else:
            clauses.append(QueryClause((term,), negated))
    if pending_or:
        raise QueryError("OR needs a word on each side: almaty OR алматы")
    if not any(not c.negated for c in clauses):
        raise QueryError("a query needs at least one word that must appear, e.g. almaty -football")
    return Query(text, tuple(clauses))


def _query_term(phrase: str | None, word: str | None) -> QueryTerm:
    if phrase is not None:
        words = tuple(t.norm for t in tokenize(phrase))
        if not words:
            raise QueryError('a phrase has no words; write words inside quotes: "shots fired"')
        return QueryTerm.of(words)
    assert word is not None
    prefix = word.endswith("*")
    words = tuple(t.norm for t in tokenize(word.rstrip("*")))
    if not words:
        raise QueryError(f"{word!r} has no letters or digits; write a word, e.g. shots")
    if prefix and (len(words) > 1 or len(words[0]) < 3):
        raise QueryError(f"prefix {word!r} is too short or not one word; write 3+ letters: shoot*")
    return QueryTerm.of(words, prefix)


def story_haystack(story: TaggedStory) -> str:
    """Normalized words of headline, body and lemmas, space-separated, for `Query.matches`."""
    parts = [
        " ".join(t.norm for t in tokenize(story.headline)),
        " ".join(t.norm for t in tokenize(story.body)),
        " ".join(normalize(story.lemmas).split()),
    ]
    # "|" is never part of a needle, so a phrase cannot run from one part into the next.
    return " " + " | ".join(parts) + " "


# Rules, desks and destinations
# -----------------------------


@dataclass(frozen=True, slots=True)
class Webhook:
    """An HTTP endpoint to page; secret signs the body (empty: the notifier's default secret)."""

    url: str
    format: WebhookFormat = "json"
    secret: Secret = field(default_factory=lambda: Secret(""))

    def __repr__(self) -> str:
        return f"Webhook(url={redacted_url(self.url)!r}, format={self.format!r})"


def redacted_url(url: str) -> str:
    """scheme://host/… : webhook paths often carry tokens (Slack), so logs show only the host."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily local-time window in which only severe alerts page (start may be after end)."""

    start: time
    end: time
    timezone: ZoneInfo
    min_severity: int
    text: str

    def active(self, at: float) -> bool:
        """Whether epoch second `at` falls in the window, in the window's timezone."""
        now = datetime.fromtimestamp(at, UTC).astimezone(self.timezone).time()
        if self.start < self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most max_alerts pages per sliding window of per_seconds."""

    max_alerts: int
    per_seconds: float


@dataclass(frozen=True, slots=True)
class Desk:
    """A team that receives alerts: its webhooks, quiet hours and rate limit."""

    name: str
    webhooks: tuple[Webhook, ...] = ()
    quiet_hours: QuietHours | None = None
    rate_limit: RateLimit | None = None


@dataclass(frozen=True, slots=True)
class Circle:
    """A radius around a point (km)."""

    lat: float
    lon: float
    radius_km: float

    def contains(self, lat: float, lon: float) -> bool:
        """Great-circle distance test (haversine)."""
        p1, p2 = math.radians(self.lat), math.radians(lat)
        dp, dl = p2 - p1, math.radians(lon - self.lon)
        a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a))) <= self.radius_km


@dataclass(frozen=True, slots=True)
class Match:
    """The conditions of a rule; empty/None ones are not checked."""

    countries: frozenset[str] = frozenset()
    place_ids: frozenset[int] = frozenset()
    place_names: frozenset[str] = frozenset()  # normalized
    within: Circle | None = None
    categories: frozenset[str] = frozenset()
    min_severity: int | None = None
    languages: frozenset[str] = frozenset()
    sources: frozenset[str] = frozenset()  # casefolded
    query: Query | None = None

    def matches(self, story: TaggedStory, haystack: _Haystack) -> bool:
        """Whether the story meets every condition (cheap ones first, the query last)."""
        if self.min_severity is not None and story.severity < self.min_severity:
            return False
        if self.categories and self.categories.isdisjoint(story.categories):
            return False
        if self.languages and story.language not in self.languages and self.languages.isdisjoint(
            story.languages
        ):
            return False
        if self.countries and not self._in_countries(story):
            return False
        if (self.place_ids or self.place_names) and not self._at_places(story):
            return False
        if self.within is not None and not self._within(story):
            return False
        if self.sources and not self._from_sources(story):
            return False
        return self.query is None or self.query.matches(haystack.get(story))

    def _in_countries(self, story: TaggedStory) -> bool:
        if not self.countries.isdisjoint(story.countries):
            return True
        return story.focus is not None and story.focus.country_code in self.countries

    def _at_places(self, story: TaggedStory) -> bool:
        places: list[Any] = list(story.locations)
        if story.focus is not None:
            places.append(story.focus)
        if self.place_ids and any(p.geonames_id in self.place_ids for p in places):
            return True
        if not self.place_names:
            return False
        names = {normalize(p.name) for p in places}
        names.update(normalize(loc.text) for loc in story.locations)
        return not self.place_names.isdisjoint(names)

    def _within(self, story: TaggedStory) -> bool:
        assert self.within is not None
        points = [(loc.lat, loc.lon) for loc in story.locations]
        if story.focus is not None:
            points.append((story.focus.lat, story.focus.lon))
        return any(self.within.contains(lat, lon) for lat, lon in points)

    def _from_sources(self, story: TaggedStory) -> bool:
        names = {story.source.casefold(), *(s.casefold() for s in story.sources)}
        return not self.sources.isdisjoint(names)


class _Haystack:
    """The query haystack of one story, built only if some rule needs it."""

    def __init__(self) -> None:
        self._story_id: str | None = None
        self._text = ""

    def get(self, story: TaggedStory) -> str:
        if self._story_id != story.id:
            self._text = story_haystack(story)
            self._story_id = story.id
        return self._text


@dataclass(frozen=True, slots=True)
class Rule:
    """A named rule of a desk: when it matches, the desk gets an alert."""

    name: str
    desk: str
    match: Match
    webhooks: tuple[Webhook, ...] = ()  # the desk's webhooks, then the rule's own

    def matches(self, story: TaggedStory) -> bool:
        """Whether this rule matches the story."""
        return self.match.matches(story, _Haystack())


@dataclass(frozen=True, slots=True)
class RuleSet:
    """All desks and rules of a rules file, in file order."""

    rules: tuple[Rule, ...]
    desks: Mapping[str, Desk]
    source: str = ""

    def matching(self, story: TaggedStory) -> list[Rule]:
        """The rules that match a story, in file order (several per desk possible)."""
        haystack = _Haystack()
        return [rule for rule in self.rules if rule.match.matches(story, haystack)]


# Paging policy
# -------------


class PageDecision(StrEnum):
    """Whether an alert pages its desk's webhooks now, or why not."""

    PAGE = "page"
    QUIET_HOURS = "quiet_hours"
    RATE_LIMIT = "rate_limit"


class DeskPager:
    """Applies a desk's quiet hours and rate limit; state is desk -> recent page times (JSON-able).

    Pass a Faust table as `store` to keep the rate limit across restarts; lists are replaced,
    never mutated in place.
    """

    def __init__(
        self, desks: Mapping[str, Desk], store: MutableMapping[str, Any] | None = None
    ) -> None:
        self.desks = desks
        self.store: MutableMapping[str, Any] = {} if store is None else store

    def decide(self, desk: str, severity: int, at: float) -> PageDecision:
        """Decide for an alert of `severity` at epoch second `at`; a PAGE counts to the limit."""
        policy = self.desks[desk]
        quiet = policy.quiet_hours
        if quiet is not None and severity < quiet.min_severity and quiet.active(at):
            return PageDecision.QUIET_HOURS
        limit = policy.rate_limit
        if limit is None:
            return PageDecision.PAGE
        recent = [t for t in self.store.get(desk, []) if t > at - limit.per_seconds]
        if len(recent) >= limit.max_alerts:
            self.store[desk] = recent
            return PageDecision.RATE_LIMIT
        self.store[desk] = [*recent, at]
        return PageDecision.PAGE


# Loading and validation
# ----------------------

_TOP_KEYS = ("version", "desks", "rules")
_DESK_KEYS = ("webhooks", "quiet_hours", "rate_limit")
_RULE_KEYS = ("name", "desk", "match", "webhooks")
_MATCH_KEYS = (
    "countries", "places", "within", "categories", "min_severity", "languages", "sources", "query",
)
_WEBHOOK_KEYS = ("url", "format", "secret", "secret_env")
_QUIET_KEYS = ("window", "min_severity")
_RATE_KEYS = ("max_alerts", "per")
_WITHIN_KEYS = ("lat", "lon", "radius_km")


def load_rules(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    known_categories: Collection[str] | None = None,
) -> RuleSet:
    """Read and check a rules file; RulesError lists every problem.

    environ: where `secret_env` names are looked up (default: the process environment).
    known_categories: the tagging lexicon's violence categories; when given, others are errors.
    """
    where = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(
            [f"{where}: cannot read the rules file ({exc.strerror}); "
             "set WIREWATCH_RULES_FILE to an existing YAML file"]
        ) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise RulesError([f"{where}: {at}not valid YAML ({problem})"]) from None
    return parse_rules(
        document,
        source=where,
        environ=os.environ if environ is None else environ,
        known_categories=known_categories,
    )


def parse_rules(
    document: object,
    *,
    source: str = "<rules>",
    environ: Mapping[str, str] | None = None,
    known_categories: Collection[str] | None = None,
) -> RuleSet:
    """Check an already-parsed rules document (see load_rules)."""
    checker = _Checker(source, environ or {}, known_categories)
    ruleset = checker.ruleset(document)
    if checker.problems:
        raise RulesError(checker.problems)
    return ruleset


class _Checker:
    """Turns a rules document into a RuleSet, collecting problems instead of stopping at one."""

    def __init__(
        self, source: str, environ: Mapping[str, str], known_categories: Collection[str] | None
    ) -> None:
        self.source = source
        self.environ = environ
        self.known_categories = (
            frozenset(known_categories) if known_categories is not None else None
        )
        self.problems: list[str] = []

    def problem(self, where: str, what: str) -> None:
        self.problems.append(f"{self.source}: {where}: {what}")

    def keys(self, where: str, value: Mapping[str, Any], allowed: Sequence[str]) -> None:
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed)}"
                self.problem(where, f"unknown field {key!r}; {hint}")

    def mapping(self, where: str, value: object, example: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.problem(where, f"must be a mapping, got {_kind(value)}; write e.g. {example}")
        return None

    def items(self, where: str, value: object, example: str, optional: bool = True) -> list[Any]:
        if isinstance(value, list) and value:
            return value
        if isinstance(value, list):
            hint = ", or leave the field out" if optional else ""
            self.problem(where, f"is an empty list; list at least one, e.g. {example}{hint}")
            return []
        self.problem(where, f"must be a list, got {_kind(value)}; write e.g. {example}")
        return []

    # document

    def ruleset(self, document: object) -> RuleSet:
        top = self.mapping("top level", document, "'desks: {...}' and 'rules: [...]'")
        if top is None:
            return RuleSet((), {}, self.source)
        self.keys("top level", top, _TOP_KEYS)
        version = top.get("version", RULES_VERSION)
        if version != RULES_VERSION:
            self.problem("version", f"{version!r} is not supported; write version: {RULES_VERSION}")
        desks: dict[str, Desk] = {}
        raw_desks = top.get("desks")
        if raw_desks is None:
            self.problem("desks", "missing; declare each desk, e.g. desks: {greece: {}}")
        else:
            desk_map = self.mapping("desks", raw_desks, "desks: {greece: {}}") or {}
            for name, body in desk_map.items():
                desk = self.desk(name, body)
                if desk is not None:
                    desks[desk.name] = desk
        names = [str(n) for n in (raw_desks or {})] if isinstance(raw_desks, Mapping) else []
        rules: list[Rule] = []
        raw_rules = top.get("rules")
        if raw_rules is None:
            self.problem("rules", "missing; add a list of rules, e.g. rules: [{name: ..., ...}]")
        else:
            seen: set[str] = set()
            bodies = self.items("rules", raw_rules, "[{name: ..., desk: ...}]", optional=False)
            for i, body in enumerate(bodies):
                rule = self.rule(i, body, desks, names, seen)
                if rule is not None:
                    rules.append(rule)
        return RuleSet(tuple(rules), desks, self.source)

    def desk(self, name: object, body: object) -> Desk | None:
        where = f"desk {name!r}"
        ok = True
        if not isinstance(name, str) or not _NAME.match(name):
            self.problem(where, f"the name must be lowercase letters, digits, - or _; "
                                f"write {_slug(str(name))!r}")
            ok = False
        fields = self.mapping(where, {} if body is None else body,
                              "{quiet_hours: ..., rate_limit: ..., webhooks: [...]}")
        if fields is None:
            return None
        self.keys(where, fields, _DESK_KEYS)
        webhooks = self.webhooks(where, fields.get("webhooks"))
        quiet = self.quiet_hours(where, fields.get("quiet_hours"))
        rate = self.rate_limit(where, fields.get("rate_limit"))
        if not ok:
            return None
        return Desk(str(name), webhooks, quiet, rate)

    def rule(
        self, index: int, body: object, desks: Mapping[str, Desk], desk_names: list[str],
        seen: set[str],
    ) -> Rule | None:
        fields = self.mapping(f"rules[{index}]", body, "{name: ..., desk: ..., match: {...}}")
        if fields is None:
            return None
        name = fields.get("name")
        if not isinstance(name, str) or not name:
            where = f"rules[{index}]"
            self.problem(where, "has no name; add name: <lowercase-words>, e.g. name: athens-riots")
            name = None
        else:
            where = f"rule {name!r}"
            if not _NAME.match(name):
                self.problem(where, f"name: use lowercase letters, digits, - or _; "
                                    f"write name: {_slug(name)}")
            if name in seen:
                self.problem(where, "name: used by an earlier rule; give each rule its own name")
            seen.add(name)
        self.keys(where, fields, _RULE_KEYS)
        desk = fields.get("desk")
        if desk is None:
            self.problem(where, "desk: missing; name the desk that gets the alerts, "
                                f"one of: {', '.join(desk_names) or '(declare one under desks:)'}")
        elif not isinstance(desk, str) or desk not in desk_names:
            close = difflib.get_close_matches(str(desk), desk_names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else "declare it under desks: first"
            self.problem(where, f"desk: {desk!r} is not a declared desk; {hint}")
        webhooks = self.webhooks(where, fields.get("webhooks"))
        match = self.match(where, fields.get("match"))
        if name is None or not isinstance(desk, str) or desk not in desks or match is None:
            return None
        return Rule(name, desk, match, (*desks[desk].webhooks, *webhooks))

    # match

    def match(self, where: str, value: object) -> Match | None:
        if value is None:
            self.problem(where, "match: missing; add conditions, e.g. match: {countries: [GR]}")
            return None
        fields = self.mapping(f"{where}: match", value, "{countries: [GR], min_severity: 40}")
        if fields is None:
            return None
        self.keys(f"{where}: match", fields, _MATCH_KEYS)
        if not any(k in fields for k in _MATCH_KEYS):
            self.problem(where, "match: has no condition; to match every story write "
                                "match: {min_severity: 0}")
            return None
        at = f"{where}: match."
        ids, names = self.places(at + "places", fields.get("places"))
        return Match(
            countries=self.countries(at + "countries", fields.get("countries")),
            place_ids=ids,
            place_names=names,
            within=self.within(at + "within", fields.get("within")),
            categories=self.categories(at + "categories", fields.get("categories")),
            min_severity=self.severity(at + "min_severity", fields.get("min_severity")),
            languages=self.languages(at + "languages", fields.get("languages")),
            sources=self.sources(at + "sources", fields.get("sources")),
            query=self.query(at + "query", fields.get("query")),
        )

    def countries(self, where: str, value: object) -> frozenset[str]:
        if value is None:
            return frozenset()
        codes: set[str] = set()
        for i, item in enumerate(self.items(where, value, "[KZ, RU, UA]")):
            here = f"{where}[{i}]"
            if isinstance(item, bool):
                # YAML 1.1 reads NO (Norway), ON, YES... as booleans.
                self.problem(here, f"{item!r} was read by YAML as a boolean; quote the code: 'NO'")
                continue
            text = str(item).strip()
            if len(text) == 2 and pycountry.countries.get(alpha_2=text.upper()) is not None:
                codes.add(text.upper())
                continue
            suggestion = _country_code(text)
            hint = f"write {suggestion}" if suggestion else "write a code such as GR, KZ, UA"
            self.problem(here, f"{item!r} is not an ISO 3166-1 alpha-2 country code; {hint}")
        return frozenset(codes)

    def places(self, where: str, value: object) -> tuple[frozenset[int], frozenset[str]]:
        if value is None:
            return frozenset(), frozenset()
        ids: set[int] = set()
        names: set[str] = set()
        for i, item in enumerate(self.items(where, value, "[1526384, Almaty]")):
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                self.problem(f"{where}[{i}]", f"{item!r} is not a GeoNames id or a place name; "
                                              "write e.g. 1526384 or Almaty")
            elif isinstance(item, int) or item.strip().isdigit():
                number = int(item)
                if number <= 0:
                    self.problem(f"{where}[{i}]", f"{item!r} is not a GeoNames id (ids are "
                                                  "positive); write e.g. 1526384")
                ids.add(number)
            elif not item.strip():
                self.problem(f"{where}[{i}]", "is empty; write a place name, e.g. Almaty")
            else:
                names.add(normalize(item.strip()))
        return frozenset(ids), frozenset(names)

    def within(self, where: str, value: object) -> Circle | None:
        if value is None:
            return None
        example = "{lat: 37.98, lon: 23.73, radius_km: 30}"
        fields = self.mapping(where, value, example)
        if fields is None:
            return None
        self.keys(where, fields, _WITHIN_KEYS)
        numbers: dict[str, float] = {}
        ranges = {
            "lat": (-90.0, 90.0, "a latitude from -90 to 90"),
            "lon": (-180.0, 180.0, "a longitude from -180 to 180"),
            "radius_km": (0.001, 20_016.0, "a radius in km above 0 (at most 20016)"),
        }
        for key, (low, high, wanted) in ranges.items():
            item = fields.get(key)
            if item is None:
                self.problem(where, f"{key}: missing; write e.g. {example}")
            elif isinstance(item, bool) or not isinstance(item, (int, float)):
                self.problem(f"{where}.{key}", f"{item!r} is not a number; write {wanted}")
            elif not low <= item <= high:
                self.problem(f"{where}.{key}", f"{item!r} is out of range; write {wanted}")
            else:
                numbers[key] = float(item)
        if len(numbers) != 3:
            return None
        return Circle(numbers["lat"], numbers["lon"], numbers["radius_km"])

    def categories(self, where: str, value: object) -> frozenset[str]:
        if value is None:
            return frozenset()
        known = self.known_categories
        found: set[str] = set()
        for i, item in enumerate(self.items(where, value, "[shooting, armed_clash]")):
            if not isinstance(item, str) or not item.strip():
                self.problem(f"{where}[{i}]", f"{item!r} is not a category name; "
                                              "write e.g. shooting")
                continue
            if known is not None and item not in known:
                close = difflib.get_close_matches(item, sorted(known), n=1)
                hint = (f"did you mean {close[0]!r}?" if close
                        else f"known: {', '.join(sorted(known))}")
                self.problem(f"{where}[{i}]", f"{item!r} is not a violence category; {hint}")
                continue
            found.add(item)
        return frozenset(found)

    def severity(self, where: str, value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEVERITY_MAX:
            self.problem(where, f"{value!r} is not a severity; write a whole number from 0 "
                                f"to {SEVERITY_MAX}, e.g. 70")
            return None
        return value

    def languages(self, where: str, value: object) -> frozenset[str]:
        if value is None:
            return frozenset()
        codes: set[str] = set()
        for i, item in enumerate(self.items(where, value, "[el, ru, en]")):
            text = str(item).strip()
            if (isinstance(item, str) and len(text) == 2
                    and pycountry.languages.get(alpha_2=text.lower()) is not None):
                codes.add(text.lower())
                continue
            suggestion = _language_code(text)
            hint = f"write {suggestion}" if suggestion else "write a code such as el, ru, en"
            self.problem(f"{where}[{i}]", f"{item!r} is not an ISO 639-1 language code; {hint}")
        return frozenset(codes)

    def sources(self, where: str, value: object) -> frozenset[str]:
        if value is None:
            return frozenset()
        names: set[str] = set()
        for i, item in enumerate(self.items(where, value, "[Reuters, TASS]")):
            if not isinstance(item, str) or not item.strip():
                self.problem(f"{where}[{i}]", f"{item!r} is not an agency name; write e.g. TASS")
                continue
            names.add(item.strip().casefold())
        return frozenset(names)

    def query(self, where: str, value: object) -> Query | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(where, f"{value!r} is not a query; write words in quotes, "
                                "e.g. query: '\"shots fired\" OR gunfire -football'")
            return None
        try:
            return parse_query(value)
        except QueryError as exc:
            self.problem(where, f"{value!r}: {exc}")
            return None

    # destinations and policies

    def webhooks(self, where: str, value: object) -> tuple[Webhook, ...]:
        if value is None:
            return ()
        hooks: list[Webhook] = []
        for i, item in enumerate(self.items(f"{where}: webhooks", value,
                                            "[{url: https://..., format: json}]")):
            here = f"{where}: webhooks[{i}]"
            fields = self.mapping(here, item, "{url: https://..., format: slack}")
            if fields is None:
                continue
            self.keys(here, fields, _WEBHOOK_KEYS)
            hook = self.webhook(here, fields)
            if hook is not None:
                hooks.append(hook)
        return tuple(hooks)

    def webhook(self, where: str, fields: Mapping[str, Any]) -> Webhook | None:
        url = fields.get("url")
        ok = True
        if not isinstance(url, str):
            self.problem(where, "url: missing; write url: https://alerts.example.org/hook")
            ok = False
        else:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                self.problem(where, f"url: {redacted_url(url)!r} is not an http(s) URL; "
                                    "write url: https://alerts.example.org/hook")
                ok = False
        fmt = fields.get("format", "json")
        if fmt not in WEBHOOK_FORMATS:
            self.problem(where, f"format: {fmt!r} is not known; write format: json or "
                                "format: slack")
            ok = False
        secret = Secret("")
        inline, env_name = fields.get("secret"), fields.get("secret_env")
        if inline is not None and env_name is not None:
            self.problem(where, "has both secret and secret_env; keep one (secret_env keeps "
                                "the secret out of the file)")
            ok = False
        elif inline is not None:
            if not isinstance(inline, str) or not inline:
                self.problem(where, "secret: must be a non-empty string; or write "
                                    "secret_env: <ENV_VAR_NAME>")
                ok = False
            else:
                secret = Secret(inline)
        elif env_name is not None:
            if not isinstance(env_name, str) or not _ENV_NAME.match(env_name):
                self.problem(where, f"secret_env: {env_name!r} is not an environment variable "
                                    "name; write e.g. secret_env: WIREWATCH_HOOK_SECRET_GREECE")
                ok = False
            elif not self.environ.get(env_name):
                self.problem(where, f"secret_env: environment variable {env_name} is not set "
                                    "or empty; export it before start, or write secret: <value>")
                ok = False
            else:
                secret = Secret(self.environ[env_name])
        if not ok:
            return None
        assert isinstance(url, str) and fmt in WEBHOOK_FORMATS
        return Webhook(url, fmt, secret)

    def quiet_hours(self, where: str, value: object) -> QuietHours | None:
        if value is None:
            return None
        here = f"{where}: quiet_hours"
        example = "{window: '22:00-06:00 Europe/Athens', min_severity: 70}"
        fields = self.mapping(here, value, example)
        if fields is None:
            return None
        self.keys(here, fields, _QUIET_KEYS)
        window = fields.get("window")
        parsed = None
        if not isinstance(window, str):
            self.problem(here, f"window: missing or not text; write e.g. {example}")
        else:
            parsed = self.quiet_window(f"{here}.window", window)
        min_severity = fields.get("min_severity")
        if min_severity is None:
            self.problem(here, "min_severity: missing; write the severity that still pages "
                               "in quiet hours, e.g. min_severity: 70")
        severity = self.severity(f"{here}.min_severity", min_severity)
        if parsed is None or severity is None or not isinstance(window, str):
            return None
        start, end, zone = parsed
        return QuietHours(start, end, zone, severity, window)

    def quiet_window(self, where: str, window: str) -> tuple[time, time, ZoneInfo] | None:
        m = _QUIET_WINDOW.match(window.strip())
        if m is None:
            self.problem(where, f"{window!r} is not HH:MM-HH:MM Area/City; "
                                "write e.g. '22:00-06:00 Europe/Athens'")
            return None
        h1, m1, h2, m2 = (int(m.group(i)) for i in range(1, 5))
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            self.problem(where, f"{window!r} has a time that does not exist; use 00:00 to 23:59")
            return None
        if (h1, m1) == (h2, m2):
            self.problem(where, f"{window!r} starts and ends at the same time; "
                                "leave quiet_hours out for none")
            return None
        try:
            zone = ZoneInfo(m.group(5))
        except (ZoneInfoNotFoundError, ValueError):
            self.problem(where, f"{m.group(5)!r} is not an IANA timezone; write e.g. "
                                "Europe/Athens, Asia/Almaty, UTC")
            return None
        return time(h1, m1), time(h2, m2), zone

    def rate_limit(self, where: str, value: object) -> RateLimit | None:
        if value is None:
            return None
        here = f"{where}: rate_limit"
        example = "{max_alerts: 20, per: 1h}"
        fields = self.mapping(here, value, example)
        if fields is None:
            return None
        self.keys(here, fields, _RATE_KEYS)
        count = fields.get("max_alerts")
        ok = True
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            self.problem(here, f"max_alerts: {count!r} is not a whole number above 0; "
                               f"write e.g. {example}")
            ok = False
        seconds = _seconds(fields.get("per"))
        if seconds is None:
            self.problem(here, f"per: {fields.get('per')!r} is not a duration; write a number "
                               "with s, m, h or d, e.g. per: 10m")
            ok = False
        if not ok:
            return None
        assert isinstance(count, int) and seconds is not None
        return RateLimit(count, seconds)


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false"}.get(
        type(value), type(value).__name__
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.casefold()).strip("-_")[:63] or "desk"


def _seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        m = _DURATION.match(value.strip())
        if m and float(m.group(1)) > 0:
            return float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    return None


def _country_code(text: str) -> str | None:
    """Alpha-2 code(s) for a country name or alpha-3 code, if pycountry can tell ("KP or KR")."""
    try:
        return str(pycountry.countries.lookup(text).alpha_2)
    except LookupError:
        pass
    try:
        found = pycountry.countries.search_fuzzy(text)
    except LookupError:
        return None
    return " or ".join(str(c.alpha_2) for c in found[:3]) or None


def _language_code(text: str) -> str | None:
    """ISO 639-1 code(s) for a language name ("Greek") or 639-2/3 code, if there is one."""
    try:
        code = getattr(pycountry.languages.lookup(text), "alpha_2", None)
    except LookupError:
        code = None
    if code is not None:
        return str(code)
    word = re.compile(rf"\b{re.escape(text.casefold())}\b")
    codes = [  # "Greek" is listed as "Modern Greek (1453-)"
        str(language.alpha_2)
        for language in pycountry.languages
        if getattr(language, "alpha_2", None) and word.search(language.name.casefold())
    ]
    return " or ".join(codes[:3]) or None


def first_rule_per_desk(rules: Iterable[Rule]) -> list[Rule]:
    """The first of the given rules for each desk: one alert per desk and story."""
    firsts: dict[str, Rule] = {}
    for rule in rules:
        firsts.setdefault(rule.desk, rule)
    return list(firsts.values())

"""Desk rules: loading and checking the YAML, matching tagged stories, quiet hours, rate limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from streams.records import FocusPlace, LocationTag, TaggedStory
from streams.rules import (
    DeskPager,
    PageDecision,
    QueryError,
    RulesError,
    first_rule_per_desk,
    load_rules,
    parse_query,
    parse_rules,
    story_haystack,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "rules.example.yaml"
SCHEMA = json.loads((ROOT / "schemas" / "rules.schema.json").read_text(encoding="utf-8"))
# The tagging lexicon's categories (tests/devset/build.py lists the same).
CATEGORIES = {
    "killing", "shooting", "explosion", "armed_clash", "assault", "riot_unrest", "arson",
    "storming", "security_crackdown", "kidnapping", "terrorism",
}


def place(name: str, gid: int | None, cc: str, lat: float, lon: float, kind: str = "city",
          text: str | None = None) -> LocationTag:
    return LocationTag(text=text or name, start=0, end=len(text or name), name=name,
                       country_code=cc, geonames_id=gid, lat=lat, lon=lon, kind=kind)


def focus_of(loc: LocationTag) -> FocusPlace:
    return FocusPlace(name=loc.name, country_code=loc.country_code, geonames_id=loc.geonames_id,
                      lat=loc.lat, lon=loc.lon, kind=loc.kind)


ALMATY = place("Almaty", 1526384, "KZ", 43.25249, 76.9115)
ALMATY_EL = place("Almaty", 1526384, "KZ", 43.25249, 76.9115, text="Αλμάτι")
ASTANA_RU = place("Astana", 1526273, "KZ", 51.1801, 71.44598, text="Астане")
KYIV = place("Kyiv", 703448, "UA", 50.45466, 30.5238)
MOSCOW = place("Moscow", 524901, "RU", 55.75204, 37.61781)
ATHENS = place("Athens", 264371, "GR", 37.98376, 23.72784, text="Αθήνα")
PIRAEUS = place("Piraeus", 255274, "GR", 37.94745, 23.63708, text="Πειραιά")
THESSALONIKI = place("Thessaloníki", 734077, "GR", 40.64072, 22.93493, text="Thessaloniki")


def story(
    *, id: str = "s1", headline: str = "", body: str = "", language: str = "en",
    languages: list[str] | None = None, source: str = "Reuters", sources: list[str] | None = None,
    locations: list[LocationTag] | None = None, focus: FocusPlace | None = None,
    categories: list[str] | None = None, severity: int = 0, lemmas: str = "",
) -> TaggedStory:
    locs = locations or []
    countries = sorted({loc.country_code for loc in locs})
    return TaggedStory(
        id=id, body=body, headline=headline, language=language,
        languages=languages or [language], source=source, url="", published_at=None,
        received_at=0.0, tagged_at=0.0, locations=locs, focus=focus, violence=[],
        categories=categories or [], countries=countries, severity=severity, killed=0,
        injured=0, sources=sources or [], lemmas=lemmas, fingerprint=[],
    )


@pytest.fixture(scope="module")
def example_rules() -> Any:
    # No environment: the worker falls back to this file when no rules file is configured.
    return load_rules(EXAMPLE, environ={}, known_categories=CATEGORIES)


# --- the example file ------------------------------------------------------------------------


def test_example_file_loads_and_follows_the_schema(example_rules: Any) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), SCHEMA)
    assert [r.name for r in example_rules.rules] == [
        "eurasia-violence", "almaty-any-violence", "greece-violence", "athens-molotov",
        "greek-press-on-kazakhstan", "high-severity-anywhere",
    ]
    assert sorted(example_rules.desks) == ["eurasia", "global", "greece"]
    eurasia = example_rules.desks["eurasia"]
    assert eurasia.quiet_hours.min_severity == 60
    assert (eurasia.rate_limit.max_alerts, eurasia.rate_limit.per_seconds) == (20, 3600.0)
    kz_rule = example_rules.rules[4]
    assert [(h.format, h.url.split("/")[2]) for h in kz_rule.webhooks] == [
        ("slack", "hooks.slack.com"), ("json", "newsroom.example.gr"),  # the desk's, the rule's
    ]


def test_webhook_secrets_come_from_the_environment_and_stay_out_of_logs() -> None:
    doc = {
        "desks": {"greece": {"webhooks": [
            {"url": "https://hooks.slack.com/services/T0/B1111111/XYZ", "format": "slack"},
            {"url": "https://newsroom.example.gr/hook", "secret_env": "HOOK_KEY_GREECE"},
            {"url": "https://backup.example.gr/hook", "secret": "inline-key"},
        ]}},
        "rules": [{"name": "gr", "desk": "greece", "match": {"countries": ["GR"]}}],
    }
    rule = parse_rules(doc, environ={"HOOK_KEY_GREECE": "greece-secret"}).rules[0]
    assert [h.secret.reveal() for h in rule.webhooks] == ["", "greece-secret", "inline-key"]
    shown = repr(rule)
    assert "greece-secret" not in shown and "inline-key" not in shown
    assert "B1111111" not in shown  # a Slack hook's path is its secret too


MATCH_TABLE = [
    (
        "Reuters on Almaty, severe",
        story(headline="Shots heard in Almaty as troops move on protesters", locations=[ALMATY],
              focus=focus_of(ALMATY), categories=["shooting", "storming"], severity=75),
        ["eurasia-violence", "almaty-any-violence", "high-severity-anywhere"],
    ),
    (
        "ANA-MPA in Greek on Almaty, citing Interfax, Reuters and TASS",
        story(headline='Η αστυνομία της Αλμάτι ανακοινώνει ότι δεκάδες ταραξίες "εξαλείφθηκαν"',
              language="el", languages=["el", "en"], source="ANA-MPA",
              sources=["Interfax", "Reuters", "TASS"], locations=[ALMATY_EL],
              focus=focus_of(ALMATY_EL), categories=["killing", "shooting"], severity=65),
        ["eurasia-violence", "almaty-any-violence", "greek-press-on-kazakhstan"],
    ),
    (
        "Moscow, a scuffle of low severity",
        story(headline="Драка у метро", language="ru", locations=[MOSCOW], focus=focus_of(MOSCOW),
              categories=["assault"], severity=20),
        [],
    ),
    (
        "Kyiv missile strike",
        story(headline="Missile strike on Kyiv kills 12", locations=[KYIV], focus=focus_of(KYIV),
              categories=["explosion", "killing"], severity=90),
        ["eurasia-violence", "high-severity-anywhere"],
    ),
    (
        "Astana by the name written in Russian, no focus",
        story(headline="Задержания в Астане", language="ru", locations=[ASTANA_RU],
              categories=["security_crackdown"], severity=10),
        ["almaty-any-violence"],
    ),
    (
        "Exarchia: petrol bombs in Greek, inside the Athens circle",
        story(headline="Επεισόδια στα Εξάρχεια",
              body="Βόμβες μολότοφ πετάχτηκαν εναντίον διμοιρίας των ΜΑΤ στην Αθήνα.",
              language="el", source="ANA-MPA", locations=[ATHENS], focus=focus_of(ATHENS),
              categories=["arson", "riot_unrest"], severity=45),
        ["greece-violence", "athens-molotov"],
    ),
    (
        "Piraeus: molotovs after a football derby (negated)",
        story(headline="Επεισόδια μετά το ντέρμπι στον Πειραιά",
              body="Οπαδοί πέταξαν μολότοφ μετά τον αγώνα ποδοσφαίρου. Το ποδόσφαιρο ξανά στο "
                   "επίκεντρο.",
              language="el", locations=[PIRAEUS], focus=focus_of(PIRAEUS),
              categories=["riot_unrest"], severity=35),
        ["greece-violence"],
    ),
    (
        "Thessaloniki: petrol bombs, outside the Athens circle",
        story(headline="Petrol bombs thrown at police in Thessaloniki",
              locations=[THESSALONIKI], focus=focus_of(THESSALONIKI), categories=["arson"],
              severity=40),
        ["greece-violence"],
    ),
]


@pytest.mark.parametrize(
    ("case", "tagged", "expected"), MATCH_TABLE, ids=[c[0] for c in MATCH_TABLE]
)
def test_example_rules_match(
    example_rules: Any, case: str, tagged: TaggedStory, expected: list[str]
) -> None:
    assert [r.name for r in example_rules.matching(tagged)] == expected


def test_first_rule_per_desk(example_rules: Any) -> None:
    matched = example_rules.matching(MATCH_TABLE[1][1])
    assert [(r.desk, r.name) for r in first_rule_per_desk(matched)] == [
        ("eurasia", "eurasia-violence"), ("greece", "greek-press-on-kazakhstan"),
    ]


# --- query language --------------------------------------------------------------------------


QUERY_TABLE = [
    # query, headline, body, lemmas, matches
    ('"shots fired"', "Shots fired in Almaty", "", "", True),
    ('"shots fired"', "Shots were fired in Almaty", "", "", False),
    ('"shots fired"', "Almaty: shots", "Fired by troops", "", False),  # not across headline/body
    ("shoot", "Police shot two men", "", "police shoot two man", True),  # via lemmas
    ("обстрел*", "", "Боевики обстреляли блокпост под Донецком", "", True),
    ("обстрел*", "", "Боевики атаковали блокпост", "", False),
    ("Αλμάτι", "", "Η ΑΣΤΥΝΟΜΙΑ ΤΗΣ ΑΛΜΑΤΙ ανακοίνωσε", "", True),  # case and accents
    ("ταραξ*", "", 'δεκάδες ταραξίες "εξαλείφθηκαν"', "", True),
    ("almaty OR алматы", "", "В Алматы слышны выстрелы", "", True),
    ("almaty OR алматы", "", "В Астане спокойно", "", False),
    ("almaty -football", "", "Kairat Almaty football club", "", False),
    ("almaty -football", "", "Shots heard in Almaty", "", True),
    ('kazakhstan "state of emergency"', "", "Kazakhstan declared a state of emergency", "", True),
    ('kazakhstan "state of emergency"', "", "Kazakhstan: emergency state", "", False),
    ("алма-ат*", "", "Беспорядки в Алма-Ате", "", True),
]


@pytest.mark.parametrize(("query", "headline", "body", "lemmas", "expected"), QUERY_TABLE)
def test_query_matches(query: str, headline: str, body: str, lemmas: str, expected: bool) -> None:
    tagged = story(headline=headline, body=body, lemmas=lemmas)
    assert parse_query(query).matches(story_haystack(tagged)) is expected


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ('"shots fired', "a quote is not closed"),
        ("OR almaty", "OR needs a word on each side"),
        ("almaty OR", "OR needs a word on each side"),
        ("almaty OR OR алматы", "OR needs a word on each side"),
        ("-football", "at least one word that must appear"),
        ("-football OR almaty", "cannot be part of an OR"),
        ("almaty OR -football", "cannot be part of an OR"),
        ("sh*", "too short"),
        ('""', "a phrase has no words"),
        ("+++", "has no letters or digits"),
    ],
)
def test_query_errors(query: str, complaint: str) -> None:
    with pytest.raises(QueryError, match=complaint):
        parse_query(query)


# --- checking the file -----------------------------------------------------------------------

BAD_RULES = """\
version: 1
desks:
  eurasia:
    quiet_hours: {window: "22:00-06:00 Europe/Athen", min_severity: 60}
    rate_limit: {max_alerts: 5, per: ten minutes}
    webhooks:
      - {url: "https://desk.example.org/hook", secret_env: HOOK_SECRET_MISSING}
      - {url: "https://desk.example.org/teams", format: teams}
  Greece Desk: {}
rules:
  - name: kz-watch
    desk: eurasia
    match:
      countries: [Kazakhstan, NO]
      languages: [Greek]
      contries: [KZ]
  - name: typo-desk
    desk: eurasa
    match: {min_severity: 40}
  - name: loud
    desk: eurasia
    match:
      min_severity: 150
      within: {lat: 95, lon: 23.7, radius_km: 10}
      categories: [shootings]
  - name: loud
    desk: eurasia
    match: {}
  - name: bad-query
    desk: eurasia
    match: {query: '"shots fired'}
"""

BAD_RULES_PROBLEMS = [
    "desk 'eurasia': webhooks[0]: secret_env: environment variable HOOK_SECRET_MISSING is not "
    "set or empty; export it before start, or write secret: <value>",
    "desk 'eurasia': webhooks[1]: format: 'teams' is not known; write format: json or "
    "format: slack",
    "desk 'eurasia': quiet_hours.window: 'Europe/Athen' is not an IANA timezone; write e.g. "
    "Europe/Athens, Asia/Almaty, UTC",
    "desk 'eurasia': rate_limit: per: 'ten minutes' is not a duration; write a number with s, m, "
    "h or d, e.g. per: 10m",
    "desk 'Greece Desk': the name must be lowercase letters, digits, - or _; write 'greece-desk'",
    "rule 'kz-watch': match: unknown field 'contries'; did you mean 'countries'?",
    "rule 'kz-watch': match.countries[0]: 'Kazakhstan' is not an ISO 3166-1 alpha-2 country "
    "code; write KZ",
    "rule 'kz-watch': match.countries[1]: False was read by YAML as a boolean; quote the code: "
    "'NO'",
    "rule 'kz-watch': match.languages[0]: 'Greek' is not an ISO 639-1 language code; write el",
    "rule 'typo-desk': desk: 'eurasa' is not a declared desk; did you mean 'eurasia'?",
    "rule 'loud': match.within.lat: 95 is out of range; write a latitude from -90 to 90",
    "rule 'loud': match.categories[0]: 'shootings' is not a violence category; did you mean "
    "'shooting'?",
    "rule 'loud': match.min_severity: 150 is not a severity; write a whole number from 0 to 100, "
    "e.g. 70",
    "rule 'loud': name: used by an earlier rule; give each rule its own name",
    "rule 'loud': match: has no condition; to match every story write match: {min_severity: 0}",
    "rule 'bad-query': match.query: '\"shots fired': a quote is not closed; close every phrase: "
    '"shots fired"',
]


def test_every_problem_is_reported_with_file_rule_field_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BAD_RULES, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path, environ={}, known_categories=CATEGORIES)
    problems = caught.value.problems
    assert sorted(problems) == sorted(f"{path}: {p}" for p in BAD_RULES_PROBLEMS)
    assert str(caught.value).startswith(f"{len(BAD_RULES_PROBLEMS)} problems in the desk rules:")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("desks: {a: {}}\nrules:\n  - name: x\n    desk: a\n     match: {}\n",
         "line 5, column 11: not valid YAML (mapping values are not allowed here)"),
        ("- just\n- a list\n", "top level: must be a mapping, got a list"),
        ("desks: {a: {}}\n", "rules: missing"),
        ("desks: {a: {}}\nrules: []\n", "rules: is an empty list; list at least one"),
        ("version: 2\ndesks: {a: {}}\nrules: [{name: x, desk: a, match: {min_severity: 1}}]\n",
         "version: 2 is not supported; write version: 1"),
        ("desks: {a: {}}\nrules: [{name: X Y, desk: a, match: {min_severity: 1}}]\n",
         "rule 'X Y': name: use lowercase letters, digits, - or _; write name: x-y"),
        ("desks: {a: {quiet_hours: {window: '25:00-06:00 UTC', min_severity: 50}}}\n"
         "rules: [{name: x, desk: a, match: {min_severity: 1}}]\n",
         "has a time that does not exist"),
        ("desks: {a: {webhooks: [{url: 'ftp://x.org/h'}]}}\n"
         "rules: [{name: x, desk: a, match: {min_severity: 1}}]\n",
         "is not an http(s) URL"),
        ("desks: {a: {webhooks: [{url: 'https://x.org/h', secret: s, secret_env: S}]}}\n"
         "rules: [{name: x, desk: a, match: {min_severity: 1}}]\n",
         "has both secret and secret_env; keep one"),
        ("desks: {a: {}}\nrules: [{name: x, desk: a, match: {places: [0, '']}}]\n",
         "match.places[0]: 0 is not a GeoNames id"),
    ],
)
def test_single_problems(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path, environ={})
    assert any(problem in p and p.startswith(f"{path}: ") for p in caught.value.problems), (
        caught.value.problems
    )


def test_missing_file_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read the rules file"):
        load_rules(tmp_path / "nope.yaml")


def test_without_known_categories_any_name_is_accepted() -> None:
    doc = {"desks": {"a": None}, "rules": [
        {"name": "x", "desk": "a", "match": {"categories": ["piracy"]}}]}
    assert parse_rules(doc).rules[0].match.categories == frozenset({"piracy"})


# One valid value per `match` field: the schema and the loader must both accept each alone.
MATCH_SAMPLES: dict[str, Any] = {
    "countries": ["KZ", "gr"],
    "places": [1526384, "Almaty"],
    "within": {"lat": 37.98, "lon": 23.73, "radius_km": 30},
    "categories": ["shooting"],
    "min_severity": 0,
    "languages": ["el", "RU"],
    "sources": ["TASS"],
    "query": '"shots fired" OR gunfire',
}


def test_schema_and_loader_know_the_same_match_fields() -> None:
    assert set(SCHEMA["$defs"]["match"]["properties"]) == set(MATCH_SAMPLES)
    for key, value in MATCH_SAMPLES.items():
        doc = {"desks": {"a": {}}, "rules": [{"name": "x", "desk": "a", "match": {key: value}}]}
        jsonschema.validate(doc, SCHEMA)
        assert parse_rules(doc).rules[0].name == "x"


@pytest.mark.parametrize(
    "doc",
    [
        {"desks": {"a": {}}, "rules": [{"name": "x", "desk": "a", "match": {"county": ["KZ"]}}]},
        {"desks": {"a": {}}, "rules": [{"name": "x", "desk": "a", "match": {}}]},
        {"desks": {"a": {}}, "rules": [{"name": "x", "desk": "a"}]},
        {"desks": {"a": {"rate_limit": {"max_alerts": 0, "per": "1h"}}},
         "rules": [{"name": "x", "desk": "a", "match": {"min_severity": 1}}]},
        {"desks": {"a": {"quiet_hours": {"window": "22-06 UTC", "min_severity": 1}}},
         "rules": [{"name": "x", "desk": "a", "match": {"min_severity": 1}}]},
        {"desks": {"a": {"webhooks": [{"url": "https://x.org", "format": "xml"}]}},
         "rules": [{"name": "x", "desk": "a", "match": {"min_severity": 1}}]},
        {"desks": {"a": {}}, "rules": [{"name": "x", "desk": "a",
                                        "match": {"within": {"lat": 1, "lon": 2}}}]},
    ],
)
def test_schema_and_loader_reject_the_same_documents(doc: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)
    with pytest.raises(RulesError):
        parse_rules(doc)


# --- quiet hours and rate limits -------------------------------------------------------------


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("window", "utc", "active"),
    [
        ("22:00-06:00 Europe/Athens", "2022-01-06T03:30:00", True),  # 05:30 EET
        ("22:00-06:00 Europe/Athens", "2022-01-06T04:30:00", False),  # 06:30 EET
        ("22:00-06:00 Europe/Athens", "2022-01-05T19:59:00", False),  # 21:59 EET
        ("22:00-06:00 Europe/Athens", "2022-01-05T20:00:00", True),  # 22:00 EET
        ("22:00-06:00 Europe/Athens", "2022-07-06T02:30:00", True),  # 05:30 EEST
        ("22:00-06:00 Europe/Athens", "2022-07-06T03:30:00", False),  # 06:30 EEST
        ("23:00-07:00 Asia/Almaty", "2022-01-05T17:30:00", True),  # 23:30 in Almaty (UTC+6)
        ("09:00-17:00 UTC", "2022-01-05T08:59:59", False),
        ("09:00-17:00 UTC", "2022-01-05T09:00:00", True),
        ("09:00-17:00 UTC", "2022-01-05T17:00:00", False),
    ],
)
def test_quiet_hours_follow_the_local_clock(window: str, utc: str, active: bool) -> None:
    doc = {"desks": {"a": {"quiet_hours": {"window": window, "min_severity": 70}}},
           "rules": [{"name": "x", "desk": "a", "match": {"min_severity": 0}}]}
    quiet = parse_rules(doc).desks["a"].quiet_hours
    assert quiet is not None and quiet.active(epoch(utc)) is active


def test_pager_applies_quiet_hours_then_the_rate_limit() -> None:
    doc = {
        "desks": {"greece": {"quiet_hours": {"window": "22:00-06:00 Europe/Athens",
                                             "min_severity": 70},
                             "rate_limit": {"max_alerts": 2, "per": "10m"}}},
        "rules": [{"name": "x", "desk": "greece", "match": {"min_severity": 0}}],
    }
    pager = DeskPager(parse_rules(doc).desks)
    night, day = epoch("2022-01-06T01:00:00"), epoch("2022-01-06T10:00:00")
    steps = [
        # (seconds after, base, severity, decision)
        (0, night, 40, PageDecision.QUIET_HOURS),  # held back: does not use up the limit
        (10, night, 85, PageDecision.PAGE),
        (0, day, 40, PageDecision.PAGE),
        (60, day, 50, PageDecision.PAGE),
        (120, day, 90, PageDecision.RATE_LIMIT),  # 2 pages in the last 10 minutes already
        (599, day, 30, PageDecision.RATE_LIMIT),
        (601, day, 30, PageDecision.PAGE),  # the first day page has left the window
    ]
    got = [pager.decide("greece", sev, base + offset) for offset, base, sev, _ in steps]
    assert got == [decision for *_, decision in steps]
    assert json.loads(json.dumps(dict(pager.store))) == {
        "greece": [day + 60, day + 601]
    }

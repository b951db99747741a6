"""Toponyms in a story resolved to GeoNames places, and the story's focus country.

How a name becomes a place mention:
- Candidates are runs of capitalized tokens (plus connectors: "Bosnia and Herzegovina"), tried
  longest first against the gazetteer by normalized name, then by stemmed name for Greek and
  Cyrillic ("Ρωσίας", "Москве", "Україні"), then without an English possessive ("Russia's").
  Hashtags count even in lower case (#almaty); CamelCase hashtags are split (#KazakhstanProtests
  names Kazakhstan).
- Never places: words on the "never" list (news agencies such as Reuters, TASS, Sputnik,
  Interfax; institutions; politicians), demonyms and country adjectives ("Russian news agency",
  "ρωσικό πρακτορείο", "Kazakh police"), first names followed by a surname ("Vladimir Putin"),
  club and newspaper names ("Real Madrid", "Washington Post").
- Evidence: countries, admin-1 regions and towns of 15,000+ whose name is not a common word
  need only a capital letter (or a hashtag). Names that are also common words ("Nice", "Split",
  "Reading", "Mobile", "Δράμα", "Орёл") and small towns need more: not at a sentence start or in
  a title-case headline, and in Latin script a cue word before them ("in Nice", "near Split") or
  a qualifier after them ("Mobile, Alabama"); a span proposed by an NER model is enough alone,
  and so is a dateline ("Суми, 13 квітня."). Country names on the "weak_name" list ("Того")
  need the same evidence.
- Resolution: a qualifier wins ("Paris, Texas"); a country beats a town of the same name; a
  region beats a country only when the story places itself in the region's country and not in
  that country ("Georgia" with "Atlanta" is the US state); otherwise the largest population,
  raised for candidates in a country or region the rest of the story is anchored in.

Story focus (story_focus): the country with the highest weight, where each mention adds 1 to its
country (a town or region counts for the country that contains it) and mentions in the first
300 characters (headline and lead) add 1 more; ties go to the country mentioned first. Demonyms
do not add to the focus.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from streams.tagging.gazetteer import (
    Gazetteer,
    country_places,
    fold,
    greek_sound_key,
    name_key,
    read_rows,
    stem,
    text_stem_options,
)
from streams.tagging.model import LocationMention, Place, Segment
from streams.tagging.text import bmp_pattern, is_bmp, normalize
from streams.tagging.text import words as text_words

_TOKEN = re.compile(r"\w+(?:['’\-]\w+)*", re.UNICODE)
_CAMEL_PART = re.compile(r"[A-ZÀ-ÖØ-ÞΑ-ΩΆ-ΏА-ЯЁІЇЄҐ][a-zß-öø-ÿα-ωά-ώа-яёіїєґ]+|[A-Z]{2,}(?![a-z])")
# Lower-case words allowed inside a multi-word name.
_CONNECTORS = frozenset(
    "of and on upon de del la le el al am an da do dos das di du des der den y e et "
    "и на над под και της του των".split()
)
_SENTENCE_BREAK = frozenset(".!?\n:;•|—–")
_OPENERS = frozenset(" \t\"'“”«»‘’([{-*")
_POSSESSIVE = ("'s", "’s")
_NAME_GAPS = frozenset((" ", ".", ". ", "-", " - ", "‐", "\u00a0"))
_LIST_GLUE = frozenset((", ", " and ", " & ", " or ", " и ", " или ", " і ", " та ", " й ",
                        " και ", " ή ", " y ", " et ", " und "))
# A name this strong needs only a capital letter (below it: the cue/qualifier rules).
STRONG_POPULATION = 15_000
# Hashtag parts of CamelCase tags must name a country, a region or a city this large.
HASHTAG_PART_POPULATION = 100_000
# A town this large and this much larger than its namesakes anchors the story by itself.
ANCHOR_POPULATION = 1_000_000
ANCHOR_RATIO = 30
# A town this large quoted as a speaker ("Washington said") is metonymy, not a person.
SPEAKER_TOWN_POPULATION = 500_000
# A town found only by the sound of its Greek spelling needs this population, or context.
SOUND_ALONE_POPULATION = 200_000
# Mentions starting before this offset are in the headline or lead.
LEAD_CHARS = 300
MAX_NAME_TOKENS = 6
_WORD_CACHE_SIZE = 200_000
# Runs of names, name lookups and candidate sets remembered before their caches start over.
_RUN_CACHE_SIZE = 50_000
_NOTHING, _DEMONYM, _NAME, _DEMONYM_OR_NAME, _SOUNDS_LIKE = 0, 1, 2, 3, 4
# Stand-in population score of a region competing with towns of the same name.
_ADMIN_BASE = math.log10(200_000)
_COUNTRY_BASE = 6.5


# What PlaceTagger.name_at found: (candidates, key, last word - first word, characters cut off
# the end, found by stems).
_NameFound = tuple[tuple[int, ...], str, int, int, bool]
_NO_NAME_FOUND: _NameFound = ((), "", 0, 0, False)
# What the words of a run say at one of its words before context is read: (what to do, the
# country of a demonym that names no place, the name found). What to do is one of:
_NO_NAME, _NAME_FOUND, _SOUND_ONLY, _DEMONYM_ONLY, _HASHTAG_PARTS = range(5)
_Outcome = tuple[int, str, _NameFound]


@dataclass(slots=True)
class _Match:
    """A name found in the text and its candidate places."""

    start: int
    end: int
    ids: tuple[int, ...]
    first_token: int
    last_token: int
    evidence: bool = False  # cue word, qualifier or NER span seen
    qualifier_ids: tuple[int, ...] = ()
    chosen: int = -1
    anchor_countries: tuple[str, ...] = field(default=())
    anchor_weight: float = 0.0
    wants_region: bool = False  # "state of Georgia", "штат Джорджия"
    first_start: int = -1  # offset of the token the name was found at
    by_sound: bool = False  # found through a Greek spelling's sound ("Καντούνα")


@dataclass(slots=True)
class _Lists:
    """Word lists from places_stopwords.tsv and places_demonyms.tsv (normalized)."""

    never: frozenset[str]
    cues: frozenset[str]
    person_next: frozenset[str]
    org_next: frozenset[str]
    org_prev: frozenset[str]
    region_cues: frozenset[str]
    place_next: frozenset[str]
    speech: frozenset[str]
    region_words: frozenset[str]
    weak_names: frozenset[str]
    demonyms: dict[str, str]

    @classmethod
    def load(cls) -> _Lists:
        kinds: dict[str, set[str]] = {}
        for kind, _language, words in read_rows("places_stopwords.tsv"):
            kinds.setdefault(kind, set()).update(normalize(w) for w in words.split())
        demonyms: dict[str, str] = {}
        for country, _language, forms in read_rows("places_demonyms.tsv"):
            for form in forms.split():
                key = normalize(form)
                demonyms[key] = country
                demonyms.setdefault(stem(key), country)
        return cls(
            never=frozenset(kinds.get("never", ())),
            cues=frozenset(kinds.get("cue", ())),
            person_next=frozenset(kinds.get("person_next", ())),
            org_next=frozenset(kinds.get("org_next", ())),
            org_prev=frozenset(kinds.get("org_prev", ())),
            region_cues=frozenset(kinds.get("region_cue", ())),
            place_next=frozenset(kinds.get("place_next", ())),
            speech=frozenset(kinds.get("speech", ())),
            region_words=frozenset(kinds.get("region_word", ())),
            weak_names=frozenset(kinds.get("weak_name", ())),
            demonyms=demonyms,
        )


class PlaceTagger:
    """Finds toponyms in a story and resolves each to one GeoNames place."""

    def __init__(self, gazetteer: Gazetteer) -> None:
        self._gazetteer = gazetteer
        self._lists = _Lists.load()
        table = gazetteer.places
        self._kinds = table.kinds
        self._populations = table.populations
        self._countries = table.country_codes
        self._admins = table.admin_codes
        # a run may end on a lower-case region word: "Belgorod region", "Донецкой области"
        region_words = "|".join(sorted(map(re.escape, self._lists.region_words), key=len,
                                       reverse=True))
        self._run = re.compile(_RUN_PATTERN + r"(?: (?:" + region_words + r")(?!\w))?")
        self._bmp_run = re.compile(bmp_pattern(self._run.pattern))  # the same on BMP text
        speech = "|".join(sorted(map(re.escape, self._lists.speech)))
        # "Henderson said", "Песков заявил": the capitalized word is a person in this story.
        self._speaker = re.compile(r"(?<!\w)(" + _UPPER + r"\w+) (?:" + speech + r")(?!\w)")
        # Verbs of saying that are plain words are looked up after each run of names instead
        # (the same finds as _speaker, without a pass of that pattern over the whole story).
        self._speech_words = frozenset(self._lists.speech)
        self._speech_by_runs = all(_WORD_RUN.fullmatch(w) for w in self._speech_words)
        # Facts about a set of candidate places: (any not a town, any region, any country,
        # largest population).
        self._id_facts: dict[tuple[int, ...], tuple[bool, bool, bool, int]] = {}
        self._weighted_anchors: dict[tuple[int, ...], tuple[int, float]] = {}
        self._names_at: dict[tuple[tuple[str, ...], bool, bool], _NameFound] = {}
        self._word_forms: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self._word_roles: dict[str, int] = {}
        self._runs: dict[str, _RunWords] = {}
        self._qualifiers: dict[str, tuple[int, ...]] = {}

    def word_role(self, word: str) -> int:
        """What a capitalized word can do: 0 nothing, 1 demonym, 2 start a place name."""
        role = self._word_roles.get(word)
        if role is None:
            if len(self._word_roles) >= _WORD_CACHE_SIZE:
                self._word_roles.clear()
            normalized, stemmed, inflections = self.word_form(word)
            lists, gazetteer = self._lists, self._gazetteer
            if normalized in lists.never:
                role = _NOTHING
            elif normalized in lists.demonyms or stemmed in lists.demonyms:
                # "British Columbia", "Czech Republic": a demonym may start a longer name
                role = _DEMONYM_OR_NAME if normalized in gazetteer.first_words else _DEMONYM
            elif (normalized in gazetteer.first_words
                  or any(form in gazetteer.first_stems for form in inflections)
                  or (normalized.endswith(_POSSESSIVE)
                      and normalized[:-2] in gazetteer.first_words)):
                role = _NAME
            elif _is_greek(normalized) and len(normalized) >= 4 and any(
                    greek_sound_key(form) in gazetteer.first_sounds
                    for form in _greek_bare_forms(normalized)):
                role = _SOUNDS_LIKE
            else:
                role = _NOTHING
            self._word_roles[word] = role
        return role

    def word_form(self, word: str) -> tuple[str, str, tuple[str, ...]]:
        """Normalized form, stem and inflection keys of a word, memoized."""
        forms = self._word_forms.get(word)
        if forms is None:
            if len(self._word_forms) >= _WORD_CACHE_SIZE:
                self._word_forms.clear()
            normalized = fold(word)
            options = text_stem_options(normalized)
            if options:
                options = (*options, f"{normalized}/=")
            forms = (normalized, stem(normalized), options)
            self._word_forms[word] = forms
        return forms

    def run_words(self, run: str) -> _RunWords:
        """The words of a run of capitalized words with their offsets, forms and roles, memoized
        (most runs, "The", "Reuters", "Kazakhstan", recur from story to story)."""
        found = self._runs.get(run)
        if found is None:
            if len(self._runs) >= _RUN_CACHE_SIZE:
                self._runs.clear()
            starts: list[int] = []
            ends: list[int] = []
            words: list[str] = []
            for token in _TOKEN.finditer(run):
                starts.append(token.start())
                ends.append(token.end())
                words.append(token.group())
            forms = [self.word_form(w) for w in words]
            roles = tuple(self.word_role(w) for w in words)
            last = _LAST_WORD_RUN.search(run)
            speaker = last.group() if last and _SPEAKER_NAME.fullmatch(last.group()) else ""
            whole = last is not None and last.start() == 0  # the name may go on before the run
            found = _RunWords(
                tuple(starts), tuple(ends), tuple(words), tuple(f[0] for f in forms),
                tuple(f[1] for f in forms), tuple(f[2] for f in forms), roles,
                max(roles, default=_NOTHING), _DEMONYM in roles, speaker, whole,
            )
            self._runs[run] = found
        return found

    def qualifier_ids(self, run: str) -> tuple[int, ...]:
        """The regions or countries a run of capitalized words after a name names, longest
        name first ("Texas" in "Paris, Texas"), memoized; () when it names none."""
        found = self._qualifiers.get(run)
        if found is None:
            if len(self._qualifiers) >= _RUN_CACHE_SIZE:
                self._qualifiers.clear()
            gazetteer, kinds = self._gazetteer, self._kinds
            names = [self.word_form(w)[0] for w in _TOKEN.findall(run)]
            found = ()
            for size in range(min(len(names), 3), 0, -1):
                key = " ".join(names[:size])
                ids = gazetteer.ids(key) or gazetteer.inflected_ids(names[:size])
                found = tuple(k for k in ids if kinds[k] != "city")
                if found:
                    break
            self._qualifiers[run] = found
        return found

    def id_facts(self, ids: tuple[int, ...]) -> tuple[bool, bool, bool, int]:
        """(any not a town, any region, any country, largest population) of candidates."""
        facts = self._id_facts.get(ids)
        if facts is None:
            if len(self._id_facts) >= _RUN_CACHE_SIZE:
                self._id_facts.clear()
            kinds = self._kinds
            facts = (
                any(kinds[k] != "city" for k in ids),
                any(kinds[k] == "admin" for k in ids),
                any(kinds[k] == "country" for k in ids),
                max(self._populations[k] for k in ids),
            )
            self._id_facts[ids] = facts
        return facts

    def tag(
        self,
        text: str,
        segments: Sequence[Segment],
        proposed_spans: Sequence[tuple[int, int]] = (),
    ) -> list[LocationMention]:
        """Place mentions in text, in order; proposed_spans are optional NER place spans."""
        if not text:
            return []
        scan = _Scan(text, self, proposed_spans)
        matches = scan.run()
        if not matches:
            return []
        self._resolve(matches, scan.demonym_countries, segments)
        places = self._gazetteer.places
        return [
            LocationMention(text[m.start:m.end], m.start, m.end, places[m.chosen])
            for m in matches
            if m.chosen >= 0
        ]

    # -- resolution -------------------------------------------------------------------------

    def _resolve(
        self, matches: list[_Match], demonym_countries: dict[str, float],
        segments: Sequence[Segment],
    ) -> None:
        kinds, populations, countries, admins = (
            self._kinds, self._populations, self._countries, self._admins)
        qualified: dict[tuple[int, ...], tuple[int, ...]] = {}
        for match in matches:
            if match.qualifier_ids:
                within = _within(match.ids, match.qualifier_ids, kinds, countries, admins)
                if within:
                    qualified.setdefault(match.ids, within)
                    match.ids = within
        for match in matches:  # "Paris, Texas ... Paris": one sense per story
            if not match.qualifier_ids and match.ids in qualified:
                match.ids = qualified[match.ids]
        # Context: unambiguous mentions count 1 for their country and region, the most
        # populous reading of an ambiguous one counts half.
        country_weight: dict[str, float] = {}
        admin_weight: dict[str, float] = {}
        anchors, weighted_anchor = self._weighted_anchors, self.weighted_anchor
        for match in matches:
            anchor, weight = anchors.get(match.ids) or weighted_anchor(match.ids)
            code = countries[anchor]
            match.anchor_countries = (code,)
            match.anchor_weight = weight
            country_weight[code] = country_weight.get(code, 0.0) + weight
            if kinds[anchor] != "country":
                admin = admins[anchor]
                admin_weight[admin] = admin_weight.get(admin, 0.0) + weight
        for code, weight in demonym_countries.items():
            country_weight[code] = country_weight.get(code, 0.0) + weight
        language_countries = _language_countries(segments)
        chosen: dict[tuple[object, ...], int] = {}
        for match in matches:
            if len(match.ids) == 1:
                match.chosen = match.ids[0]
                continue
            case = (match.ids, match.wants_region, match.anchor_countries, match.anchor_weight)
            found = chosen.get(case)
            if found is None:
                found = chosen[case] = self._choose(
                    match, country_weight, admin_weight, language_countries,
                    kinds, populations, countries, admins)
            match.chosen = found
        for match in matches:
            # A sound-alike small town abroad is more likely a name the gazetteer lacks.
            pick = match.chosen
            if match.by_sound and kinds[pick] == "city" and (
                    populations[pick] < SOUND_ALONE_POPULATION):
                own = match.anchor_weight if countries[pick] in match.anchor_countries else 0.0
                if country_weight.get(countries[pick], 0.0) - own < 1:
                    match.chosen = -1

    def name_at(
        self, words: Sequence[str], norms: Sequence[str], inflections: Sequence[tuple[str, ...]],
        arabic: bool, demonym: bool,
    ) -> _NameFound:
        """The longest gazetteer name starting at words[0] (memoized per word sequence): its
        candidates (none when no name starts there), key, last word, characters cut off the
        last word's end (a possessive "'s") and whether it was found by stems.

        Longest name first: exact keys (also without a possessive "'s"), then stems; a
        demonym alone is never a place; Arabic words are also tried without clitics."""
        cache_key = (tuple(words), arabic, demonym)
        found = self._names_at.get(cache_key)
        if found is not None:
            return found
        if len(self._names_at) >= _RUN_CACHE_SIZE:
            self._names_at.clear()
        gazetteer = self._gazetteer
        key0 = norms[0]
        last = len(norms) - 1
        while last > 0 and not words[last][0].isupper() and (
                norms[last] not in self._lists.region_words):
            last -= 1  # a name does not end on a connector
        ids: tuple[int, ...] = ()
        key = ""
        cut = 0
        j = 0
        stemmed = False
        for j in range(last, -1, -1):
            if demonym and j == 0:
                break
            key = key0 if j == 0 else " ".join(norms[:j + 1])
            ids = gazetteer.ids(key)
            cut = 0
            if not ids and key.endswith(_POSSESSIVE):
                key = key[:-2]
                ids = gazetteer.ids(key)
                cut = 2
            if ids:
                break
        if not ids and inflections[0] and not demonym:
            for j in range(last, -1, -1):
                forms = inflections[:j + 1]
                if not all(forms):
                    continue
                ids = gazetteer.inflected_ids_of_forms(forms)
                if ids:
                    key = " ".join(norms[:j + 1])
                    stemmed = True
                    cut = 0
                    break
        if not ids and arabic and not demonym:
            key, j, cut = key0, 0, 0
            while not ids and len(key) > 4 and key[0] in "وبلف":
                key = key[1:]
                ids = gazetteer.ids(key)
        found = (ids, key, j, cut, stemmed)
        self._names_at[cache_key] = found
        return found

    def weighted_anchor(self, ids: tuple[int, ...]) -> tuple[int, float]:
        """The place a mention counts for in the story's context and how much (memoized): its
        sure place (1), or else its most populous reading, countries first (0.5)."""
        found = self._weighted_anchors.get(ids)
        if found is None:
            if len(self._weighted_anchors) >= _RUN_CACHE_SIZE:
                self._weighted_anchors.clear()
            anchor = self._anchor(ids)
            if anchor >= 0:
                found = (anchor, 1.0)
            else:
                kinds, populations = self._kinds, self._populations
                found = (max(ids, key=lambda i: (kinds[i] == "country", populations[i])), 0.5)
            self._weighted_anchors[ids] = found
        return found

    def _anchor(self, ids: tuple[int, ...]) -> int:
        """The place a mention surely names, or -1 when it is ambiguous."""
        kinds, populations = self._kinds, self._populations
        if len(ids) == 1:
            return ids[0]
        country_ids = [i for i in ids if kinds[i] == "country"]
        if len(country_ids) == 1:
            # "Georgia" is sure only when no region shares the name
            return -1 if any(kinds[i] == "admin" for i in ids) else country_ids[0]
        top = max(ids, key=populations.__getitem__)
        if kinds[top] == "city" and populations[top] >= ANCHOR_POPULATION:
            runner_up = max(
                (populations[i] for i in ids if i != top and kinds[i] == "city"), default=0)
            if populations[top] >= ANCHOR_RATIO * max(runner_up, 1):
                return top
        return -1

    @staticmethod
    def _choose(
        match: _Match,
        country_weight: dict[str, float],
        admin_weight: dict[str, float],
        language_countries: frozenset[str],
        kinds: Sequence[str],
        populations: Sequence[int],
        countries: Sequence[str],
        admins: Sequence[str],
    ) -> int:
        def context(code: str) -> float:
            own = match.anchor_weight if code in match.anchor_countries else 0.0
            return country_weight.get(code, 0.0) - own

        def region_context(i: int) -> float:
            own = match.anchor_weight if countries[i] in match.anchor_countries else 0.0
            return admin_weight.get(admins[i], 0.0) - (own if kinds[i] == "admin" else 0.0)

        def score(i: int) -> float:
            kind = kinds[i]
            if kind == "country":
                return _COUNTRY_BASE + (2.0 if context(countries[i]) >= 1 else 0.0)
            base = _ADMIN_BASE if kind == "admin" else math.log10(populations[i] + 1)
            weight = context(countries[i])
            base += 1.5 if weight >= 2 else 0.5 if weight >= 1 else 0.0
            if region_context(i) > 0:
                base += 1.0
            if countries[i] in language_countries:
                base += 0.3
            return base

        ids = match.ids
        if len(ids) == 1:
            return ids[0]
        if match.wants_region:
            regions = [i for i in ids if kinds[i] == "admin"]
            if regions:
                return max(regions, key=score)
        country_ids = [i for i in ids if kinds[i] == "country"]
        if country_ids:
            # A country beats towns of the same name; a region of another country wins only
            # when the story is anchored there and not in the country ("Georgia" + "Atlanta").
            best_country = max(country_ids, key=score)
            regions = [i for i in ids if kinds[i] == "admin"]
            if regions and context(countries[best_country]) < 1:
                best_region = max(regions, key=score)
                if context(countries[best_region]) >= 2 or region_context(best_region) > 0:
                    return best_region
            return best_country
        return max(ids, key=score)


def _upper_class() -> str:
    """A regex character class of the upper-case letters of the scripts read here."""
    letters = "".join(chr(c) for c in range(0x0250) if chr(c).isupper())
    letters += "".join(chr(c) for c in range(0x0370, 0x0530) if chr(c).isupper())
    letters += "".join(
        chr(c) for c in range(0x1F00, 0x2000) if chr(c).isupper() or chr(c).istitle())
    return "[" + re.escape(letters) + "]"


_UPPER = _upper_class()
_WORD_TAIL = r"\w*(?:['’\-]\w+)*"
# A run of capitalized words that may form one name, with inner connectors and gaps allowed
# in names ("Bosnia and Herzegovina", "St. Petersburg", "Νέα Υόρκη", "Washington, D.C." aside).
_RUN_PATTERN = (
    _UPPER + _WORD_TAIL
    + r"(?:(?:[ .\u00a0\-‐]|\. | - )(?:(?:" + "|".join(sorted(_CONNECTORS)) + r") )?"
    + _UPPER + _WORD_TAIL + r")*"
)
_RUN = re.compile(_RUN_PATTERN)
_WORD_RUN = re.compile(r"\w+")
_LAST_WORD_RUN = re.compile(r"\w+$")
_SPEAKER_NAME = re.compile(_UPPER + r"\w+")
_HASHTAG = re.compile(r"#(\w+)")
# What follows a dateline's place: a date ("Суми, 13 квітня", "ALMATY, Jan 6") or a credit
# ("WASHINGTON (AP)").
_DATELINE_TAIL = re.compile(r", (?:\d|[^\W\d_]{3,}\.? \d)| \(")
_ARABIC_WORD = re.compile(r"[\u0621-\u064A\u0671-\u06D3]{4,}")


def _may_hold_arabic(text: str) -> bool:
    """False when text has no character of the Arabic block (U+0600..U+06FF), whose UTF-8
    lead bytes are D8..DB: four byte searches instead of a pattern pass over the text."""
    raw = text.encode("utf-8", "surrogatepass")
    return b"\xd8" in raw or b"\xd9" in raw or b"\xda" in raw or b"\xdb" in raw


@dataclass(frozen=True, slots=True)
class _RunWords:
    """The words of a run (offsets relative to the run) and what the tagger knows of them."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    words: tuple[str, ...]
    norms: tuple[str, ...]
    stems: tuple[str, ...]
    inflections: tuple[tuple[str, ...], ...]
    roles: tuple[int, ...]
    top_role: int
    has_demonym: bool
    speaker: str  # its last word when that word could be someone quoted ("Henderson said")
    speaker_is_whole_run: bool
    inert: bool = field(init=False)  # no name, demonym or speaker
    # _Scan._outcome_at of each (word, hashtag, arabic) asked for so far
    outcomes: dict[tuple[int, bool, bool], _Outcome] = field(
        init=False, default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inert", self.top_role < _NAME and not self.has_demonym
                           and not self.speaker)


_NO_RUN = _RunWords((), (), (), (), (), (), (), _NOTHING, False, "", False)


class _Scan:
    """One pass over a story collecting candidate place names."""

    def __init__(
        self, text: str, tagger: PlaceTagger, proposed_spans: Sequence[tuple[int, int]]
    ) -> None:
        self.text = text
        self.tagger = tagger
        self.gazetteer = tagger._gazetteer
        self.lists = tagger._lists
        self.spans = sorted(proposed_spans)
        self.title_lines: dict[int, bool] = {}
        self.demonym_countries: dict[str, float] = {}
        self.last_place_end = -1
        self._speakers: set[str] | None = None
        # the current run, and its tokens: offsets, words, normalized words
        self.current = _NO_RUN
        self.starts: Sequence[int] = ()
        self.ends: Sequence[int] = ()
        self.words: Sequence[str] = ()
        self.norms: Sequence[str] = ()
        self.stems: Sequence[str] = ()
        self.inflections: Sequence[tuple[str, ...]] = ()

    @property
    def speakers(self) -> set[str]:
        """Capitalized words right before a verb of saying ("Henderson said"), found once."""
        if self._speakers is None:
            self._speakers = {m.group(1) for m in self.tagger._speaker.finditer(self.text)}
        return self._speakers

    def run(self) -> list[_Match]:
        text = self.text
        matches: list[_Match] = []
        hashtags: set[int] = set()
        if "#" in text:
            hashtags = {m.start() + 1 for m in _HASHTAG.finditer(text)}
        tagger = self.tagger
        runs, run_words = tagger._runs, tagger.run_words
        found_runs: list[tuple[int, _RunWords]] = []
        speakers: set[str] = set()
        speech = tagger._speech_words
        for run in (tagger._bmp_run if is_bmp(text) else tagger._run).finditer(text):
            group = run.group()
            found = runs.get(group) or run_words(group)
            if found.inert and not hashtags:
                continue  # no place name, demonym or speaker in it: nothing to do
            found_runs.append((run.start(), found))
            if found.speaker and text.startswith(" ", run.end()):
                verb = _WORD_RUN.match(text, run.end() + 1)
                if verb is not None and verb.group() in speech and not (
                        found.speaker_is_whole_run and run.start()
                        and _WORD_RUN.match(text, run.start() - 1)):
                    speakers.add(found.speaker)
        if tagger._speech_by_runs:
            self._speakers = speakers
        for start, found in found_runs:
            if found.top_role < _NAME:
                if found.has_demonym:
                    self._note_demonym_forms(found.norms, found.stems)
                if start not in hashtags:
                    continue
            self._use_run(start, found)
            self._scan_run(matches, hashtags, roles=found.roles)
        if hashtags:
            done = {m.first_start for m in matches}
            for start in sorted(hashtags - done):
                token = _TOKEN.match(text, start)
                if token is None or token.group()[0].isupper():
                    continue  # capitalized hashtags were scanned as runs
                self._load_run(start, token.end())
                self._scan_run(matches, hashtags)
        if not text.isascii() and _may_hold_arabic(text) and _ARABIC_WORD.search(text):
            for word in _ARABIC_WORD.finditer(text):
                self._load_run(word.start(), word.end())
                self._scan_run(matches, hashtags, arabic=True)
        if self.spans:
            self._add_proposed(matches)
        matches.sort(key=lambda m: m.start)
        return matches

    def _note_demonyms(self, run: str) -> None:
        """Country context from demonyms ("Kazakh President", "Russian news agency")."""
        forms = [self.tagger.word_form(word) for word in _TOKEN.findall(run)]
        self._note_demonym_forms([f[0] for f in forms], [f[1] for f in forms])

    def _note_demonym_forms(self, norms: Sequence[str], stems: Sequence[str]) -> None:
        demonyms = self.lists.demonyms
        for normalized, stemmed in zip(norms, stems, strict=True):
            country = demonyms.get(normalized) or demonyms.get(stemmed)
            if country is not None:
                weight = self.demonym_countries.get(country, 0.0)
                self.demonym_countries[country] = min(1.0, weight + 0.5)

    def _load_run(self, start: int, end: int) -> None:
        self._use_run(start, self.tagger.run_words(self.text[start:end]))

    def _use_run(self, start: int, run: _RunWords) -> None:
        """Make the words of a run found at offset start the current tokens."""
        if start:
            self.starts = [start + s for s in run.starts]
            self.ends = [start + e for e in run.ends]
        else:
            self.starts, self.ends = run.starts, run.ends
        self.current = run
        self.words, self.norms = run.words, run.norms
        self.stems, self.inflections = run.stems, run.inflections

    def _scan_run(
        self, matches: list[_Match], hashtags: set[int], arabic: bool = False,
        roles: Sequence[int] | None = None,
    ) -> None:
        i, count = 0, len(self.words)
        while i < count:
            hashtag = self.starts[i] in hashtags
            if not hashtag and roles is not None and roles[i] < _NAME:
                if roles[i] == _DEMONYM:
                    self._note_demonyms(self.words[i])
                i += 1
                continue
            if not (arabic or hashtag or self.words[i][0].isupper()):
                i += 1
                continue
            found = self._match_at(i, self.starts[i] in hashtags, arabic)
            if not found:
                i += 1
                continue
            matches.extend(found)
            self.last_place_end = found[-1].end
            i = found[-1].last_token + 1

    # -- one candidate ----------------------------------------------------------------------

    def _match_at(self, i: int, hashtag: bool, arabic: bool) -> list[_Match] | None:
        outcomes = self.current.outcomes
        outcome = outcomes.get((i, hashtag, arabic))
        if outcome is None:
            outcome = outcomes[(i, hashtag, arabic)] = self._outcome_at(i, hashtag, arabic)
        kind, demonym, found = outcome
        if kind == _NAME_FOUND:
            ids, key, size, cut, stemmed = found
            j = i + size
            match = _Match(self.starts[i], self.ends[j] - cut, ids, i, j,
                           first_start=self.starts[i])
            if not self._accept(match, key, stemmed, hashtag, arabic):
                return None
            return [match]
        if kind == _NO_NAME:
            return None
        if kind == _SOUND_ONLY:
            return self._sounds_like(i)
        if kind == _DEMONYM_ONLY:
            weight = self.demonym_countries.get(demonym, 0.0)
            self.demonym_countries[demonym] = min(1.0, weight + 0.5)
            return None
        return self._hashtag_parts(i)

    def _outcome_at(self, i: int, hashtag: bool, arabic: bool) -> _Outcome:
        """What the words of the current run say at word i, before context is read: the
        same for every occurrence of the run, so it is kept with the run (see _Outcome)."""
        tagger, lists, norms = self.tagger, self.lists, self.norms
        nothing: _Outcome = (_NO_NAME, "", _NO_NAME_FOUND)
        key0, stem0 = norms[i], self.stems[i]
        if key0 in lists.never:
            return nothing
        demonym = lists.demonyms.get(key0) or lists.demonyms.get(stem0)
        role = tagger.word_role(self.words[i])
        if not hashtag and not arabic and role not in (_NAME, _DEMONYM_OR_NAME, _SOUNDS_LIKE):
            return nothing
        if role == _SOUNDS_LIKE:
            return (_SOUND_ONLY, "", _NO_NAME_FOUND)
        stop = i + MAX_NAME_TOKENS
        found = tagger.name_at(self.words[i:stop], norms[i:stop], self.inflections[i:stop],
                               arabic, demonym is not None)
        ids, key = found[0], found[1]
        if not ids and demonym is not None:
            return (_DEMONYM_ONLY, demonym, _NO_NAME_FOUND)
        if not ids:
            return (_HASHTAG_PARTS, "", _NO_NAME_FOUND) if hashtag else nothing
        if key in lists.never:
            return nothing
        return (_NAME_FOUND, "", found)

    def _sounds_like(self, i: int) -> list[_Match] | None:
        """A Greek spelling of a foreign name ("Καντούνα" = Kaduna), one or two words."""
        gazetteer, norms = self.gazetteer, self.norms
        if self._sentence_start(self.starts[i]) or self._title_line(self.starts[i]):
            return None
        if norms[i] in self.lists.person_next or norms[i] in self.lists.never:
            return None
        for j in (i + 1, i):
            if j >= len(norms) or not self.words[j][0].isupper():
                continue
            for last in _greek_bare_forms(norms[j]):
                words = [*norms[i:j], last]
                ids = gazetteer.sound_ids(" ".join(greek_sound_key(w) for w in words))
                if ids:
                    match = _Match(self.starts[i], self.ends[j], ids, i, j, evidence=True,
                                   first_start=self.starts[i], by_sound=True)
                    return [match]
        return None

    def _hashtag_parts(self, i: int) -> list[_Match] | None:
        """Places named inside a CamelCase hashtag (#KazakhstanProtests)."""
        word, offset = self.words[i], self.starts[i]
        found: list[_Match] = []
        tagger = self.tagger
        for part in _CAMEL_PART.finditer(word):
            key = name_key(part.group())
            if len(key) < 3 or key in self.lists.never:
                continue
            ids = tuple(
                k for k in self.gazetteer.ids(key)
                if tagger._kinds[k] != "city"
                or tagger._populations[k] >= HASHTAG_PART_POPULATION
            )
            if ids:
                found.append(_Match(offset + part.start(), offset + part.end(), ids, i, i,
                                    first_start=offset))
        return found or None

    # -- evidence ---------------------------------------------------------------------------

    def _accept(
        self, match: _Match, key: str, stemmed: bool, hashtag: bool, arabic: bool
    ) -> bool:
        tagger, lists = self.tagger, self.lists
        i, j = match.first_token, match.last_token
        text, start = self.text, match.start
        # The normalized word right before the name ("" when none), and where the one before
        # that would end: that second word is only read after a connector ("state of Georgia").
        previous, previous_end = "", -1
        if start > 1 and text[start - 1] == " " and text[start - 2] != " ":
            previous, previous_end = self._word_before(start - 1)
            if previous in lists.org_prev:
                return False  # "Real Madrid"
        if self._next_capitalized(j):
            following = self._word_after(j)
            if following in lists.org_next:
                return False  # "Washington Post"
        else:
            following = ""
        strong_kind, regions, nations, largest = tagger.id_facts(match.ids)
        if not strong_kind and i == j and following and self._person_or_org(i, following):
            return False  # "Vladimir Putin", "Antony Blinken", "Hamm Capital"
        if i == j and self.speakers and self._speaker_name(match, strong_kind, following):
            return False  # "Jordan Henderson ... Henderson said"
        if not nations and i == j and following and self.norms[i] in lists.person_next:
            return False  # "Victoria Nuland" (also a region), "Georgia May"
        if regions and previous:
            if previous in lists.region_cues or (
                previous in _CONNECTORS
                and self._word_before(previous_end)[0] in lists.region_cues
            ):
                match.wants_region = True
        if not nations:
            self._find_qualifier(match)
        if stemmed and not strong_kind and (
                largest < STRONG_POPULATION or self._sentence_start(match.start)):
            return False  # a stem is too loose a match for a small town or a first word
        if self._proposed(match):
            match.evidence = True
            return True
        weak = not strong_kind and (
            largest < STRONG_POPULATION or self.gazetteer.is_ambiguous(key))
        if not weak and key not in lists.weak_names:
            return True
        if hashtag or arabic:
            return False
        if match.qualifier_ids or self._continues_list(match.start) or self._dateline(match):
            match.evidence = True  # "Mobile, Alabama"; "in Split and Reading"; "Суми, 13 квітня"
            return True
        if self._sentence_start(match.start) or self._title_line(match.start):
            return False
        if previous and previous in lists.cues:
            match.evidence = True
            return True
        first = self.words[i][0]
        return "\u0370" <= first <= "\u052f"  # a capital mid-sentence in Greek or Cyrillic

    def _person_or_org(self, i: int, following: str) -> bool:
        """A town name followed by another capitalized word that is neither a place nor a
        word that places take ("Kherson Governor"): most likely a first name or a company."""
        lists, tagger = self.lists, self.tagger
        if self.norms[i] in lists.person_next:
            return True
        if not self.words[i].isascii() or following in lists.place_next:
            return False
        if max(tagger._populations[k] for k in self.gazetteer.ids(self.norms[i]) or (0,)) >= (
                ANCHOR_POPULATION):
            return False
        role = tagger.word_role(self._up_to_space(self.ends[i] + 1).strip(".,;:"))
        return role == _NOTHING

    def _speaker_name(self, match: _Match, strong_kind: bool, following: str) -> bool:
        """The name or the first name of someone quoted in the story ("Henderson said")."""
        word = self.words[match.first_token]
        populations = self.tagger._populations
        if not strong_kind and word in self.speakers and max(
                populations[k] for k in match.ids) < SPEAKER_TOWN_POPULATION:
            return True
        if following:
            after = self._up_to_space(match.end + 1).strip(".,;:'’s")
            return after in self.speakers
        return False

    def _up_to_space(self, position: int) -> str:
        """The text from position to the next space (or the end)."""
        end = self.text.find(" ", position)
        return self.text[position:] if end < 0 else self.text[position:end]

    def _continues_list(self, start: int) -> bool:
        """True when the name follows an accepted place in a list ("Kyiv, Lviv and Odesa")."""
        last_end = self.last_place_end
        if last_end < 0 or last_end > start:
            return False
        return self.text[last_end:start] in _LIST_GLUE

    def _find_qualifier(self, match: _Match) -> None:
        """A region or country right after the name: "Paris, Texas", "Mobile (Alabama)"."""
        text, position = self.text, match.end
        if text[position:position + 2] in (", ", " ("):
            position += 2
        elif text[position:position + 5] in (" του ", " της "):
            position += 5  # "Τρίπολη του Λιβάνου"
        else:
            return
        following = _RUN.match(text, position)
        if following is None:
            return
        wide = self.tagger.qualifier_ids(following.group())
        if wide:
            match.qualifier_ids = wide

    def _dateline(self, match: _Match) -> bool:
        """True when the name opens a line and a date or an agency credit follows it."""
        start = match.start
        if start and self.text[start - 1] != "\n":
            return False
        return _DATELINE_TAIL.match(self.text, match.end) is not None

    def _proposed(self, match: _Match) -> bool:
        for s, e in self.spans:
            if e > match.start and s < match.end:
                return True
        return False

    def _add_proposed(self, matches: list[_Match]) -> None:
        """NER spans the gazetteer pass did not match: look their whole text up."""
        covered = [(m.start, m.end) for m in matches]
        for start, end in self.spans:
            if any(s < end and start < e for s, e in covered):
                continue
            key = name_key(self.text[start:end])
            if not key or key in self.lists.never:
                continue
            ids = self.gazetteer.ids(key) or (
                self.gazetteer.inflected_ids(key.split(" ")) if not key.isascii() else ())
            if ids:
                matches.append(_Match(start, end, ids, 0, 0, evidence=True, first_start=start))

    # -- context helpers --------------------------------------------------------------------

    def _word_before(self, end: int) -> tuple[str, int]:
        """The normalized word that ends at the space at offset end, and the offset of the
        space before that word (-1 when there is none); ("", -1) when no word ends there
        (no space at end, or punctuation between the word and the space)."""
        text = self.text
        if end <= 0 or text[end] != " ":
            return "", -1
        # the later of the last space and the last line break (sought after that space)
        space = text.rfind(" ", 0, end)
        start = max(space, text.rfind("\n", space + 1, end)) + 1
        word = text[start:end]
        if not word or not (word.isalpha() or _TOKEN.fullmatch(word)):
            return "", -1  # punctuation between the word and the name
        return self.tagger.word_form(word)[0], start - 1

    def _word_after(self, j: int) -> str:
        """The normalized word right after token j when only a space separates them."""
        text, position = self.text, self.ends[j]
        if text[position:position + 1] != " ":
            return ""
        token = _TOKEN.match(text, position + 1)
        return self.tagger.word_form(token.group())[0] if token else ""

    def _next_capitalized(self, j: int) -> bool:
        text, position = self.text, self.ends[j]
        return text[position:position + 1] == " " and text[position + 1:position + 2].isupper()

    def _sentence_start(self, position: int) -> bool:
        text = self.text
        k = position - 1
        while k >= 0 and text[k] in _OPENERS:
            k -= 1
        return k < 0 or text[k] in _SENTENCE_BREAK

    def _title_line(self, position: int) -> bool:
        """True when the line is a headline in Title Case or capitals."""
        text = self.text
        line_start = text.rfind("\n", 0, position) + 1
        cached = self.title_lines.get(line_start)
        if cached is not None:
            return cached
        line_end = text.find("\n", line_start)
        line = text[line_start: len(text) if line_end < 0 else line_end]
        long_words = [w for w in text_words(line) if len(w) >= 4]
        capitalized = sum(1 for w in long_words if w[0].isupper())
        title = len(long_words) >= 5 and capitalized >= 0.7 * len(long_words)
        self.title_lines[line_start] = title
        return title


def _is_greek(word: str) -> bool:
    return "\u0370" <= word[:1] <= "\u03ff"


def _greek_bare_forms(word: str) -> tuple[str, ...]:
    """A Greek word and its form without a genitive ending ("Άγκυρας" -> "Άγκυρα")."""
    if word.endswith(("ασ", "ησ", "οσ")):
        return (word, word[:-1])
    if word.endswith("ου") and len(word) > 5:
        return (word, word[:-2], word[:-2] + "ο")
    return (word,)


def _within(
    ids: Iterable[int], qualifier_ids: tuple[int, ...], kinds: Sequence[str],
    countries: Sequence[str], admins: Sequence[str],
) -> tuple[int, ...]:
    """Candidates inside one of the qualifier's regions or countries."""
    regions = {admins[q] for q in qualifier_ids if kinds[q] == "admin"}
    nations = {countries[q] for q in qualifier_ids if kinds[q] == "country"}
    return tuple(
        i for i in ids
        if i not in qualifier_ids and (admins[i] in regions or countries[i] in nations)
    )


_LANGUAGE_COUNTRIES = {"el": ("GR", "CY"), "uk": ("UA",), "kk": ("KZ",), "be": ("BY",)}


def _language_countries(segments: Sequence[Segment]) -> frozenset[str]:
    """Countries whose own language a story is written in (a small tie-breaker)."""
    codes: set[str] = set()
    for segment in segments:
        codes.update(_LANGUAGE_COUNTRIES.get(segment.language, ()))
    return frozenset(codes)


def story_focus(mentions: Sequence[LocationMention]) -> Place | None:
    """The country a story is about (see the module docstring for the rule)."""
    weights: dict[str, float] = {}
    first_seen: dict[str, int] = {}
    named: dict[str, Place] = {}
    for mention in mentions:
        code = mention.place.country_code
        if not code:
            continue
        weight = 2.0 if mention.start < LEAD_CHARS else 1.0
        weights[code] = weights.get(code, 0.0) + weight
        first_seen.setdefault(code, mention.start)
        if mention.place.kind == "country":
            named.setdefault(code, mention.place)
    if not weights:
        return None
    best = max(weights, key=lambda code: (weights[code], -first_seen[code]))
    return named.get(best) or country_places().get(best)

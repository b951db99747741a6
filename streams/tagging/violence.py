"""Violence terms and phrases in many languages, matched on stems with vetoes and negation.

The lexicon is data: ``data/violence_<lang>.tsv`` (one file per language) and
``data/violence_categories.tsv`` (the categories, their meaning and severity weights).
Each lexicon row is ``pattern <TAB> role-or-categories <TAB> weight-or-scope <TAB> note``.

Pattern syntax (every word is compared after ``text.normalize``: casefold, accents stripped):

* ``word``      the word exactly (``killed``);
* ``stem*``     any word starting with the stem (``πυροβολ*`` hits πυροβολισμοί, πυροβολισμών);
* ``a|b|c*``    alternatives for one word;
* ``..N``       up to N other words between the neighbouring elements ("set ..3 on fire"),
                none of them a violence term by itself;
* ``<num>``     a number in digits or words of the language (``<num> ..2 dead``).

Roles besides the violence categories:

* ``not_violence`` a veto: a violence match overlapping it is dropped ("killer app",
  "shots of the skyline", "bombed at the box office"), unless the violence match is
  longer and contains the whole veto;
* ``negation`` a cue word that negates a term up to N words after it ("no one was
  killed", "никто не погиб", "δεν υπάρχουν θύματα"); ``negation_after`` negates a term
  up to N words before it ("жертв нет"); ``scope_break`` words end a cue's reach
  ("how", "whether", "πόσοι", "сколько"), and so does punctuation;
* ``dead`` / ``injured`` casualty words read by ``severity.casualty_counts``, never
  reported as violence mentions;
* ``strip_prefix`` clitics tried off a word when it matches nothing whole (Arabic و، ال).

Context-dependent rows (category column starting with ``@``) cover words whose category only
the rest of the story tells:

* ``@attack``: generic attack words ("attack", "attacked", "επίθεση", "нападение") are
  terrorism in a story with terrorism mentions; else they take the category the story's
  other mentions have most often among explosion, armed_clash, shooting, kidnapping and
  storming (first of that list on a tie), shooting read as armed_clash (an armed attack);
  else assault;
* ``@<category>``: words that are violence only where the story already has that category
  ("strike", "were hit", "έπληξε", "удар" count as explosion next to shelling or blasts; a
  labour strike or a football "удар" is dropped).

What counts (the conventions of the lexicon rows, shared with the development set):

* events, not actors: "stormed", "opened fire", "looting" are mentions; "gunmen",
  "attackers", "rioters", "jihadists", "боевики" are not (Greek "ταραξίες"/"ταραχοποιοί",
  the police's word for the Almaty crowd, are kept as riot_unrest);
* one category per span, the outcome where there is one: "shot dead", "stabbed to death"
  are killing; "suicide bombing", "car bomb" are explosion;
* measures are not violence: curfews, states of emergency, single arrests; mass arrests,
  tear gas, water cannon, dispersals and clearing operations are security_crackdown;
* casualty nouns ("death toll", "погибших", "νεκροί", "injured") feed the casualty counts
  but are no violence mention; verbs of dying in violence ("погибли", "σκοτώθηκαν") are;
* accidents, disasters, sport and figures of speech are vetoed where the wording shows them
  ("killed in a crash", "explosion of interest", "удар по воротам", "σκοτώνουν την ώρα").

Matching: phrases may not cross punctuation (``. , ; : ! ? ( )`` or a line break).
Overlapping violence matches keep the leftmost-longest one; a row with several
categories (``shooting,killing``) would report one mention per category, which the
conventions above leave for rare cases.
A word with an elided article ("l'explosion") is also tried without it.

Languages: a segment's language picks that language's rows when the word is in the
language's script; words in another script, and segments in ``und`` or a language
without a lexicon, try every lexicon of the word's script.

Speed: the first word of each pattern is indexed by exact form and by stem; each
distinct (language, word) is looked up once and cached, so a story costs one regex
pass and one dictionary hit per word. The words, scan and matches of the last few texts
are kept, so the casualty counter and the source matcher reuse the tagger's work.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, compress
from operator import attrgetter, methodcaller
from pathlib import Path

from streams.tagging.model import Segment, ViolenceMention
from streams.tagging.text import bmp_pattern, is_bmp, normalize

DATA_DIR = Path(__file__).with_name("data")
CATEGORIES_FILE = "violence_categories.tsv"

UNKNOWN_LANGUAGE = "und"

VETO = "not_violence"
NEGATION = "negation"
NEGATION_AFTER = "negation_after"
SCOPE_BREAK = "scope_break"
STRIP_PREFIX = "strip_prefix"
DEAD = "dead"
INJURED = "injured"
CASUALTY_ROLES = frozenset({DEAD, INJURED})
# Context-dependent rows: "@attack" takes the story's dominant category of ATTACK_FAMILY
# (else ATTACK_FALLBACK); "@<category>" is kept only when the story has another mention of it.
CONTEXT_MARK = "@"
ATTACK = "@attack"
ATTACK_FAMILY = ("terrorism", "explosion", "armed_clash", "shooting", "kidnapping", "storming")
ATTACK_FALLBACK = "assault"
ATTACK_AS = {"shooting": "armed_clash"}  # an attack in a story of gunfire is an armed attack
_CUE_ROLES = frozenset({NEGATION, NEGATION_AFTER, SCOPE_BREAK, STRIP_PREFIX})

# Number-word kinds of data/numbers_<lang>.tsv (see severity.py for their meaning).
NUMBER_KINDS = frozenset({"add", "mul", "approx", "scale"})
NUMBER_FILE_KINDS = NUMBER_KINDS | {"unit", "filler"}

# Texts whose scan and matches are kept (a story's body and headline, with room to spare).
RECENT_TEXTS = 4

# Distinct (language, word) descriptions kept before the cache starts over.
MAX_CACHED_WORDS = 400_000

# Longest reach of a negation cue, in words; rows may ask for less.
MAX_NEGATION_SCOPE = 6

# A word: digits with thousands separators ("1,200", "3 000"), or letters/digits with inner
# apostrophes ("didn't", "l'explosion", "п'ять"). Hyphens split words ("Франс-Пресс", "car-bomb").
_WORD = re.compile(r"\d{1,3}(?:[,.\u00a0\u202f]\d{3})+(?!\d)|\w+(?:['’]\w+)*")
# Punctuation that ends a phrase, a negation scope or a casualty window.
_BREAK = re.compile(r"[.!?;:…,()\[\]{}\n\r]")
_WORD_SPLIT = re.compile(f"({_WORD.pattern})")
_BMP_WORD_SPLIT = re.compile(bmp_pattern(_WORD_SPLIT.pattern))  # the same on BMP text, faster
_DIGITS = re.compile(r"\d+(?:[,.\u00a0\u202f]\d{3})*")
_GAP = re.compile(r"\.\.(\d+)")


def fold(word: str) -> str:
    """The comparison form of a word: text.normalize plus one apostrophe."""
    return normalize(word).replace("’", "'")


def script_of(word: str) -> str:
    """Writing system of a word by its first character: latin, greek, cyrillic, arabic, digit."""
    ch = word[0]
    if ch.isdigit():
        return "digit"
    code = ord(ch)
    if code < 0x250 or 0x1E00 <= code < 0x1F00:
        return "latin"
    if 0x370 <= code < 0x400 or 0x1F00 <= code < 0x2000:
        return "greek"
    if 0x400 <= code < 0x530:
        return "cyrillic"
    if 0x600 <= code < 0x780 or 0xFB50 <= code < 0xFF00:
        return "arabic"
    return "other"


_FIRST_ENTRIES = attrgetter("first")
_MATCH_START = methodcaller("start")
_NEGATION = attrgetter("negation")
_SCOPE_BREAK = attrgetter("scope_break")
_NUMBER = attrgetter("number")


Words = tuple[tuple[int, ...], tuple[int, ...], tuple[str, ...]]
# Words of the last few texts (a story's body and headline), shared by every tagger.
_recent_words: dict[str, Words] = {}


def _words_of(text: str) -> Words:
    """Starts, ends and raw text of every word."""
    # split() alternates gaps and words; offsets are running sums of their lengths (C speed).
    parts = (_BMP_WORD_SPLIT if is_bmp(text) else _WORD_SPLIT).split(text)
    offsets = tuple(accumulate(map(len, parts), initial=0))
    return offsets[1:-1:2], offsets[2::2], tuple(parts[1::2])


def words_of(text: str) -> Words:
    """Word starts, ends and raw forms of text (memoized for the last few texts)."""
    found = _recent_words.get(text)
    if found is None:
        found = _words_of(text)
        if len(_recent_words) >= RECENT_TEXTS:
            _recent_words.clear()  # clear() rather than evicting one: safe under threads too
        _recent_words[text] = found
    return found


def recent_words_of(text: str) -> Words | None:
    """The words of text if a tagger tokenized it lately, else None (nothing is computed)."""
    return _recent_words.get(text)


@lru_cache(maxsize=4)
def _breaks_of(text: str) -> tuple[int, ...]:
    return tuple(map(_MATCH_START, _BREAK.finditer(text)))


class BreakIndex:
    """Answers "is there punctuation between word i and word j?" for one text."""

    __slots__ = ("_breaks", "_ends", "_starts", "_text")

    def __init__(self, text: str, starts: Sequence[int], ends: Sequence[int]) -> None:
        self._text = text
        self._starts = starts
        self._ends = ends
        self._breaks: tuple[int, ...] | None = None

    def between(self, i: int, j: int) -> bool:
        """True when punctuation lies between the end of word i and the start of word j > i."""
        if self._breaks is None:
            self._breaks = _breaks_of(self._text)
        breaks = self._breaks
        k = bisect_left(breaks, self._ends[i])
        return k < len(breaks) and breaks[k] < self._starts[j]


# --------------------------------------------------------------------------- patterns


@dataclass(frozen=True, slots=True)
class WordPattern:
    """One element of a phrase: exact forms and/or stems, or any number."""

    exact: frozenset[str]
    prefixes: tuple[str, ...]
    number: bool = False
    max_gap: int = 0  # other words allowed before this element

    def matches(self, info: WordInfo) -> bool:
        if self.number:
            return info.number is not None
        for variant in info.variants:
            if variant in self.exact or (self.prefixes and variant.startswith(self.prefixes)):
                return True
        return False


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    """One lexicon row: a phrase pattern with its role or violence categories."""

    language: str
    elements: tuple[WordPattern, ...]
    categories: tuple[str, ...]  # violence categories, or a single role
    weight: float
    pattern: str
    origin: str  # file:line, for error messages and debugging
    role: str = field(init=False)  # 'violence', or the non-violence role of the row

    def __post_init__(self) -> None:
        first = self.categories[0]
        role = first if first == VETO or first in CASUALTY_ROLES else "violence"
        object.__setattr__(self, "role", role)


@dataclass(frozen=True, slots=True)
class NumberWord:
    """A number word of one language (see severity.py for how kinds combine)."""

    value: int
    kind: str


@dataclass(slots=True, eq=False)  # compared by identity: "None in infos" stays C-level
class WordInfo:
    """Everything the lexicon knows about one word in one language context (cached)."""

    norm: str
    variants: tuple[str, ...]
    first: tuple[LexiconEntry, ...]  # rows whose first element this word matches
    number: NumberWord | None
    filler: bool  # may stand between a casualty word and its number ("at least", "rose to")
    unit: bool  # a number followed by it is not a count ("3 days", "5 km")
    negation: tuple[int, int] | None  # (words after, words before) the cue negates
    scope_break: bool
    violent: bool = False  # a violence term by itself: a phrase's gap may not skip it


@dataclass(slots=True)
class _LanguageIndex:
    exact: dict[str, list[LexiconEntry]] = field(default_factory=dict)
    prefix: dict[str, list[LexiconEntry]] = field(default_factory=dict)
    prefix_lengths: tuple[int, ...] = ()
    number_first: list[LexiconEntry] = field(default_factory=list)
    negation: dict[str, tuple[int, int]] = field(default_factory=dict)
    scope_breaks: set[str] = field(default_factory=set)
    strip_prefixes: tuple[str, ...] = ()
    numbers: dict[str, NumberWord] = field(default_factory=dict)
    fillers: set[str] = field(default_factory=set)
    units: set[str] = field(default_factory=set)


# A pattern match: (first word, last word, lexicon row).
Match = tuple[int, int, "LexiconEntry"]


class LexiconError(ValueError):
    """A lexicon data file has a row that cannot be used."""


def compile_pattern(pattern: str, origin: str) -> tuple[WordPattern, ...]:
    """Parse the pattern syntax of the module docstring into word patterns."""
    elements: list[WordPattern] = []
    gap = 0
    for part in pattern.split():
        gap_match = _GAP.fullmatch(part)
        if gap_match:
            if not elements:
                raise LexiconError(f"{origin}: a pattern cannot start with a gap: {pattern!r}")
            gap = int(gap_match.group(1))
            continue
        if part == "<num>":
            elements.append(WordPattern(frozenset(), (), number=True, max_gap=gap))
            gap = 0
            continue
        exact: set[str] = set()
        prefixes: list[str] = []
        for alternative in part.split("|"):
            is_prefix = alternative.endswith("*")
            word = fold(alternative[:-1] if is_prefix else alternative)
            if not word or _WORD.fullmatch(word) is None:
                raise LexiconError(f"{origin}: {alternative!r} is not one word in {pattern!r}")
            (prefixes.append(word) if is_prefix else exact.add(word))
        elements.append(WordPattern(frozenset(exact), tuple(prefixes), max_gap=gap))
        gap = 0
    if not elements or gap:
        raise LexiconError(f"{origin}: empty pattern or trailing gap: {pattern!r}")
    return tuple(elements)


def _rows(path: Path) -> Iterable[tuple[str, list[str]]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        yield f"{path.name}:{number}", [cell.strip() for cell in line.split("\t")]


def load_categories(data_dir: Path = DATA_DIR) -> dict[str, float]:
    """Violence categories and their severity weights (data/violence_categories.tsv)."""
    weights: dict[str, float] = {}
    for origin, cells in _rows(data_dir / CATEGORIES_FILE):
        if len(cells) < 2:
            raise LexiconError(f"{origin}: expected category<TAB>weight<TAB>meaning")
        weights[cells[0]] = float(cells[1])
    return weights


def load_numbers(data_dir: Path = DATA_DIR) -> dict[str, list[tuple[str, int, str]]]:
    """Number words, units and fillers per language (data/numbers_<lang>.tsv)."""
    out: dict[str, list[tuple[str, int, str]]] = {}
    for path in sorted(data_dir.glob("numbers_*.tsv")):
        language = path.stem.removeprefix("numbers_")
        rows = out.setdefault(language, [])
        for origin, cells in _rows(path):
            if len(cells) < 3 or cells[2] not in NUMBER_FILE_KINDS:
                raise LexiconError(f"{origin}: expected word<TAB>value<TAB>kind, kind in "
                                   f"{sorted(NUMBER_FILE_KINDS)}")
            for word in cells[0].split("|"):
                rows.append((fold(word), int(cells[1]), cells[2]))
    return out


# --------------------------------------------------------------------------- lexicon


class ViolenceLexicon:
    """Violence terms, vetoes, negation cues, casualty words and number words of every language."""

    def __init__(
        self,
        entries: Sequence[LexiconEntry],
        cues: Sequence[tuple[str, str, str, int]],
        numbers: dict[str, list[tuple[str, int, str]]],
        category_weights: dict[str, float],
    ) -> None:
        self.entries = tuple(entries)
        self.category_weights = dict(category_weights)
        self._index: dict[str, _LanguageIndex] = {}
        for entry in self.entries:
            index = self._index.setdefault(entry.language, _LanguageIndex())
            first = entry.elements[0]
            if first.number:
                index.number_first.append(entry)
            for word in first.exact:
                index.exact.setdefault(word, []).append(entry)
            for stem in first.prefixes:
                index.prefix.setdefault(stem, []).append(entry)
        for language, role, word, scope in cues:
            index = self._index.setdefault(language, _LanguageIndex())
            if role == NEGATION or role == NEGATION_AFTER:
                after, before = index.negation.get(word, (0, 0))
                if role == NEGATION:
                    after = max(after, scope)
                else:
                    before = max(before, scope)
                index.negation[word] = (after, before)
            elif role == SCOPE_BREAK:
                index.scope_breaks.add(word)
            else:
                index.strip_prefixes = tuple(
                    sorted({*index.strip_prefixes, word}, key=len, reverse=True)
                )
        for language, rows in numbers.items():
            index = self._index.setdefault(language, _LanguageIndex())
            for word, value, kind in rows:
                if kind == "filler":
                    index.fillers.add(word)
                elif kind == "unit":
                    index.units.add(word)
                else:
                    index.numbers[word] = NumberWord(value, kind)
        self.scripts: dict[str, str] = {}
        for language, index in self._index.items():
            index.prefix_lengths = tuple(sorted({len(stem) for stem in index.prefix}))
            self.scripts[language] = _majority_script(
                [*index.exact, *index.prefix, *index.numbers]
            )
        self._by_script: dict[str, tuple[str, ...]] = {}
        for language, script in sorted(self.scripts.items()):
            self._by_script[script] = (*self._by_script.get(script, ()), language)
        self._all_languages = tuple(sorted(self._index))
        self._languages_cache: dict[tuple[str, str], tuple[str, ...]] = {}
        self._word_cache: dict[str, dict[str, WordInfo]] = {}  # segment language -> form -> info
        self._cached_words = 0
        # The taggers of one story (violence, casualties; body and headline) share these.
        self._recent_scans: dict[tuple[str, tuple[Segment, ...]], ScannedText] = {}
        self._recent_matches: dict[int, tuple[ScannedText, list[Match]]] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """Languages with a lexicon (ISO 639-1)."""
        return self._all_languages

    @classmethod
    def load(cls) -> ViolenceLexicon:
        """The lexicon of the package data files, read once per process."""
        return _load_default()

    @classmethod
    def from_dir(cls, data_dir: Path) -> ViolenceLexicon:
        """Read every violence_<lang>.tsv and numbers_<lang>.tsv of a directory."""
        categories = load_categories(data_dir)
        allowed_roles = {VETO, DEAD, INJURED}
        entries: list[LexiconEntry] = []
        cues: list[tuple[str, str, str, int]] = []
        for path in sorted(data_dir.glob("violence_*.tsv")):
            if path.name == CATEGORIES_FILE:
                continue
            language = path.stem.removeprefix("violence_")
            for origin, cells in _rows(path):
                if len(cells) < 2:
                    raise LexiconError(f"{origin}: expected pattern<TAB>category<TAB>weight")
                pattern, category_cell = cells[0], cells[1]
                number_cell = cells[2] if len(cells) > 2 else ""
                if category_cell in _CUE_ROLES:
                    scope = int(number_cell) if number_cell not in ("", "-") else 0
                    for word in pattern.split("|"):
                        # An elided cue ("n'" of "n'a") is one word without its apostrophe.
                        bare = fold(word).rstrip("'")
                        if category_cell != STRIP_PREFIX and _WORD.fullmatch(bare) is None:
                            raise LexiconError(f"{origin}: cue {word!r} is not one word")
                        cues.append((language, category_cell, fold(word), scope))
                    continue
                names = tuple(name.strip() for name in category_cell.split(","))
                for name in names:
                    bare = name.removeprefix(CONTEXT_MARK)
                    if bare not in categories and name not in allowed_roles and name != ATTACK:
                        raise LexiconError(f"{origin}: unknown category {name!r}")
                if len(names) > 1 and any(name in allowed_roles for name in names):
                    raise LexiconError(f"{origin}: a role cannot be combined: {category_cell!r}")
                try:
                    weight = float(number_cell) if number_cell not in ("", "-") else 1.0
                except ValueError:
                    message = f"{origin}: weight {number_cell!r} is not a number"
                    raise LexiconError(message) from None
                if not 0.0 <= weight <= 1.0:
                    raise LexiconError(f"{origin}: weight {weight} outside 0..1")
                entries.append(LexiconEntry(language, compile_pattern(pattern, origin), names,
                                            weight, pattern, origin))
        return cls(entries, cues, load_numbers(data_dir), categories)

    # ------------------------------------------------------------------ per word

    def languages_for(self, segment_language: str, script: str) -> tuple[str, ...]:
        """Lexicon languages to try for a word of a script in a segment of a language."""
        key = (segment_language, script)
        found = self._languages_cache.get(key)
        if found is None:
            known = segment_language in self._index
            if script == "digit":
                found = (segment_language,) if known else self._all_languages
            elif known and self.scripts[segment_language] == script:
                found = (segment_language,)
            else:
                found = self._by_script.get(script, ())
            self._languages_cache[key] = found
        return found

    def word_info(self, segment_language: str, raw: str) -> WordInfo:
        """What the lexicon knows about a word of a segment (cached per language and form)."""
        info = self._word_infos(segment_language, [raw])[0]
        assert info is not None  # _word_infos fills every slot
        return info

    def _word_infos(self, segment_language: str, raws: Sequence[str]) -> list[WordInfo | None]:
        """word_info of many words of one segment language (one C-level pass when cached)."""
        cache = self._word_cache.get(segment_language)
        if cache is None:
            cache = self._word_cache[segment_language] = {}
        infos: list[WordInfo | None] = list(map(cache.get, raws))
        if None in infos:
            for k, info in enumerate(infos):
                if info is None:
                    raw = raws[k]
                    info = cache.get(raw)
                    if info is None:
                        if self._cached_words > MAX_CACHED_WORDS:
                            self._word_cache.clear()
                            self._cached_words = 0
                            cache = self._word_cache[segment_language] = {}
                        info = self._describe(raw, self.languages_for(segment_language,
                                                                      script_of(raw)))
                        cache[raw] = info
                        self._cached_words += 1
                    infos[k] = info
        return infos

    def _describe(self, raw: str, languages: tuple[str, ...]) -> WordInfo:
        norm = fold(raw)
        variants = [norm]
        if "'" in norm:
            head, _, tail = norm.rpartition("'")
            if tail:
                variants.append(tail)
            variants.append(head.split("'")[0] + "'")
        indexes = [self._index[language] for language in languages]
        for index in indexes:
            for clitic in index.strip_prefixes:
                if norm.startswith(clitic) and len(norm) - len(clitic) >= 2:
                    variants.append(norm[len(clitic):])
        number: NumberWord | None = None
        if _DIGITS.fullmatch(norm):
            number = NumberWord(int(re.sub(r"\D", "", norm)), "add")
        first: list[LexiconEntry] = []
        filler = unit = scope_break = False
        negation: tuple[int, int] | None = None
        for index in indexes:
            for variant in variants:
                first.extend(index.exact.get(variant, ()))
                for length in index.prefix_lengths:
                    if length > len(variant):
                        break
                    first.extend(index.prefix.get(variant[:length], ()))
            if number is None:
                number = index.numbers.get(norm)
            filler = filler or norm in index.fillers
            unit = unit or norm in index.units
            scope_break = scope_break or norm in index.scope_breaks
            for variant in variants:
                cue = index.negation.get(variant)
                if cue is not None:
                    negation = cue if negation is None else (max(cue[0], negation[0]),
                                                             max(cue[1], negation[1]))
        if number is not None:
            for index in indexes:
                first.extend(index.number_first)
        unique = tuple(dict.fromkeys(first))
        violent = any(len(e.elements) == 1 and e.role == "violence" for e in unique)
        return WordInfo(norm, tuple(dict.fromkeys(variants)), unique, number, filler, unit,
                        negation, scope_break, violent)

    # ------------------------------------------------------------------ per text

    def scan(self, text: str, segments: Sequence[Segment]) -> ScannedText:
        """Words of a text with what the lexicon knows about each (memoized for recent texts)."""
        key = (text, tuple(segments))
        recent = self._recent_scans.get(key)
        if recent is not None:
            return recent
        starts, ends, raws = words_of(text)
        infos: list[WordInfo] = []
        for language, low, high in _language_runs(starts, key[1]):
            infos.extend(self._word_infos(language, raws[low:high]))  # type: ignore[arg-type]
        scanned = ScannedText(text, key[1], starts, ends, infos)
        if len(self._recent_scans) >= RECENT_TEXTS:
            self._recent_scans.clear()
            self._recent_matches.clear()
        self._recent_scans[key] = scanned
        return scanned

    def matches(self, scanned: ScannedText) -> list[tuple[int, int, LexiconEntry]]:
        """Every (first word, last word, row) whose pattern matches, in text order (memoized)."""
        recent = self._recent_matches.get(id(scanned))
        if recent is not None and recent[0] is scanned:
            return recent[1]
        found: list[tuple[int, int, LexiconEntry]] = []
        infos = scanned.infos
        count = len(infos)
        for i in scanned.hits:
            for entry in infos[i].first:
                elements = entry.elements
                if len(elements) == 1:
                    found.append((i, i, entry))
                    continue
                second = elements[1]
                # Most phrases start with a common word ("was", "the"): test the next word first.
                if not second.max_gap and (i + 1 == count or not second.matches(infos[i + 1])):
                    continue
                end = _extend(elements, 1, i, scanned)
                if end >= 0:
                    found.append((i, end, entry))
        if any(kept is scanned for kept in self._recent_scans.values()):
            self._recent_matches[id(scanned)] = (scanned, found)
        return found

    def negated(self, scanned: ScannedText, first: int, last: int) -> bool:
        """True when a negation cue reaches the words first..last (punctuation stops cues)."""
        cues = scanned.cues
        if not cues:
            return False
        infos = scanned.infos
        stops = scanned.scope_breaks
        for j in cues[bisect_left(cues, first - MAX_NEGATION_SCOPE):]:
            if j > last + MAX_NEGATION_SCOPE:
                break
            info = infos[j]
            if first <= j <= last or info.scope_break or info.negation is None:
                continue
            if j < first:
                if info.negation[0] >= first - j and not scanned.breaks.between(j, first) \
                        and not _any_between(stops, j, first):
                    return True
            elif info.negation[1] >= j - last and not scanned.breaks.between(last, j) \
                    and not _any_between(stops, last, j):
                return True
        return False


def _any_between(ordered: Sequence[int], low: int, high: int) -> bool:
    """True when a number of the sorted sequence lies strictly between low and high."""
    k = bisect_right(ordered, low)
    return k < len(ordered) and ordered[k] < high


def _majority_script(words: Iterable[str]) -> str:
    counts: dict[str, int] = {}
    for word in words:
        script = script_of(word)
        if script != "digit":
            counts[script] = counts.get(script, 0) + 1
    return max(counts, key=lambda s: counts[s]) if counts else "other"


def _language_runs(
    starts: Sequence[int], segments: Sequence[Segment]
) -> list[tuple[str, int, int]]:
    """(language, first word, end word) runs covering every word; 'und' outside all segments."""
    runs: list[tuple[str, int, int]] = []
    done = 0
    for segment in sorted(segments, key=lambda s: s.start):
        low = max(done, bisect_left(starts, segment.start, done))
        high = max(low, bisect_left(starts, segment.end, low))
        if low > done:
            runs.append((UNKNOWN_LANGUAGE, done, low))
        if high > low:
            runs.append((segment.language, low, high))
        done = high
    if done < len(starts):
        runs.append((UNKNOWN_LANGUAGE, done, len(starts)))
    return runs


def _word_languages(starts: Sequence[int], segments: Sequence[Segment]) -> list[str]:
    """Language of the segment holding each word start ('und' outside every segment)."""
    out: list[str] = []
    for language, low, high in _language_runs(starts, segments):
        out.extend([language] * (high - low))
    return out


def _extend(elements: Sequence[WordPattern], k: int, previous: int, scanned: ScannedText) -> int:
    """Index of the last word of a match of elements[k:] after word `previous`, or -1."""
    element = elements[k]
    infos = scanned.infos
    last = min(len(infos) - 1, previous + 1 + element.max_gap)
    for j in range(previous + 1, last + 1):
        if scanned.breaks.between(previous, j):
            return -1
        info = infos[j]
        if element.matches(info):
            if k + 1 == len(elements):
                return j
            end = _extend(elements, k + 1, j, scanned)
            if end >= 0:
                return end
        if info.violent:  # "seized and set fire to the building": no gap over another term
            return -1
    return -1


class ScannedText:
    """A text's words, offsets and lexicon facts (indexes of special words built on demand)."""

    __slots__ = ("_cues", "_numbers", "_scope_breaks", "breaks", "ends", "hits", "infos",
                 "segments", "starts", "text")

    def __init__(self, text: str, segments: tuple[Segment, ...], starts: Sequence[int],
                 ends: Sequence[int], infos: Sequence[WordInfo]) -> None:
        self.text = text
        self.segments = segments
        self.starts = starts
        self.ends = ends
        self.infos = infos
        self.breaks = BreakIndex(text, starts, ends)
        # Words that may start a lexicon pattern.
        self.hits: tuple[int, ...] = tuple(compress(range(len(infos)), map(_FIRST_ENTRIES, infos)))
        self._cues: tuple[int, ...] | None = None
        self._scope_breaks: tuple[int, ...] | None = None
        self._numbers: tuple[int, ...] | None = None

    def _where(self, facts: attrgetter[object]) -> tuple[int, ...]:
        return tuple(compress(range(len(self.infos)), map(facts, self.infos)))

    @property
    def cues(self) -> tuple[int, ...]:
        """Negation cues."""
        if self._cues is None:
            self._cues = self._where(_NEGATION)
        return self._cues

    @property
    def scope_breaks(self) -> tuple[int, ...]:
        """Words that end a negation cue's reach."""
        if self._scope_breaks is None:
            self._scope_breaks = self._where(_SCOPE_BREAK)
        return self._scope_breaks

    @property
    def numbers(self) -> tuple[int, ...]:
        """Number words and digits."""
        if self._numbers is None:
            self._numbers = self._where(_NUMBER)
        return self._numbers


@lru_cache(maxsize=1)
def _load_default() -> ViolenceLexicon:
    return ViolenceLexicon.from_dir(DATA_DIR)


# --------------------------------------------------------------------------- tagger


class ViolenceTagger:
    """Finds violence mentions in a story: vetoes and negated terms removed, overlaps resolved."""

    def __init__(self, lexicon: ViolenceLexicon) -> None:
        self.lexicon = lexicon

    def tag(self, text: str, segments: Sequence[Segment]) -> list[ViolenceMention]:
        """Violence mentions of text in order; one per category of each matched phrase."""
        lexicon = self.lexicon
        scanned = lexicon.scan(text, segments)
        found = lexicon.matches(scanned)
        if not found:
            return []
        vetoes = [(first, last) for first, last, entry in found if entry.role == VETO]
        candidates = [
            (first, last, entry) for first, last, entry in found
            if entry.role == "violence" and not _vetoed(first, last, vetoes)
        ]
        candidates.sort(key=lambda m: (m[0], m[0] - m[1], -m[2].weight))
        mentions: list[ViolenceMention] = []
        taken_until = -1
        for first, last, entry in candidates:
            if first <= taken_until:
                continue
            taken_until = last
            if lexicon.negated(scanned, first, last):
                continue
            start, end = scanned.starts[first], scanned.ends[last]
            start += _elision_length(scanned.infos[first], entry.elements[0])
            for category in entry.categories:
                mentions.append(
                    ViolenceMention(text[start:end], start, end, category, entry.weight)
                )
        return resolve_context(mentions)


def resolve_context(mentions: list[ViolenceMention]) -> list[ViolenceMention]:
    """Give context-dependent mentions their category (see the module docstring)."""
    if not any(m.category[0] == CONTEXT_MARK for m in mentions):
        return mentions
    counts: dict[str, int] = {}
    for mention in mentions:
        if mention.category[0] != CONTEXT_MARK:
            counts[mention.category] = counts.get(mention.category, 0) + 1
    family = [category for category in ATTACK_FAMILY if counts.get(category)]
    if "terrorism" in family:
        dominant = "terrorism"
    elif family:
        dominant = max(family, key=lambda c: counts[c])
        dominant = ATTACK_AS.get(dominant, dominant)
    else:
        dominant = ATTACK_FALLBACK
    resolved: list[ViolenceMention] = []
    for mention in mentions:
        category = mention.category
        if category == ATTACK:
            category = dominant
        elif category[0] == CONTEXT_MARK:
            category = category[1:]
            if not counts.get(category):
                continue
        else:
            resolved.append(mention)
            continue
        resolved.append(ViolenceMention(mention.text, mention.start, mention.end, category,
                                        mention.weight))
    return resolved


def _elision_length(info: WordInfo, element: WordPattern) -> int:
    """Characters of an elided article the match does not include ("l'" of "l'explosion")."""
    norm = info.norm
    if "'" not in norm or norm in element.exact or norm.startswith(element.prefixes or ("\0",)):
        return 0
    return norm.rfind("'") + 1


def _vetoed(first: int, last: int, vetoes: Sequence[tuple[int, int]]) -> bool:
    for veto_first, veto_last in vetoes:
        if first <= veto_last and veto_first <= last:
            contains = first <= veto_first and veto_last <= last
            if not (contains and last - first > veto_last - veto_first):
                return True
    return False

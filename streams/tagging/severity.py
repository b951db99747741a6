"""Casualty counts stated in a story and its 0..100 severity score (pure, data from the lexicon).

Casualty counts
---------------
Casualty words are the ``dead`` and ``injured`` rows of ``data/violence_<lang>.tsv``
("killed", "νεκροί", "погибших", "heridos"); numbers are digits ("164", "1,200") or the
number words of ``data/numbers_<lang>.tsv``, whose kinds combine left to right:

* ``add`` adds its value ("twenty one" = 21, "δύο" = 2);
* ``mul`` multiplies what came before, or 1 ("two hundred" = 200, "a dozen" = 12);
* ``scale`` closes a group ("two thousand five hundred" = 2500, "χιλιάδες" = 1000);
* ``approx`` is a vague amount taken as its lower bound ("dozens"/"δεκάδες"/"десятки" = 24,
  "hundreds" = 200, "several" = 3);
* ``unit`` after a number makes it no count ("3 days", "12 января", "25-year-old");
* a word of value 0 ("and", "y") joins two number words when the first is larger or a
  ``mul``/``scale`` word ("two hundred and fifty", "treinta y cinco"), never digits;
* ``filler`` words may stand between a casualty word and a number after it
  ("killed at least 12", "death toll rose to 12", "погибли не менее 12").

Each number is given to one casualty word: the next one after it within
``NUMBER_BEFORE_WORD_GAP`` words ("12 people were killed", "164 погибших"), or the previous
one when only fillers lie between ("killing 12", "число погибших возросло до 164"),
whichever is closer; punctuation, another number or a negated casualty word ("no one was
killed") end the search. Years (1900..2099 written without separators) are not counts.
A story's killed (injured) count is the largest number given to a dead (injured) word:
stories repeat and update figures, so summing would count the same people twice.

Severity score
--------------
``severity_score`` is 0 when the story has no violence mention, else::

    categories = p1 + 0.5 * p2 + 0.25 * (p3 + p4 + ...)          capped at 60
        where p = category weight (violence_categories.tsv) * the strongest
        mention weight (ViolenceMention.weight, 0..1) of that category, sorted descending
    volume     = min(8, 2 * log2(1 + number of mentions))
    casualties = min(35, 12 * log10(1 + killed)) + min(15, 6 * log10(1 + injured))
    severity   = round(min(100, categories + volume + casualties))

So one arrest scores about 6, a stabbing about 20, a shooting with one dead about 50, a
bombing that killed 100 about 85; the Almaty story (killing, clashes, shooting, storming,
arson, crackdown, dozens killed) about 85.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

from streams.tagging.model import Casualties, Segment, ViolenceMention
from streams.tagging.violence import (
    DEAD,
    INJURED,
    NumberWord,
    ScannedText,
    ViolenceLexicon,
    load_categories,
)

# Words allowed between a number and the casualty word after it ("dozens of people were killed").
NUMBER_BEFORE_WORD_GAP = 5
# Filler words allowed between a casualty word and the number after it ("toll rose to at least 12").
WORD_BEFORE_NUMBER_GAP = 5

CATEGORY_CAP = 60.0
VOLUME_CAP = 8.0
KILLED_CAP = 35.0
INJURED_CAP = 15.0
DEFAULT_CATEGORY_WEIGHT = 10.0


@lru_cache(maxsize=1)
def _category_weights() -> dict[str, float]:
    return load_categories()


def _lexicon() -> ViolenceLexicon:
    return ViolenceLexicon.load()  # read once per process (cached by the lexicon module)


def casualty_counts(text: str, segments: Sequence[Segment]) -> Casualties:
    """Dead and injured stated in text (lower bounds; 0 when no figure is given)."""
    lexicon = _lexicon()
    scanned = lexicon.scan(text, segments)
    spans = _casualty_spans(lexicon, scanned)
    if not spans:
        return Casualties()
    role_of: dict[int, str] = {}
    for first, last, role in spans:
        for i in range(first, last + 1):
            role_of.setdefault(i, role)
    counts = {DEAD: 0, INJURED: 0}
    infos = scanned.infos
    done = -1
    for i in scanned.numbers:
        number = infos[i].number
        if i <= done or number is None or number.value == 0 or i in role_of:
            continue
        done = _group_end(scanned, i, role_of)
        value = _group_value(scanned, i, done)
        if value > 0:
            owner = _owner(scanned, i, done, role_of)
            if owner is not None and value > counts[owner]:
                counts[owner] = value
    return Casualties(killed=counts[DEAD], injured=counts[INJURED])


def _casualty_spans(lexicon: ViolenceLexicon, scanned: ScannedText) -> list[tuple[int, int, str]]:
    spans: list[tuple[int, int, str]] = []
    for first, last, entry in lexicon.matches(scanned):
        role = entry.role
        if role != DEAD and role != INJURED:
            continue
        if lexicon.negated(scanned, first, last):
            continue
        spans.append((first, last, role))
    return spans


def _group_end(scanned: ScannedText, first: int, role_of: dict[int, str]) -> int:
    """Last word of the run of number words starting at first ("two hundred and fifty")."""
    infos = scanned.infos
    end = first
    while end + 1 < len(infos) and end + 1 not in role_of \
            and not scanned.breaks.between(end, end + 1):
        following = infos[end + 1].number
        if following is None:
            break
        if following.value == 0 and not _joins(scanned, end, end + 2):
            break
        end += 1
    return end


def _joins(scanned: ScannedText, previous: int, following: int) -> bool:
    """A joiner word ("and", "y") between two number words, larger first ("treinta y cinco")."""
    infos = scanned.infos
    if following >= len(infos) or scanned.breaks.between(previous, following):
        return False
    left, right = infos[previous], infos[following]
    if left.number is None or right.number is None or right.number.value == 0:
        return False
    if left.norm[0].isdigit() or right.norm[0].isdigit():
        return False
    return left.number.kind in ("mul", "scale") or left.number.value > right.number.value


def _group_value(scanned: ScannedText, first: int, last: int) -> int:
    """Value of the number words first..last, 0 when they are no count (a year, "3 days")."""
    infos = scanned.infos
    if last + 1 < len(infos) and infos[last + 1].unit \
            and not scanned.breaks.between(last, last + 1):
        return 0
    words: list[NumberWord] = [info.number for info in infos[first:last + 1] if info.number]
    if len(words) == 1 and infos[first].norm.isdigit() and len(infos[first].norm) == 4 \
            and 1900 <= words[0].value <= 2099:
        return 0
    return combine_number_words(words)


def combine_number_words(words: Sequence[NumberWord]) -> int:
    """Value of a run of number words, by their kinds (see the module docstring)."""
    total = 0
    current = 0
    for word in words:
        if word.kind == "add":
            current += word.value
        elif word.kind == "mul" or word.kind == "approx":
            current = (current or 1) * word.value
        elif word.kind == "scale":
            total += (current or 1) * word.value
            current = 0
    return total + current


def _owner(scanned: ScannedText, first: int, last: int, role_of: dict[int, str]) -> str | None:
    """The casualty role a number group belongs to: nearest casualty word, see module docstring."""
    infos = scanned.infos
    breaks = scanned.breaks
    after: tuple[int, str] | None = None
    for j in range(last + 1, min(len(infos), last + 2 + NUMBER_BEFORE_WORD_GAP)):
        if breaks.between(j - 1, j):
            break
        role = role_of.get(j)
        if role is not None:
            after = (j - last - 1, role)
            break
        if infos[j].number is not None:
            break
    before: tuple[int, str] | None = None
    for j in range(first - 1, max(-1, first - 2 - WORD_BEFORE_NUMBER_GAP), -1):
        if breaks.between(j, j + 1):
            break
        role = role_of.get(j)
        if role is not None:
            before = (first - 1 - j, role)
            break
        if not infos[j].filler:
            break
    if after is None:
        return None if before is None else before[1]
    if before is None or after[0] <= before[0]:
        return after[1]
    return before[1]


def severity_score(violence: Sequence[ViolenceMention], casualties: Casualties) -> int:
    """0..100 from categories, mention strength and casualties (formula in the module docstring)."""
    if not violence:
        return 0
    weights = _category_weights()
    strongest: dict[str, float] = {}
    for mention in violence:
        points = weights.get(mention.category, DEFAULT_CATEGORY_WEIGHT) * mention.weight
        if points > strongest.get(mention.category, -1.0):
            strongest[mention.category] = points
    ranked = sorted(strongest.values(), reverse=True)
    categories = ranked[0]
    if len(ranked) > 1:
        categories += 0.5 * ranked[1] + 0.25 * sum(ranked[2:])
    categories = min(CATEGORY_CAP, categories)
    volume = min(VOLUME_CAP, 2.0 * math.log2(1 + len(violence)))
    killed = min(KILLED_CAP, 12.0 * math.log10(1 + max(0, casualties.killed)))
    injured = min(INJURED_CAP, 6.0 * math.log10(1 + max(0, casualties.injured)))
    return max(0, min(100, round(categories + volume + killed + injured)))

"""Language of each span of a story: Unicode script first, function words next, lingua last."""

from __future__ import annotations

import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

from streams.tagging.model import Segment
from streams.tagging.text import bmp_class, is_bmp

UNDETERMINED = "und"

# Letters of one script, as runs. Latin covers ASCII and the Latin-1/Extended-A/B blocks.
_LATIN = re.compile(r"[A-Za-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u024F]+")
_GREEK = re.compile(r"[\u0370-\u03FF\u1F00-\u1FFF]+")
_CYRILLIC = re.compile(r"[\u0400-\u052F]+")
_ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]+")
_SCRIPT_PATTERNS = (
    ("latin", _LATIN), ("greek", _GREEK), ("cyrillic", _CYRILLIC), ("arabic", _ARABIC))
# A letter of none of the scripts above (Hebrew, Han, Devanagari...).
_FOREIGN_LETTER = re.compile(
    r"[^\W\d_A-Za-z\u00C0-\u024F\u0370-\u03FF\u1F00-\u1FFF\u0400-\u052F"
    r"\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]"
)

# The code point ranges of the four patterns above (characters beyond the BMP are in none).
_SCRIPT_RANGES_BY_NAME = (
    ("latin", ((0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x24F))),
    ("greek", ((0x370, 0x3FF), (0x1F00, 0x1FFF))),
    ("cyrillic", ((0x400, 0x52F),)),
    ("arabic", ((0x600, 0x6FF), (0x750, 0x77F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF))),
)
_SCRIPT_NAMES = tuple(name for name, _ in _SCRIPT_RANGES_BY_NAME)
# Every byte but the ASCII letters: what an ASCII line loses to leave its Latin letters.
_ASCII_NON_LETTERS = bytes(b for b in range(128) if not chr(b).isalpha())


def _unit_rules() -> tuple[tuple[tuple[str, bytes], ...], tuple[tuple[str, bytes], ...], bytes,
                           bytes]:
    """The script ranges as rules on UTF-16 code units (high byte, low byte): high bytes whose
    every unit belongs to a script, and partial blocks as one bit each, set in a table of high
    bytes and in a table of the low bytes that complete them."""
    owner: dict[int, str] = {}
    for name, ranges in _SCRIPT_RANGES_BY_NAME:
        for low, high in ranges:
            for code in range(low, high + 1):
                owner[code] = name
    full: list[tuple[str, bytes]] = []
    partial: list[tuple[str, bytes]] = []
    high_bits = bytearray(256)
    low_bits = bytearray(256)
    for hi in range(256):
        block = [owner.get(hi << 8 | lo) for lo in range(256)]
        names = {name for name in block if name is not None}
        if len(names) == 1 and None not in block:
            full.append((names.pop(), bytes([hi])))
            continue
        for name in sorted(names):  # a block shared by two scripts is two rules
            bit = 1 << len(partial)
            if bit > 0x80:
                raise ValueError("more partial script blocks than bits in a byte")
            partial.append((name, bytes([bit])))
            high_bits[hi] |= bit
            for lo in range(256):
                if owner.get(hi << 8 | lo) == name:
                    low_bits[lo] |= bit
    return tuple(full), tuple(partial), bytes(high_bits), bytes(low_bits)


_FULL_UNITS, _PARTIAL_UNITS, _HIGH_BITS, _LOW_BITS = _unit_rules()

# A word-sized run of letters of any script, used to split mixed-script lines.
_LETTER_RUN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
# _LETTER_RUN for BMP text (see text.bmp_class).
_BMP_LETTER = bmp_class(lambda ch: ch.isalnum() and not ch.isdecimal())
_BMP_LETTER_RUN = re.compile(_BMP_LETTER + "+(?:['’]" + _BMP_LETTER + "+)*")
_LINE = re.compile(r"[^\n]*\n|[^\n]+")
_SENTENCE_END = re.compile(r"(?<=[.!?…»\"”])\s+(?=[\"“«(]?[^\W\d_])")

# Scripts that name their language outright (first code point of a run -> language).
_SCRIPT_RANGES: tuple[tuple[int, int, str], ...] = (
    (0x0530, 0x058F, "hy"),
    (0x0590, 0x05FF, "he"),
    (0x0900, 0x097F, "hi"),
    (0x0E00, 0x0E7F, "th"),
    (0x10A0, 0x10FF, "ka"),
    (0x3040, 0x30FF, "ja"),
    (0xAC00, 0xD7AF, "ko"),
    (0x4E00, 0x9FFF, "zh"),
)
_LATIN_LANGUAGES = ("en", "fr", "es", "pt", "it", "de", "nl", "tr", "pl", "ro", "sv", "id")
_CYRILLIC_LANGUAGES = ("ru", "uk", "bg", "sr", "be", "kk", "mk")
_KAZAKH_ONLY = re.compile("[әғқұһӘҒҚҰҺ]")
_PERSIAN_LETTERS = frozenset("پچژگ")
_URDU_LETTERS = frozenset("ٹڈڑےں")

# Below these sizes a minority script inside a line stays part of the line's language
# ("Reuters" in a Greek sentence, "#Казахстан" at the end of an English tweet).
_MIN_RUN_WORDS = 3
_MIN_RUN_LETTERS = 12
# Function-word scoring reads this many characters at most: enough to decide, bounded in time.
_MAX_SCORED_CHARS = 600
# Lines up to this length get one language; longer ones are split into sentences.
_WHOLE_LINE_CHARS = 240
# A long line whose first characters score this clearly for one language is not split.
_DECISIVE_CHARS = 400


def _load_signals() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Function words and distinctive letters per language from the data file."""
    words: dict[str, list[str]] = {}
    letters: dict[str, list[str]] = {}
    text = resources.files("streams.tagging").joinpath("data/langid_function_words.tsv")
    for line in text.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        language, kind, items = line.split("\t")
        target = words if kind == "words" else letters
        for item in items.split():
            target.setdefault(item, []).append(language)
    return (
        {w: tuple(langs) for w, langs in words.items()},
        {c: tuple(langs) for c, langs in letters.items()},
    )


class LanguageSegmenter:
    """Splits a story into spans of one language each (ISO 639-1 codes, 'und' when unknown)."""

    def __init__(self) -> None:
        self._word_languages, self._letter_languages = _load_signals()
        self._letter_class = re.compile(
            "[" + re.escape("".join(sorted(self._letter_languages))) + "]"
        )
        # Text in ASCII cannot hold a distinctive letter unless one of them is ASCII.
        self._ascii_letters = any(letter.isascii() for letter in self._letter_languages)
        self._lingua: Any = None
        self._lingua_codes: dict[Any, str] = {}
        try:
            from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
        except ImportError:  # pragma: no cover - lingua is a declared dependency
            return
        languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper()))
                     for c in _LATIN_LANGUAGES]
        self._lingua = (
            LanguageDetectorBuilder.from_languages(*languages)
            .with_low_accuracy_mode()
            .with_preloaded_language_models()
            .build()
        )
        self._lingua_codes = {lang: lang.iso_code_639_1.name.lower() for lang in languages}

    def segments(self, text: str, hint: str | None = None) -> list[Segment]:
        """Consecutive spans covering text, each tagged with its language."""
        if not text:
            return []
        pieces: list[tuple[int, int, str]] = []
        for line in _LINE.finditer(text):
            start, end = line.span()
            if end - start == 1 and text[start] == "\n":
                pieces.append((start, end, ""))  # an empty line joins its neighbours
                continue
            pieces.extend(self._line_pieces(text, start, end, hint))
        return _merge(pieces, len(text))

    def story_language(self, segments: list[Segment]) -> str:
        """The language that covers most characters ('und' when none is known)."""
        sizes: dict[str, int] = {}
        for segment in segments:
            if segment.language != UNDETERMINED:
                size = segment.end - segment.start
                sizes[segment.language] = sizes.get(segment.language, 0) + size
        if not sizes:
            return UNDETERMINED
        return max(sizes.items(), key=lambda item: item[1])[0]

    def language_of(self, text: str, hint: str | None = None) -> str:
        """The language of one span of a single script (the script decides first)."""
        script = _dominant_script(text)
        return self._script_language(script, text, hint)

    def _line_pieces(
        self, text: str, start: int, end: int, hint: str | None
    ) -> Iterator[tuple[int, int, str]]:
        line = text[start:end]
        counts = _script_counts(line)
        letters = sum(counts.values())
        if letters == 0:
            yield (start, end, "")  # no letters: joins its neighbours
            return
        script, top = max(counts.items(), key=lambda item: item[1])
        if top == letters or top >= 0.9 * letters:
            if script not in ("latin", "cyrillic") or len(line) <= _WHOLE_LINE_CHARS:
                yield (start, end, self._script_language(script, line, hint))
                return
            decided = self._decisive(script, line)
            if decided:
                yield (start, end, decided)
                return
            # A long paragraph: each sentence on its own; an undecided sentence joins its
            # neighbours instead of becoming a segment of its own.
            for s, e in _sentences(line, start):
                language = self._script_language(script, text[s:e], hint)
                yield (s, e, "" if language == UNDETERMINED else language)
            return
        for s, e, run_script in _script_runs(line, start):
            yield (s, e, self._script_language(run_script, text[s:e], hint))

    def _script_language(self, script: str, span: str, hint: str | None) -> str:
        if script == "greek":
            return "el"
        if script == "cyrillic":
            return self._cyrillic_language(span, hint)
        if script == "latin":
            return self._latin_language(span, hint)
        if script == "arabic":
            letters = set(span)
            if letters & _URDU_LETTERS:
                return "ur"
            if letters & _PERSIAN_LETTERS:
                return "fa"
            return "ar"
        if script == "":
            return ""
        return script  # already a language code for single-language scripts

    def _scores(self, span: str, languages: tuple[str, ...]) -> dict[str, float]:
        lowered = span[:_MAX_SCORED_CHARS].lower()
        # One point per function word, three per distinctive letter.
        points: dict[str, int] = {}
        runs = (_BMP_LETTER_RUN if is_bmp(lowered) else _LETTER_RUN).findall(lowered)
        for found in filter(None, map(self._word_languages.get, runs)):
            for language in found:
                points[language] = points.get(language, 0) + 1
        if self._ascii_letters or not lowered.isascii():
            letters = self._letter_class.findall(lowered)
            if letters:
                letter_languages = self._letter_languages
                for letter in set(letters):
                    count = 3 * letters.count(letter)
                    for language in letter_languages[letter]:
                        points[language] = points.get(language, 0) + count
        return {language: float(points.get(language, 0)) for language in languages}

    def _decisive(self, script: str, line: str) -> str:
        """The language of a long line when its opening words leave no doubt, else ''."""
        languages = _LATIN_LANGUAGES if script == "latin" else _CYRILLIC_LANGUAGES
        if script == "cyrillic" and len(_KAZAKH_ONLY.findall(line)) >= 2:
            return ""
        best, best_score, second_score = _top_two(self._scores(line[:_DECISIVE_CHARS], languages))
        if best_score >= 6 and best_score >= 4 * second_score:
            return best
        return ""

    def _cyrillic_language(self, span: str, hint: str | None) -> str:
        if len(_KAZAKH_ONLY.findall(span)) >= 2:
            return "kk"  # letters no other Cyrillic language here uses
        scores = self._scores(span, _CYRILLIC_LANGUAGES)
        best, best_score = max(scores.items(), key=lambda item: item[1])
        if best_score > 0:
            return best
        if hint in _CYRILLIC_LANGUAGES:
            return hint
        return "ru"

    def _latin_language(self, span: str, hint: str | None) -> str:
        scores = self._scores(span, _LATIN_LANGUAGES)
        best, best_score, second_score = _top_two(scores)
        if best_score >= 2 and best_score >= 1.5 * second_score:
            return best
        if hint in _LATIN_LANGUAGES and scores[hint] >= second_score:
            return hint
        words = [w for w in _LETTER_RUN.findall(span) if not w[:1].isupper()]
        if self._lingua is not None and sum(map(len, words)) >= 20:
            detected = self._lingua.detect_language_of(span)
            if detected is not None:
                return self._lingua_codes[detected]
        if best_score >= 1 and best_score > second_score:
            return best
        return UNDETERMINED


def _top_two(scores: dict[str, float]) -> tuple[str, float, float]:
    """The best language (the first one on a tie), its score and the next best score."""
    ranked = sorted(scores.values(), reverse=True)
    best_score = ranked[0]
    best = next(language for language, score in scores.items() if score == best_score)
    return best, best_score, ranked[1]


def _script_counts(line: str) -> dict[str, int]:
    if line.isascii():
        latin = len(line.encode("ascii").translate(None, _ASCII_NON_LETTERS))
        return {"latin": latin} if latin else {}
    # Characters of each script, counted on UTF-16 code units at C speed: whole blocks by their
    # high byte, partial blocks by ANDing bit masks of high and low bytes (one bit per block).
    units = line.encode("utf-16-be", "surrogatepass")
    high = units[0::2]
    both = (int.from_bytes(high.translate(_HIGH_BITS), "big")
            & int.from_bytes(units[1::2].translate(_LOW_BITS), "big")).to_bytes(len(high), "big")
    found = dict.fromkeys(_SCRIPT_NAMES, 0)
    for script, unit in _FULL_UNITS:
        found[script] += high.count(unit)
    for script, bit in _PARTIAL_UNITS:
        found[script] += both.count(bit)
    counts: dict[str, int] = {script: n for script, n in found.items() if n}
    if _FOREIGN_LETTER.search(line):
        for run in _LETTER_RUN.findall(line):
            language = _single_language_script(run)
            if language:
                counts[language] = counts.get(language, 0) + len(run)
    return counts


def _single_language_script(run: str) -> str:
    code = ord(run[0])
    for low, high, language in _SCRIPT_RANGES:
        if low <= code <= high:
            return language
    return ""


def _script_of_run(run: str) -> str:
    for script, pattern in _SCRIPT_PATTERNS:
        if pattern.match(run):
            return script
    return _single_language_script(run)


def _dominant_script(text: str) -> str:
    counts = _script_counts(text)
    if not counts:
        return ""
    return max(counts.items(), key=lambda item: item[1])[0]


def _sentences(line: str, offset: int) -> Iterator[tuple[int, int]]:
    """Sentence spans of a single-script line (boundaries after . ! ? and quotes)."""
    start = 0
    for boundary in _SENTENCE_END.finditer(line):
        yield (offset + start, offset + boundary.end())
        start = boundary.end()
    yield (offset + start, offset + len(line))


def _script_runs(line: str, offset: int) -> Iterator[tuple[int, int, str]]:
    """Spans of a mixed-script line, one per long run of words in one script."""
    runs: list[list[Any]] = []  # [start, script, words, letters]
    for match in _LETTER_RUN.finditer(line):
        script = _script_of_run(match.group())
        if not script:
            continue
        if runs and runs[-1][1] == script:
            runs[-1][2] += 1
            runs[-1][3] += len(match.group())
        else:
            runs.append([match.start(), script, 1, len(match.group())])
    # Short runs of another script belong to the surrounding text.
    kept: list[list[Any]] = []
    for run in runs:
        short = run[2] < _MIN_RUN_WORDS and run[3] < _MIN_RUN_LETTERS
        if kept and (short or kept[-1][1] == run[1]):
            kept[-1][2] += run[2]
            kept[-1][3] += run[3]
            continue
        if kept and kept[-1][2] < _MIN_RUN_WORDS and kept[-1][3] < _MIN_RUN_LETTERS:
            kept[-1][1] = run[1]  # a short leading run takes the script of what follows
            kept[-1][2] += run[2]
            kept[-1][3] += run[3]
            continue
        kept.append(run)
    if not kept:
        yield (offset, offset + len(line), "")
        return
    for i, run in enumerate(kept):
        start = 0 if i == 0 else run[0]
        end = kept[i + 1][0] if i + 1 < len(kept) else len(line)
        yield (offset + start, offset + end, run[1])


def _merge(pieces: list[tuple[int, int, str]], length: int) -> list[Segment]:
    """Join neighbours of one language; spans without letters join the span before them."""
    merged: list[list[Any]] = []
    pending_start: int | None = None
    for start, end, language in pieces:
        if not language:
            if merged:
                merged[-1][1] = end
            elif pending_start is None:
                pending_start = start
            continue
        if pending_start is not None:
            start = pending_start
            pending_start = None
        if merged and merged[-1][2] == language:
            merged[-1][1] = end
        else:
            merged.append([start, end, language])
    if not merged:
        return [Segment(0, length, UNDETERMINED)]
    return [Segment(s, e, lang) for s, e, lang in merged]

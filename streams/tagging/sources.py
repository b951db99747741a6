"""News agencies a story cites (Interfax, Ίντερφαξ, Интерфакс -> "Interfax"), from data/sources.tsv.

Aliases are matched on whole words (the words of ``violence.words_of``, which split at hyphens,
so "ANA-MPA" is "ANA MPA" and "TASS" never matches inside "TASSEL" or "ITAR-TASSov"). Each alias
is compared casefolded without accents ("fold") or exactly as written ("case": "AP", "EFE",
"dpa", "TASS" are ordinary words or word parts elsewhere). A trailing ``*`` on an alias word
accepts inflections ("Интерфакс*" hits "Интерфаксу", "Рейтер*" hits "Рейтерс"). Words of a
multi-word alias may be separated by spaces, hyphens or quotes, nothing else. At each word the
longest matching alias wins; aliases with canonical name "-" are phrases that are no citation
("Sputnik V", "Michael Bloomberg") and hide the shorter alias inside them. A word with an
apostrophe is also tried after the elision ("l'ANSA") and before a possessive ("BBC's").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import compress
from pathlib import Path

from streams.tagging.violence import (
    DATA_DIR,
    LexiconError,
    Words,
    fold,
    recent_words_of,
    words_of,
)

SOURCES_FILE = "sources.tsv"
NOT_A_SOURCE = "-"

# What may separate the words of one alias in the text.
_JOINER = re.compile(r"[\s\-‐‑–—«»\"“”„'’]*")


@dataclass(frozen=True, slots=True)
class AliasWord:
    """One word of an alias: the form to compare and whether it is a stem."""

    form: str
    stem: bool

    def matches(self, word: str) -> bool:
        return word.startswith(self.form) if self.stem else word == self.form


@dataclass(frozen=True, slots=True)
class SourceAlias:
    """A way a source is written: its words and how they are compared."""

    canonical: str
    words: tuple[AliasWord, ...]
    case_sensitive: bool


class SourceMatcher:
    """Finds cited news agencies in text, by alias, in any script."""

    def __init__(self, aliases: list[SourceAlias]) -> None:
        self.aliases = tuple(aliases)
        self._exact: dict[str, list[SourceAlias]] = {}
        self._stems: dict[str, list[SourceAlias]] = {}
        for alias in self.aliases:
            first = alias.words[0]
            target = self._stems if first.stem else self._exact
            # Indexed by the folded form; case-sensitive aliases compare raw words afterwards.
            target.setdefault(fold(first.form), []).append(alias)
        self._stem_lengths = tuple(sorted({len(stem) for stem in self._stems}))
        self._candidates: dict[str, tuple[SourceAlias, ...]] = {}

    @classmethod
    def load(cls) -> SourceMatcher:
        """The matcher of the package data file, read once per process."""
        return _load_default()

    @classmethod
    def from_file(cls, path: Path) -> SourceMatcher:
        """Read canonical<TAB>alias<TAB>fold|case rows."""
        aliases: list[SourceAlias] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cells = [cell.strip() for cell in line.split("\t")]
            origin = f"{path.name}:{number}"
            if len(cells) < 3 or cells[2] not in ("fold", "case") or not cells[0]:
                raise LexiconError(f"{origin}: expected canonical<TAB>alias<TAB>fold|case")
            case_sensitive = cells[2] == "case"
            words: list[AliasWord] = []
            for _, _, raw in zip(*words_of(cells[1]), strict=True):
                form = raw if case_sensitive else fold(raw)
                words.append(AliasWord(form, False))
            if not words:
                raise LexiconError(f"{origin}: empty alias {cells[1]!r}")
            stems = [part.endswith("*") for part in re.split(r"[\s\-]+", cells[1].strip())]
            if len(stems) == len(words):
                words = [AliasWord(w.form, stem) for w, stem in zip(words, stems, strict=True)]
            else:
                raise LexiconError(f"{origin}: cannot split alias {cells[1]!r} into words")
            aliases.append(SourceAlias(cells[0], tuple(words), case_sensitive))
        return cls(aliases)

    def _candidates_for(self, raw: str) -> tuple[SourceAlias, ...]:
        """Aliases whose first word may be this word of the text (cached per form); for a word
        with an apostrophe also those of its parts ("l'ANSA", "BBC's")."""
        found = self._candidates.get(raw)
        if found is None:
            forms = [raw]
            if "'" in raw or "’" in raw:
                head, _, tail = raw.replace("’", "'").rpartition("'")
                forms += [tail, head]
            out: list[SourceAlias] = []
            for form in forms:
                folded = fold(form)
                out.extend(self._exact.get(folded, ()))
                for length in self._stem_lengths:
                    if length > len(folded):
                        break
                    out.extend(self._stems.get(folded[:length], ()))
            found = tuple(dict.fromkeys(out))
            if len(self._candidates) > 200_000:
                self._candidates.clear()
            self._candidates[raw] = found
        return found

    def cited_sources(self, text: str) -> list[str]:
        """Canonical names of the agencies text cites, in order of first mention."""
        cited: list[str] = []
        words = recent_words_of(text)
        if words is None:
            # "headline\nbody": the body was tokenized already by the violence tagger.
            head, newline, rest = text.partition("\n")
            body_words = recent_words_of(rest) if newline else None
            if body_words is not None:
                self._cite(head, words_of(head), cited)
                self._cite(rest, body_words, cited)
                return cited
            words = words_of(text)
        self._cite(text, words, cited)
        return cited

    def _cite(self, text: str, words: Words, cited: list[str]) -> None:
        starts, ends, raws = words
        found = list(map(self._candidates.get, raws))  # one C-level pass when all are cached
        if None in found:
            found = [self._candidates_for(raw) for raw in raws]
        next_free = 0
        for i in compress(range(len(raws)), found):
            if i < next_free:
                continue
            best, length = self._longest_at(text, starts, ends, raws, i, raws[i])
            if best is None and ("'" in raws[i] or "’" in raws[i]):
                # "l'ANSA", "l’Agence France-Presse": the word after the elision;
                # "BBC's": the word before a possessive (single-word aliases only).
                head, _, tail = raws[i].replace("’", "'").rpartition("'")
                best, length = self._longest_at(text, starts, ends, raws, i, tail)
                if best is None:
                    best, length = self._longest_at(text, starts, ends, raws, i, head, 1)
            if best is None:
                continue
            if best.canonical != NOT_A_SOURCE and best.canonical not in cited:
                cited.append(best.canonical)
            next_free = i + length

    def _longest_at(self, text: str, starts: tuple[int, ...], ends: tuple[int, ...],
                    raws: tuple[str, ...], i: int, first: str,
                    max_words: int = 1_000) -> tuple[SourceAlias | None, int]:
        """The longest alias starting at word i (whose text is taken as `first`)."""
        best: SourceAlias | None = None
        best_length = 0
        if not first:
            return None, 0
        for alias in self._candidates_for(first):
            length = len(alias.words)
            if length <= best_length or length > max_words or i + length > len(raws):
                continue
            if self._matches_at(alias, text, starts, ends, raws, i, first):
                best, best_length = alias, length
        return best, best_length

    @staticmethod
    def _matches_at(alias: SourceAlias, text: str, starts: tuple[int, ...],
                    ends: tuple[int, ...], raws: tuple[str, ...], i: int, first: str) -> bool:
        for k, word in enumerate(alias.words):
            raw = first if k == 0 else raws[i + k]
            if not word.matches(raw if alias.case_sensitive else fold(raw)):
                return False
            if k and _JOINER.fullmatch(text, ends[i + k - 1], starts[i + k]) is None:
                return False
        return True


@lru_cache(maxsize=1)
def _load_default() -> SourceMatcher:
    return SourceMatcher.from_file(DATA_DIR / SOURCES_FILE)

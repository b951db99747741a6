"""Tokens with character offsets, shared by every tagger (pure, no I/O)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

# A word: letters/digits, with inner apostrophes or hyphens ("opened", "д'Артаньян", "Алма-Ата").
_WORD = re.compile(r"\w+(?:['’\-]\w+)*", re.UNICODE)


def bmp_class(predicate: Callable[[str], bool]) -> str:
    """A regex character class of the Basic Multilingual Plane characters predicate accepts.

    The regex engine tests such a class with one bitmap lookup, where a category such as \\w
    costs several Unicode table lookups: patterns built on it run about a third faster. They
    agree with the category patterns on text without characters beyond the BMP (see is_bmp).
    """
    ranges: list[tuple[int, int]] = []
    start = -1
    for code in range(0x10000):
        if predicate(chr(code)):
            if start < 0:
                start = code
        elif start >= 0:
            ranges.append((start, code - 1))
            start = -1
    if start >= 0:
        ranges.append((start, 0xFFFF))
    parts = (re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}"
             for low, high in ranges)
    return "[" + "".join(parts) + "]"


def is_bmp(text: str) -> bool:
    """True when text has no character beyond the Basic Multilingual Plane (emoji, rare CJK)."""
    return text.isascii() or len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text)


# \w and \d exactly as the regex engine reads them (alphanumeric or "_"; decimal digit).
WORD_CHAR = bmp_class(lambda ch: ch.isalnum() or ch == "_")
DIGIT_CHAR = bmp_class(str.isdecimal)


def bmp_pattern(pattern: str) -> str:
    """pattern with each \\w and \\d outside a character class spelled as a BMP class: the same
    matches on text for which is_bmp() is true, found faster. Raises ValueError for a \\w, \\W,
    \\d or \\D inside a character class."""
    out: list[str] = []
    in_class = False
    k = 0
    while k < len(pattern):
        char = pattern[k]
        if char == "\\" and k + 1 < len(pattern):
            pair = pattern[k:k + 2]
            if in_class and pair in ("\\w", "\\W", "\\d", "\\D"):
                raise ValueError(f"{pair} inside a character class: {pattern!r}")
            out.append(WORD_CHAR if pair == "\\w" and not in_class
                       else DIGIT_CHAR if pair == "\\d" and not in_class else pair)
            k += 2
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            k += 1
            # a "]" right after "[" or "[^" is a member, not the end of the class
            if pattern.startswith("^", k):
                out.append("^")
                k += 1
            if pattern.startswith("]", k):
                out.append("]")
                k += 1
            continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        k += 1
    return "".join(out)


# _WORD for BMP text.
_BMP_WORD = re.compile(bmp_pattern(_WORD.pattern))


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    start: int
    end: int
    norm: str  # casefolded, Greek tonos/dialytika removed, ё -> е


@lru_cache(maxsize=262_144)
def normalize(word: str) -> str:
    """Casefold and strip combining accents (Greek tonos, Cyrillic й is kept)."""
    folded = word.casefold().replace("ё", "е").replace("ς", "σ")
    if folded.isascii():
        return folded
    out = []
    for ch in unicodedata.normalize("NFD", folded):
        if unicodedata.combining(ch) and ch != "\u0306":  # keep the breve of й
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def words(text: str) -> list[str]:
    """The word strings of text (no offsets), for callers that only need the words."""
    return (_BMP_WORD if is_bmp(text) else _WORD).findall(text)


def tokenize(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Word tokens of text[start:end] with offsets into text."""
    stop = len(text) if end is None else end
    pattern = _BMP_WORD if is_bmp(text) else _WORD
    return [
        Token(m.group(), m.start(), m.end(), normalize(m.group()))
        for m in pattern.finditer(text, start, stop)
    ]

"""Tokens with character offsets, shared by every tagger (pure, no I/O)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# A word: letters/digits, with inner apostrophes or hyphens ("opened", "д'Артаньян", "Алма-Ата").
_WORD = re.compile(r"\w+(?:['’\-]\w+)*", re.UNICODE)


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
    return _WORD.findall(text)


def tokenize(text: str, start: int = 0, end: int | None = None) -> list[Token]:
    """Word tokens of text[start:end] with offsets into text."""
    stop = len(text) if end is None else end
    return [
        Token(m.group(), m.start(), m.end(), normalize(m.group()))
        for m in _WORD.finditer(text, start, stop)
    ]

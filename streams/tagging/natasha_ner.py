"""Place spans in Russian segments proposed by natasha's NER (its model ships in the package)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from streams.tagging.model import Segment

log = logging.getLogger(__name__)

# natasha's news NER knows three labels: PER, ORG and LOC (places of every kind).
NATASHA_PLACE_LABELS = frozenset({"LOC"})


class NatashaPlaceProposer:
    """Proposes LOC spans with natasha's news NER for segments in the languages it was built for."""

    def __init__(self, languages: Iterable[str] = ("ru",)) -> None:
        self._doc_type: Any = None
        self._segmenter: Any = None
        self._tagger: Any = None
        self._missing: dict[str, str] = {}
        wanted = tuple(dict.fromkeys(languages))
        try:
            from natasha import Doc, NewsEmbedding, NewsNERTagger, Segmenter

            self._doc_type = Doc
            self._segmenter = Segmenter()
            self._tagger = NewsNERTagger(NewsEmbedding())
            self._languages = frozenset(wanted)
        except Exception as exc:  # the package or its bundled model is broken or absent
            self._languages = frozenset()
            self._missing = {
                lang: f"natasha unavailable: {type(exc).__name__}: {exc}" for lang in wanted
            }
            for lang, reason in self._missing.items():
                log.warning("natasha NER for %r not available, gazetteer only: %s", lang, reason)

    @property
    def languages(self) -> frozenset[str]:
        """Languages whose segments are tagged."""
        return self._languages

    @property
    def missing(self) -> dict[str, str]:
        """Language -> the reason it is not tagged."""
        return dict(self._missing)

    def propose(self, text: str, segments: Sequence[Segment]) -> list[tuple[int, int]]:
        """Character (start, end) spans into text of LOC entities in segments it serves."""
        spans: set[tuple[int, int]] = set()
        for segment in segments:
            if segment.language not in self._languages or segment.end <= segment.start:
                continue
            doc = self._doc_type(text[segment.start : segment.end])
            doc.segment(self._segmenter)
            doc.tag_ner(self._tagger)
            for span in doc.spans:
                if span.type in NATASHA_PLACE_LABELS:
                    spans.add((segment.start + span.start, segment.start + span.stop))
        return sorted(spans)

"""The tagging core: one story in, StoryTags out (languages, places, focus, violence, severity, sources)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol, cast

import simplemma
from simplemma.strategies import DefaultStrategy
from simplemma.strategies.dictionaries import DefaultDictionaryFactory

from streams.tagging.gazetteer import Gazetteer
from streams.tagging.langid import LanguageSegmenter
from streams.tagging.model import LocationMention, Segment, StoryTags, ViolenceMention
from streams.tagging.places import PlaceTagger, story_focus
from streams.tagging.severity import casualty_counts, severity_score
from streams.tagging.sources import SourceMatcher
from streams.tagging.text import normalize, words
from streams.tagging.violence import ViolenceLexicon, ViolenceTagger

log = logging.getLogger(__name__)

# Languages whose words are lemmatized (simplemma dictionaries). Each dictionary is read on first
# use and then kept: reading one takes 0.2-1.7 s and 13-142 MB (ru is the largest here), so the set
# is bounded to keep every dictionary resident in about 600 MB, and the cache holds them all (its
# default of 8 would evict and re-read dictionaries in the middle of a stream, stalling it for
# seconds). The worker's warm-up reads those of the bundled samples' languages; the others are read
# when their language first appears. Words of other languages keep their normalized form: the pl,
# fi, et, hu, tr, pt and sv dictionaries take 100-380 MB each.
_LEMMA_LANGUAGES = frozenset(
    {"en", "el", "ru", "uk", "fr", "es", "de", "it", "nl", "bg", "ro", "cs", "lv", "id", "ms"}
)
_LEMMA_DICTIONARIES = DefaultDictionaryFactory(cache_max_size=len(_LEMMA_LANGUAGES))
_LEMMATIZER = simplemma.Lemmatizer(
    lemmatization_strategy=DefaultStrategy(dictionary_factory=_LEMMA_DICTIONARIES))


class SpanProposer(Protocol):
    """An NER backend that proposes place spans (stanza, natasha) for some languages."""

    @property
    def languages(self) -> frozenset[str]: ...

    def propose(self, text: str, segments: Sequence[Segment]) -> list[tuple[int, int]]: ...


@lru_cache(maxsize=262_144)
def lemma(word: str, language: str) -> str:
    """Lemma of a normalized word in a language (the word itself where none is known)."""
    if language not in _LEMMA_LANGUAGES:
        return word
    try:
        return normalize(_LEMMATIZER.lemmatize(word, lang=language))
    except ValueError:
        return word


# Lemma of each word as written, per language: one C-level dictionary pass per segment once the
# words were seen. Started over when it holds this many words.
_MAX_SURFACE_LEMMAS = 262_144
_surface_lemmas: dict[str, dict[str, str]] = {}


def _surface_lemma_table(language: str) -> dict[str, str]:
    table = _surface_lemmas.get(language)
    if table is None:
        if sum(map(len, _surface_lemmas.values())) >= _MAX_SURFACE_LEMMAS:
            _surface_lemmas.clear()
        table = _surface_lemmas[language] = {}
    return table


def _new_surface_lemma(table: dict[str, str], surface: str, language: str) -> str:
    if len(table) >= _MAX_SURFACE_LEMMAS:
        table.clear()
    found = table[surface] = lemma(normalize(surface), language)
    return found


def lemma_text(text: str, segments: Sequence[Segment]) -> str:
    """Space-joined lemmas of every word, each in its segment's language (for search and dedup)."""
    out: list[str] = []
    for seg in segments:
        surfaces = words(text[seg.start:seg.end])
        table = _surface_lemma_table(seg.language)
        known = list(map(table.get, surfaces))
        if None in known:
            language = seg.language
            out.extend([table.get(w) or _new_surface_lemma(table, w, language) for w in surfaces])
        else:
            out.extend(cast(list[str], known))
    return " ".join(out)


@dataclass
class Tagger:
    """Holds every loaded resource; `tag()` is pure given them and safe to call per story."""

    segmenter: LanguageSegmenter
    places: PlaceTagger
    violence: ViolenceTagger
    sources: SourceMatcher
    proposers: list[SpanProposer] = field(default_factory=list)
    ner_backends: dict[str, str] = field(default_factory=dict)  # language -> backend in use

    @classmethod
    def load(cls, stanza_dir: Path | None = None,
             stanza_languages: Sequence[str] = ("en", "ru", "uk", "fr", "es", "de", "ar"),
             cache_dir: Path | None = None) -> Tagger:
        """Load gazetteer, lexicons and detectors once; stanza models too where installed.
        With cache_dir the built gazetteer is kept there for the next start (Gazetteer.load)."""
        proposers: list[SpanProposer] = []
        backends: dict[str, str] = {}
        if stanza_dir is not None:
            from streams.tagging.stanza_ner import StanzaPlaceProposer, stanza_available

            if not stanza_available():
                log.warning(
                    "stanza models configured in %s but stanza is not installed "
                    "(pip install 'wirewatch[stanza]'); using the gazetteer for every language",
                    stanza_dir,
                )
            else:
                proposer = StanzaPlaceProposer.from_dir(stanza_dir, stanza_languages)
                for lang, reason in sorted(proposer.missing.items()):
                    log.info("stanza NER not available for %s (%s); gazetteer only", lang, reason)
                if proposer.languages:
                    proposers.append(proposer)
                    backends.update({lang: "stanza" for lang in proposer.languages})
        tagger = cls(
            segmenter=LanguageSegmenter(),
            places=PlaceTagger(Gazetteer.load(cache_dir)),
            violence=ViolenceTagger(ViolenceLexicon.load()),
            sources=SourceMatcher.load(),
            proposers=proposers,
            ner_backends=backends,
        )
        log.info("place spans: %s; gazetteer for all other languages",
                 ", ".join(f"{k}={v}" for k, v in sorted(backends.items())) or "gazetteer only")
        return tagger

    def tag(self, body: str, headline: str | None = None, language: str | None = None) -> StoryTags:
        """Tag one story; offsets in the result index into `body`."""
        segments = self.segmenter.segments(body, hint=language)
        proposed: list[tuple[int, int]] = []
        for proposer in self.proposers:
            if any(seg.language in proposer.languages for seg in segments):
                proposed.extend(proposer.propose(body, segments))
        locations = self.places.tag(body, segments, proposed_spans=proposed)
        headline_places: list[LocationMention] = []
        violence_in_headline: list[ViolenceMention] = []
        if headline:
            headline_segments = self.segmenter.segments(headline, language)
            headline_places = self.places.tag(headline, headline_segments)
        violence = self.violence.tag(body, segments)
        if headline:
            # A headline's violence terms count for severity even when the body is short.
            violence_in_headline = self.violence.tag(headline, headline_segments)
        casualties = casualty_counts(body, segments)
        severity = severity_score([*violence, *violence_in_headline], casualties)
        return StoryTags(
            language=language or self.segmenter.story_language(segments),
            segments=tuple(segments),
            locations=tuple(locations),
            focus=story_focus([*headline_places, *locations]),
            violence=tuple(violence),
            casualties=casualties,
            severity=severity,
            sources=tuple(self.sources.cited_sources(body if not headline else headline + "\n" + body)),
            lemmas=lemma_text(body, segments),
        )

    def languages_of(self, tags: StoryTags) -> list[str]:
        """Languages of a story's segments, most characters first."""
        weight: dict[str, int] = {}
        for seg in tags.segments:
            if seg.language != "und":
                weight[seg.language] = weight.get(seg.language, 0) + seg.end - seg.start
        return sorted(weight, key=lambda lang: -weight[lang])

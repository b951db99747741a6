"""Near-duplicate stories: MinHash fingerprints, a bounded LSH cluster index, alert dedup."""

from __future__ import annotations

import hashlib
import operator
from collections.abc import MutableMapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.records import Alert, TaggedStory

# Fingerprint
# -----------
# A story's lemmas are cut into word shingles (SHINGLE_WORDS consecutive lemmas). Each shingle is
# hashed with a polynomial hash over its UTF-8 bytes, computed for all shingles at once from one
# prefix sum (no per-word Python call, no Python hash(), so the same text gives the same
# signature in every process and on every machine). The signature is a one-permutation MinHash
# (Li, Owen & Zhang 2012): the top 6 bits of a shingle's hash pick one of SIGNATURE_SIZE bins, the
# bin keeps the smallest hash it sees; bins that no shingle fell into borrow from the next filled
# bin to the right (rotation densification, Shrivastava & Li 2014), so two signatures agree in a
# bin with probability ~ the Jaccard similarity of the two shingle sets. Values are 32-bit ints.
#
# Two word shingles were chosen on agency versions of one story (tests/unit/test_clustering.py):
# re-sends with small edits share 50-65 % of their shingles, different stories about the same city
# and day 6 %; with three word shingles every edited word costs three shingles and near-duplicates
# drop to ~40 %. Across languages the lemmas differ, so a translation is not a near-duplicate: each
# language's version starts its own cluster (burst detection still counts them together by place).

SIGNATURE_SIZE = 64
SHINGLE_WORDS = 2
MAX_LEMMA_BYTES = 1 << 17  # longer lemma strings are fingerprinted on their first 128 KiB

_BIN_BITS = 6  # 2**6 == SIGNATURE_SIZE
_U = np.uint64
_EMPTY = np.iinfo(np.uint64).max
_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
_MIX = _U(0x9E3779B97F4A7C15)
_BORROW_STEP = _U(0x9E3779B9)  # added per bin of distance when an empty bin borrows a value
_MASK32 = _U(0xFFFFFFFF)
_VALUE_MASK = _U((1 << (64 - _BIN_BITS)) - 1)
_BIN_SHIFT = _U(64 - _BIN_BITS)
_VALUE_SHIFT = _U(64 - _BIN_BITS - 32)
_SHIFT32 = _U(32)


def _powers(base: int, count: int) -> np.ndarray:
    """base**0 .. base**(count-1) modulo 2**64 (numpy uint64 products wrap around)."""
    out = np.empty(count, dtype=np.uint64)
    out[0] = 1
    out[1:] = np.cumprod(np.full(count - 1, base, dtype=np.uint64))
    return out


# Built once at import: byte weights P**i and their inverses, so that a span's hash does not depend
# on where the span starts: (prefix[end] - prefix[start]) * P**-start, prefix = cumsum(byte * P**i).
_POW = _powers(_BASE, MAX_LEMMA_BYTES)
_INV_POW = _powers(pow(_BASE, -1, 1 << 64), MAX_LEMMA_BYTES)


def fingerprint(lemmas: str) -> list[int]:
    """MinHash signature (SIGNATURE_SIZE ints < 2**32) of space-joined lemmas; [] for no words.

    Lemmas are taken as the tagger writes them (casefolded): case is not folded again here.
    """
    if (
        "  " in lemmas or "\n" in lemmas or "\t" in lemmas
        or lemmas[:1] == " " or lemmas[-1:] == " "
    ):
        lemmas = " ".join(lemmas.split())
    data = lemmas.encode("utf-8")
    if not data:
        return []
    if len(data) > MAX_LEMMA_BYTES - 2:
        cut = data.rfind(b" ", 0, MAX_LEMMA_BYTES - 2)
        data = data[: cut if cut > 0 else MAX_LEMMA_BYTES - 2]
    # Framed by spaces, word i lies between spaces[i] and spaces[i + 1]; a shingle of `width`
    # words is the span (spaces[i], spaces[i + width]] (its trailing space included, for all).
    chars = np.frombuffer(b" " + data + b" ", dtype=np.uint8)
    spaces = np.flatnonzero(chars == 32)
    words = spaces.size - 1
    width = min(SHINGLE_WORDS, words)
    prefix = np.cumsum(chars * _POW[: chars.size])
    first = spaces[:-width]
    hashes = prefix[spaces[width:]]
    hashes -= prefix[first]
    hashes *= _INV_POW[first]
    hashes ^= hashes >> _SHIFT32
    hashes *= _MIX
    bins = np.full(SIGNATURE_SIZE, _EMPTY, dtype=np.uint64)
    np.minimum.at(bins, hashes >> _BIN_SHIFT, hashes & _VALUE_MASK)
    empty = bins == _EMPTY
    signature = (bins >> _VALUE_SHIFT) & _MASK32
    if empty.any():
        filled = np.flatnonzero(~empty)
        holes = np.flatnonzero(empty)
        donors = filled[np.searchsorted(filled, holes) % filled.size]
        distance = ((donors - holes) % SIGNATURE_SIZE).astype(np.uint64)
        signature[holes] = (signature[donors] + distance * _BORROW_STEP) & _MASK32
    result: list[int] = signature.tolist()
    return result


def similarity(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two signatures (share of equal bins); 0.0 if one is empty."""
    if not a or len(a) != len(b):
        return 0.0
    return sum(map(operator.eq, a, b)) / len(a)


# Cluster index
# -------------
# LSH banding: the signature is cut into BANDS bands of ROWS values; two stories become candidates
# when any band is equal. With 32 bands of 2 rows a pair is a candidate with probability
# 1-(1-J**2)**32: 0.95 at Jaccard 0.3, 0.999 at 0.5, 0.27 at 0.1. Candidates are then checked on
# the whole signature (similarity >= threshold); a false candidate costs one comparison.
#
# State lives in a flat MutableMapping of JSON-able values (a dict, or a Faust table), written
# key by key so a table's changelog only carries what changed:
#   "b:<band>:<values>" -> cluster id           (who owns this band value; the newest cluster wins)
#   "c:<cluster id>"    -> cluster record dict   (see _new_record)
# Records are replaced, never mutated in place (a Faust table only sees assignments). Old clusters
# are evicted as stories are assigned, so no timer is needed; a Faust table refuses writes from
# outside stream iteration, so do not call `evict` from a timer on one.

DEFAULT_BANDS = 32
DEFAULT_THRESHOLD = 0.3
_MAX_MEMBERS = 32  # story ids kept per cluster (to recognise a redelivered story)
_MAX_SIGNATURES = 4  # the first member's signature and the latest distinct ones
_BAND_PREFIX = "b:"
_CLUSTER_PREFIX = "c:"


@dataclass(frozen=True, slots=True)
class ClusterMatch:
    """Where a story landed: its cluster, whether it started it, and how close it is to it."""

    cluster_id: str
    is_new: bool
    similarity: float
    size: int


def cluster_id_for(story_id: str) -> str:
    """The id of the cluster a story starts (stable, so a redelivered first story keeps it)."""
    return "c" + hashlib.blake2b(story_id.encode("utf-8"), digest_size=8).hexdigest()


class ClusterIndex:
    """Finds the cluster of a fingerprint among recent ones (LSH); bounded in age and size.

    Memory: about 4.4 KiB per cluster of one story (32 band keys and a signature), so the default
    bound of 20 000 clusters stays under ~100 MiB; older clusters go first.
    """

    def __init__(
        self,
        store: MutableMapping[str, Any] | None = None,
        *,
        band_store: MutableMapping[str, Any] | None = None,
        bands: int = DEFAULT_BANDS,
        threshold: float = DEFAULT_THRESHOLD,
        max_age_seconds: float = 24 * 3600.0,
        max_clusters: int = 20_000,
    ) -> None:
        if bands <= 0 or SIGNATURE_SIZE % bands:
            raise ValueError(f"bands must divide {SIGNATURE_SIZE}, got {bands}")
        self.store: MutableMapping[str, Any] = {} if store is None else store
        # Band keys -> cluster id. By default in `store` too; given a separate (in-memory) mapping,
        # only cluster records are stored durably (one write per story in a Faust table) and the
        # band index is rebuilt from them on first use.
        self.band_store: MutableMapping[str, Any] = self.store if band_store is None else band_store
        self.bands = bands
        self.rows = SIGNATURE_SIZE // bands
        self._band_prefixes = [f"{_BAND_PREFIX}{band}:" for band in range(bands)]
        self._band_pattern = ".".join(["%x"] * self.rows)
        self._band_starts = range(0, SIGNATURE_SIZE, self.rows)
        self.threshold = threshold
        self.max_age_seconds = max_age_seconds
        self.max_clusters = max_clusters
        # cluster id -> updated_at, least recently updated first; built from the store on first use.
        self._recency: dict[str, float] | None = None

    def __len__(self) -> int:
        return len(self._order())

    def band_keys(self, signature: Sequence[int]) -> list[str]:
        """The store keys of a signature's bands."""
        rows, pattern = self.rows, self._band_pattern
        return [
            prefix + pattern % tuple(signature[start : start + rows])
            for prefix, start in zip(self._band_prefixes, self._band_starts, strict=True)
        ]

    def lookup(self, signature: Sequence[int], at: float) -> ClusterMatch | None:
        """The live cluster most similar to signature (>= threshold), without adding anything."""
        if len(signature) != SIGNATURE_SIZE:
            return None
        best = self._best(signature, self.band_keys(signature), at)
        if best is None:
            return None
        score, record = best
        return ClusterMatch(record["id"], False, score, int(record["size"]))

    def assign(self, story_id: str, signature: Sequence[int], at: float) -> ClusterMatch:
        """Put a story into its near-duplicate cluster (or a new one) and return where it went.

        Idempotent for a redelivered story: it lands in the same cluster and is not counted twice.
        A story without a usable signature (no words) always gets a cluster of its own.
        """
        signature = [int(v) for v in signature] if len(signature) == SIGNATURE_SIZE else []
        keys = self.band_keys(signature) if signature else []
        best = self._best(signature, keys, at) if signature else None
        if best is None:
            cluster_id = cluster_id_for(story_id)
            record = self._live_record(cluster_id, at)
            if record is not None and story_id in record["members"]:  # redelivered first story
                return ClusterMatch(cluster_id, True, 1.0, int(record["size"]))
            record = _new_record(cluster_id, story_id, signature, at)
            self._register_bands(record, keys, cluster_id)
            self._write(cluster_id, record)
            return ClusterMatch(cluster_id, True, 1.0, 1)
        score, record = best
        cluster_id = record["id"]
        if story_id in record["members"]:
            return ClusterMatch(
                cluster_id, record["first_story_id"] == story_id, score, int(record["size"])
            )
        signatures = record["signatures"]
        if signature not in signatures:
            signatures = [signatures[0], *signatures[1:][-(_MAX_SIGNATURES - 2):], signature]
        record = {
            **record,
            "updated_at": max(float(record["updated_at"]), at),
            "size": int(record["size"]) + 1,
            "members": [*record["members"], story_id][-_MAX_MEMBERS:],
            "signatures": signatures,
        }
        self._register_bands(record, keys, cluster_id)
        self._write(cluster_id, record)
        return ClusterMatch(cluster_id, False, score, int(record["size"]))

    def evict(self, now: float) -> int:
        """Drop clusters not updated for max_age_seconds, then the oldest beyond max_clusters."""
        order = self._order()
        evicted = 0
        while order:
            cluster_id, updated_at = next(iter(order.items()))
            if updated_at >= now - self.max_age_seconds and len(order) <= self.max_clusters:
                break
            self._delete(cluster_id)
            evicted += 1
        return evicted

    def to_state(self) -> dict[str, Any]:
        """A JSON-able copy of the whole index."""
        return {key: _copy(value) for key, value in self.store.items()}

    @classmethod
    def from_state(cls, state: dict[str, Any], **options: Any) -> ClusterIndex:
        """An index over a copy of a state from to_state()."""
        return cls({key: _copy(value) for key, value in state.items()}, **options)

    # internals

    def _order(self) -> dict[str, float]:
        if self._recency is None:
            records = [
                value for key, value in self.store.items() if key.startswith(_CLUSTER_PREFIX)
            ]
            records.sort(key=lambda r: float(r["updated_at"]))
            self._recency = {r["id"]: float(r["updated_at"]) for r in records}
            if self.band_store is not self.store:
                for record in records:
                    for key in record["bands"]:
                        self.band_store[key] = record["id"]
        return self._recency

    def _best(
        self, signature: Sequence[int], keys: list[str], at: float
    ) -> tuple[float, dict[str, Any]] | None:
        """(similarity, record) of the most similar live candidate cluster at or over threshold."""
        best: tuple[float, dict[str, Any]] | None = None
        self._order()  # builds the band index on first use
        for cluster_id in {self.band_store.get(key) for key in keys} - {None}:
            record = self._live_record(str(cluster_id), at)
            if record is None:
                continue
            score = max((similarity(signature, s) for s in record["signatures"]), default=0.0)
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, record)
        return best

    def _live_record(self, cluster_id: str, at: float) -> dict[str, Any] | None:
        record: dict[str, Any] | None = self.store.get(_CLUSTER_PREFIX + cluster_id)
        if record is None:
            return None
        if float(record["updated_at"]) < at - self.max_age_seconds:
            self._delete(cluster_id)
            return None
        return record

    def _register_bands(self, record: dict[str, Any], keys: list[str], cluster_id: str) -> None:
        """Point band keys at the cluster, up to a bound; the record lists them for eviction."""
        owned: list[str] = record["bands"]
        room = _MAX_SIGNATURES * self.bands - len(owned)
        owned_set = set(owned)
        new_keys = [key for key in keys if key not in owned_set][: max(room, 0)]
        listed = owned_set.union(new_keys)
        bands = self.band_store
        for key in keys:
            # A key no record lists could never be deleted; an unchanged key is not rewritten.
            if key in listed and bands.get(key) != cluster_id:
                bands[key] = cluster_id
        record["bands"] = [*owned, *new_keys]

    def _write(self, cluster_id: str, record: dict[str, Any]) -> None:
        self.store[_CLUSTER_PREFIX + cluster_id] = record
        order = self._order()
        order.pop(cluster_id, None)
        order[cluster_id] = float(record["updated_at"])
        self.evict(float(record["updated_at"]))

    def _delete(self, cluster_id: str) -> None:
        record = self.store.pop(_CLUSTER_PREFIX + cluster_id, None)
        if record is not None:
            for key in record["bands"]:
                if self.band_store.get(key) == cluster_id:
                    del self.band_store[key]
        self._order().pop(cluster_id, None)


def _new_record(cluster_id: str, story_id: str, signature: list[int], at: float) -> dict[str, Any]:
    return {
        "id": cluster_id,
        "first_story_id": story_id,
        "created_at": at,
        "updated_at": at,
        "size": 1,
        "members": [story_id],  # the latest _MAX_MEMBERS story ids
        "signatures": [signature] if signature else [],
        "bands": [],  # band keys this cluster registered (deleted with it if it still owns them)
    }


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


# Alert dedup
# -----------
# One alert per (desk, cluster): the first matching member raises it, later members update it.

MAX_ALERT_STORY_IDS = 50


def alert_id(desk: str, cluster_id: str) -> str:
    """The key of a desk's alert for a cluster (the alerts topic key and the Elasticsearch _id)."""
    return f"{desk}/{cluster_id}"


def cluster_alert(
    previous: Alert | None,
    story: TaggedStory,
    *,
    desk: str,
    rule: str,
    cluster_id: str,
    now: float,
) -> tuple[Alert, bool]:
    """Next state of a desk's alert for a cluster, given a story that matched: (alert, is_update).

    No previous alert: a new one (is_update False) that should page. Otherwise the alert with the
    story folded in ("+2 sources: TASS, Interfax"), is_update True: emit it, do not page again.
    A story already counted (redelivery, or a second rule of the same desk) returns `previous`
    itself, unchanged, with is_update True; callers may skip re-emitting when `alert is previous`.
    """
    places = _story_places(story)
    source = _delivering_source(story)
    if previous is None:
        alert = Alert(
            id=alert_id(desk, cluster_id),
            kind="rule",
            desk=desk,
            rule=rule,
            story_id=story.id,
            cluster_id=cluster_id,
            headline=story.headline,
            message=_first_message(story, places, source),
            severity=story.severity,
            countries=sorted(story.countries),
            places=places,
            categories=sorted(story.categories),
            sources=[source] if source else [],
            story_ids=[story.id],
            story_count=1,
            update=False,
            created_at=now,
            updated_at=now,
            received_at=story.received_at,
            latency_seconds=max(0.0, now - story.received_at),
            lat=story.focus.lat if story.focus else None,
            lon=story.focus.lon if story.focus else None,
        )
        return alert, False
    if story.id in previous.story_ids:
        return previous, True
    sources = _union(previous.sources, [source] if source else [])
    story_count = previous.story_count + 1
    severity = max(previous.severity, story.severity)
    alert = Alert(
        id=previous.id,
        kind=previous.kind,
        desk=previous.desk,
        rule=previous.rule,
        story_id=story.id,
        cluster_id=previous.cluster_id,
        headline=previous.headline,
        message=_update_message(sources, story_count, source, severity, previous.severity),
        severity=severity,
        countries=sorted({*previous.countries, *story.countries}),
        places=_union(previous.places, places),
        categories=sorted({*previous.categories, *story.categories}),
        sources=sources,
        story_ids=[*previous.story_ids, story.id][-MAX_ALERT_STORY_IDS:],
        story_count=story_count,
        update=True,
        created_at=previous.created_at,
        updated_at=now,
        received_at=story.received_at,
        latency_seconds=max(0.0, now - story.received_at),
        lat=previous.lat,
        lon=previous.lon,
    )
    return alert, True


def _delivering_source(story: TaggedStory) -> str:
    """The agency that delivered the story, else the first agency it cites."""
    if story.source:
        return story.source
    return story.sources[0] if story.sources else ""


def _story_places(story: TaggedStory) -> list[str]:
    names = [story.focus.name] if story.focus else []
    return _union(names, [loc.name for loc in story.locations])


def _union(first: Sequence[str], more: Sequence[str]) -> list[str]:
    """Items of both in first-seen order, without repeats."""
    return list(dict.fromkeys([*first, *more]))


def _first_message(story: TaggedStory, places: list[str], source: str) -> str:
    parts = [", ".join(places[:3]) or "no place", f"severity {story.severity}"]
    if story.categories:
        parts.append(", ".join(sorted(story.categories)))
    if story.killed or story.injured:
        parts.append(f"{story.killed} killed, {story.injured} injured")
    if source:
        parts.append(source)
    return f"{story.headline} ({'; '.join(parts)})"


def _update_message(
    sources: list[str], story_count: int, source: str, severity: int, previous_severity: int
) -> str:
    extra = sources[1:]
    if extra:
        noun = "source" if len(extra) == 1 else "sources"
        text = f"+{len(extra)} {noun}: {', '.join(extra)}"
    else:
        text = f"re-sent by {source or 'an unknown source'}"
    if story_count > len(sources):
        text += f" ({story_count} stories)"
    if severity > previous_severity:
        text += f"; severity up to {severity}"
    return text

"""Scores the tagging core against the labelled development set (tests/devset/gold/*.jsonl).

Usage: python bench/quality.py [--lang el] [--verbose] [--json] [--predictions FILE]

Per language and overall it prints: location detection P/R/F1 (a predicted span matches a gold
span when they overlap, one to one), resolution accuracy within 161 km and exact GeoNames id
accuracy over the matched spans, focus-country accuracy, violence detection P/R/F1 (overlap and
same category; and category-agnostic) and cited-sources P/R/F1. Scoring is pure functions over
gold and predicted dicts; the tagger is called in one place, predict_story().
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
GOLD_DIR = REPO_ROOT / "tests" / "devset" / "gold"
RESOLUTION_RADIUS_KM = 161.0  # 100 miles, the usual geoparsing tolerance
EARTH_RADIUS_KM = 6371.0088

Span = dict[str, Any]
Story = dict[str, Any]
Prediction = dict[str, Any]


# ---------------------------------------------------------------- loading and predicting


def load_gold(gold_dir: Path = GOLD_DIR, languages: Sequence[str] | None = None) -> list[Story]:
    """Gold stories of the requested languages (all when None), in file order."""
    paths = sorted(gold_dir.glob("*.jsonl"))
    if languages:
        paths = [p for p in paths if p.stem in set(languages)]
    stories: list[Story] = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            stories.extend(json.loads(line) for line in lines if line.strip())
    return stories


def load_tagger() -> Any:
    """The tagging core, loaded once (imports its data at construction)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from streams.tagging.core import Tagger

    return Tagger.load()


def tags_to_prediction(tags: Any) -> Prediction:
    """Turns a streams.tagging.model.StoryTags into the plain dict the scorer reads."""
    places = []
    for mention in tags.locations:
        place = mention.place
        places.append(
            {
                "text": mention.text,
                "start": mention.start,
                "end": mention.end,
                "geonames_id": place.geonames_id,
                "name": place.name,
                "country_code": place.country_code,
                "kind": place.kind,
                "lat": place.lat,
                "lon": place.lon,
            }
        )
    violence = [
        {"text": v.text, "start": v.start, "end": v.end, "category": v.category}
        for v in tags.violence
    ]
    focus = tags.focus.country_code if tags.focus is not None else None
    return {"places": places, "violence": violence, "focus": focus, "sources": list(tags.sources)}


def predict_story(tagger: Any, story: Story) -> Prediction:
    """The one call into the tagging core: tag the body, language left to the tagger."""
    tags = tagger.tag(story["body"], headline=story["headline"], language=None)
    return tags_to_prediction(tags)


# ---------------------------------------------------------------- arithmetic


@dataclass
class Tally:
    """True positives, false positives and false negatives of one detection task."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: Tally) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn

    def as_dict(self) -> dict[str, float | int]:
        precision, recall, f1 = prf(self.tp, self.fp, self.fn)
        return {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    """Precision, recall, F1; an empty denominator counts as perfect (nothing to get wrong)."""
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def ratio(correct: int, total: int) -> float:
    """Share of correct over total; 1.0 when there is nothing to judge."""
    return correct / total if total else 1.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


# ---------------------------------------------------------------- span matching


def overlap(a: Span, b: Span) -> int:
    """Number of characters two [start, end) spans share."""
    return max(0, min(a["end"], b["end"]) - max(a["start"], b["start"]))


def match_spans(
    gold: Sequence[Span],
    predicted: Sequence[Span],
    compatible: Callable[[Span, Span], bool] | None = None,
) -> list[tuple[int, int]]:
    """One-to-one (gold index, predicted index) pairs of overlapping spans, most overlap first."""
    candidates = sorted(
        (-overlap(g, p), gi, pi)
        for gi, g in enumerate(gold)
        for pi, p in enumerate(predicted)
        if overlap(g, p) > 0 and (compatible is None or compatible(g, p))
    )
    used_gold: set[int] = set()
    used_pred: set[int] = set()
    pairs = []
    for _, gi, pi in candidates:
        if gi in used_gold or pi in used_pred:
            continue
        used_gold.add(gi)
        used_pred.add(pi)
        pairs.append((gi, pi))
    return sorted(pairs)


@dataclass
class SpanMatch:
    """Outcome of matching predicted spans against the required and optional gold spans."""

    pairs: list[tuple[Span, Span]]
    missed: list[Span]
    spurious: list[Span]

    @property
    def tally(self) -> Tally:
        return Tally(tp=len(self.pairs), fp=len(self.spurious), fn=len(self.missed))


def score_spans(
    gold: Sequence[Span],
    predicted: Sequence[Span],
    compatible: Callable[[Span, Span], bool] | None = None,
) -> SpanMatch:
    """Matches predictions to required gold spans; predictions left over that overlap an optional
    gold span are neither rewarded nor counted as false positives."""
    required = [g for g in gold if not g.get("optional")]
    optional = [g for g in gold if g.get("optional")]
    pairs = match_spans(required, predicted, compatible)
    matched_gold = {gi for gi, _ in pairs}
    matched_pred = {pi for _, pi in pairs}
    leftover = [p for pi, p in enumerate(predicted) if pi not in matched_pred]
    spurious = [p for p in leftover if not any(overlap(o, p) for o in optional)]
    missed = [g for gi, g in enumerate(required) if gi not in matched_gold]
    return SpanMatch([(required[gi], predicted[pi]) for gi, pi in pairs], missed, spurious)


def resolution_distance_km(gold: Span, predicted: Span) -> float | None:
    """Distance between the gold and predicted coordinates, None when either lacks them."""
    if gold.get("lat") is None or predicted.get("lat") is None:
        return None
    return haversine_km(gold["lat"], gold["lon"], predicted["lat"], predicted["lon"])


def resolution_correct(gold: Span, predicted: Span) -> bool:
    """Same GeoNames id; or, for a country, the same country resolved as a country (centroids
    differ between sources); otherwise predicted coordinates within 161 km of the gold ones."""
    if gold.get("geonames_id") is not None and gold["geonames_id"] == predicted.get("geonames_id"):
        return True
    if gold.get("kind") == "country":
        return (
            predicted.get("kind") == "country"
            and str(predicted.get("country_code") or "").upper() == gold["country_code"]
        )
    distance = resolution_distance_km(gold, predicted)
    return distance is not None and distance <= RESOLUTION_RADIUS_KM


def _same_category(gold: Span, predicted: Span) -> bool:
    return bool(gold["category"] == predicted.get("category"))


def canonical_source(name: str) -> str:
    """Agency name folded for comparison: "ANA-MPA", "ana mpa" and "AnaMpa" are one."""
    return re.sub(r"[\W_]+", "", name.casefold())


# ---------------------------------------------------------------- per-story scoring


@dataclass
class StoryScore:
    """Everything scored on one story, with the misses kept for the verbose report."""

    story_id: str
    language: str
    places: Tally
    resolution_correct: int
    resolution_total: int
    id_correct: int
    id_total: int
    focus_correct: bool
    violence_strict: Tally
    violence_any: Tally
    sources: Tally
    misses: list[dict[str, Any]] = field(default_factory=list)


def score_story(gold: Story, predicted: Prediction) -> StoryScore:
    """Scores one prediction dict against its gold story."""
    story_id = gold["id"]
    misses: list[dict[str, Any]] = []

    def miss(kind: str, **detail: Any) -> None:
        misses.append({"kind": kind, "story": story_id, **detail})

    place_match = score_spans(gold["places"], predicted.get("places", []))
    resolved = id_correct = id_total = 0
    for g, p in place_match.pairs:
        if resolution_correct(g, p):
            resolved += 1
        else:
            distance = resolution_distance_km(g, p)
            miss(
                "place_misresolved",
                text=g["text"],
                gold=f"{g['name']} ({g['country_code']})",
                predicted=f"{p.get('name')} ({p.get('country_code')})",
                distance_km=None if distance is None else round(distance),
            )
        if g.get("geonames_id") is not None:
            id_total += 1
            id_correct += int(g["geonames_id"] == p.get("geonames_id"))
    for g in place_match.missed:
        miss("place_missed", text=g["text"], gold=f"{g['name']} ({g['country_code']})")
    for p in place_match.spurious:
        miss(
            "place_spurious", text=p["text"], predicted=f"{p.get('name')} ({p.get('country_code')})"
        )

    predicted_violence = predicted.get("violence", [])
    strict = score_spans(gold["violence"], predicted_violence, _same_category)
    loose = score_spans(gold["violence"], predicted_violence)
    for g, p in loose.pairs:
        if g["category"] != p.get("category"):
            miss(
                "violence_category", text=g["text"], gold=g["category"], predicted=p.get("category")
            )
    for g in loose.missed:
        miss("violence_missed", text=g["text"], gold=g["category"])
    for p in loose.spurious:
        miss("violence_spurious", text=p["text"], predicted=p.get("category"))

    predicted_focus = predicted.get("focus")
    focus_ok = (predicted_focus or None) == gold["focus"]
    if not focus_ok:
        miss("focus_wrong", gold=gold["focus"], predicted=predicted_focus)

    gold_sources = {canonical_source(s): s for s in gold["sources"]}
    predicted_sources = {canonical_source(s): s for s in predicted.get("sources", [])}
    for key in gold_sources.keys() - predicted_sources.keys():
        miss("source_missed", text=gold_sources[key])
    for key in predicted_sources.keys() - gold_sources.keys():
        miss("source_spurious", text=predicted_sources[key])
    sources = Tally(
        tp=len(gold_sources.keys() & predicted_sources.keys()),
        fp=len(predicted_sources.keys() - gold_sources.keys()),
        fn=len(gold_sources.keys() - predicted_sources.keys()),
    )
    return StoryScore(
        story_id=story_id,
        language=gold["language"],
        places=place_match.tally,
        resolution_correct=resolved,
        resolution_total=len(place_match.pairs),
        id_correct=id_correct,
        id_total=id_total,
        focus_correct=focus_ok,
        violence_strict=strict.tally,
        violence_any=loose.tally,
        sources=sources,
        misses=misses,
    )


# ---------------------------------------------------------------- aggregation and reports


def aggregate(scores: Iterable[StoryScore]) -> dict[str, Any]:
    """Micro-averaged metrics over a group of stories."""
    places, strict, loose, sources = Tally(), Tally(), Tally(), Tally()
    resolved = resolution_total = id_correct = id_total = focus_correct = stories = 0
    for score in scores:
        stories += 1
        places.add(score.places)
        strict.add(score.violence_strict)
        loose.add(score.violence_any)
        sources.add(score.sources)
        resolved += score.resolution_correct
        resolution_total += score.resolution_total
        id_correct += score.id_correct
        id_total += score.id_total
        focus_correct += int(score.focus_correct)
    return {
        "stories": stories,
        "places": places.as_dict(),
        "resolution_161km": _accuracy(resolved, resolution_total),
        "geonames_id": _accuracy(id_correct, id_total),
        "focus": _accuracy(focus_correct, stories),
        "violence": strict.as_dict(),
        "violence_any_category": loose.as_dict(),
        "sources": sources.as_dict(),
    }


def _accuracy(correct: int, total: int) -> dict[str, float | int]:
    return {"accuracy": round(ratio(correct, total), 4), "correct": correct, "total": total}


def build_report(scores: Sequence[StoryScore]) -> dict[str, Any]:
    """Metrics per language (sorted) and overall."""
    languages = sorted({s.language for s in scores})
    return {
        "languages": {
            lang: aggregate(s for s in scores if s.language == lang) for lang in languages
        },
        "overall": aggregate(scores),
    }


def worst_misses(scores: Sequence[StoryScore], top: int) -> dict[str, list[dict[str, Any]]]:
    """The misses most worth fixing: frequent missed/spurious surface forms, far-off resolutions."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for score in scores:
        for item in score.misses:
            by_kind.setdefault(item["kind"], []).append(item)
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, items in sorted(by_kind.items()):
        if kind == "place_misresolved":
            ranked = sorted(items, key=lambda m: -(m["distance_km"] or math.inf))
            out[kind] = ranked[:top]
        elif kind == "focus_wrong":
            out[kind] = items[:top]
        else:
            counts = Counter((m.get("text"), m.get("gold"), m.get("predicted")) for m in items)
            stories: dict[tuple[Any, Any, Any], list[str]] = {}
            for m in items:
                stories.setdefault((m.get("text"), m.get("gold"), m.get("predicted")), []).append(
                    m["story"]
                )
            out[kind] = [
                {
                    "text": text,
                    "gold": gold,
                    "predicted": predicted,
                    "count": count,
                    "stories": sorted(set(stories[(text, gold, predicted)]))[:5],
                }
                for (text, gold, predicted), count in counts.most_common(top)
            ]
    return out


def format_report(report: dict[str, Any]) -> str:
    """A fixed-width table: one row per language plus the overall row."""
    header = (
        f"{'lang':<8}{'n':>4}  {'loc P':>6}{'loc R':>6}{'loc F1':>7}  {'res161':>6}{'gnid':>6}"
        f"{'focus':>6}  {'vio P':>6}{'vio R':>6}{'vio F1':>7}{'any F1':>7}  {'src F1':>6}"
    )
    lines = [header, "-" * len(header)]
    rows = [*report["languages"].items(), ("overall", report["overall"])]
    for name, m in rows:
        lines.append(
            f"{name:<8}{m['stories']:>4}  "
            f"{m['places']['precision']:>6.3f}{m['places']['recall']:>6.3f}"
            f"{m['places']['f1']:>7.3f}  {m['resolution_161km']['accuracy']:>6.3f}"
            f"{m['geonames_id']['accuracy']:>6.3f}{m['focus']['accuracy']:>6.3f}  "
            f"{m['violence']['precision']:>6.3f}{m['violence']['recall']:>6.3f}"
            f"{m['violence']['f1']:>7.3f}{m['violence_any_category']['f1']:>7.3f}  "
            f"{m['sources']['f1']:>6.3f}"
        )
    return "\n".join(lines)


def format_misses(misses: dict[str, list[dict[str, Any]]]) -> str:
    """The verbose section: one block per kind of miss."""
    titles = {
        "place_missed": "Missed places (gold toponyms with no overlapping prediction)",
        "place_spurious": "Spurious places (predictions overlapping no gold toponym)",
        "place_misresolved": "Worst resolutions (matched span, wrong place)",
        "violence_missed": "Missed violence mentions",
        "violence_spurious": "Spurious violence mentions",
        "violence_category": "Violence category confusions (gold -> predicted)",
        "focus_wrong": "Focus country errors",
        "source_missed": "Missed sources",
        "source_spurious": "Spurious sources",
    }
    blocks = []
    for kind, items in misses.items():
        lines = [f"\n{titles.get(kind, kind)}:"]
        for m in items:
            if kind == "place_misresolved":
                distance = m["distance_km"] if m["distance_km"] is not None else "?"
                lines.append(
                    f"  {m['text']!r:<24} gold {m['gold']:<28} got {m['predicted']:<28}"
                    f" {distance:>6} km  [{m['story']}]"
                )
            elif kind == "focus_wrong":
                lines.append(f"  {m['story']}: gold {m['gold']} got {m['predicted']}")
            else:
                what = " ".join(
                    str(v) for v in (m["text"], m["gold"], m["predicted"]) if v is not None
                )
                lines.append(f"  {m['count']:>3} x {what}  [{', '.join(m['stories'])}]")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


# ---------------------------------------------------------------- command line


def read_predictions(path: Path) -> dict[str, Prediction]:
    """Saved predictions: one JSON object per line with the story "id" and the prediction keys."""
    with path.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    return {record["id"]: record for record in records}


def run_tagger(stories: Sequence[Story]) -> tuple[dict[str, Prediction], dict[str, float]]:
    """Tags every story with the core; returns predictions and load/tag timings."""
    started = time.perf_counter()
    tagger = load_tagger()
    loaded = time.perf_counter()
    predictions = {story["id"]: predict_story(tagger, story) for story in stories}
    finished = time.perf_counter()
    tag_seconds = finished - loaded
    return predictions, {
        "load_seconds": round(loaded - started, 3),
        "tag_seconds": round(tag_seconds, 3),
        "stories_per_second": round(len(stories) / tag_seconds, 1) if tag_seconds else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Score the tagging core on the labelled development set."
    )
    parser.add_argument("--lang", action="append", help="only this language (repeatable)")
    parser.add_argument("--gold-dir", type=Path, default=GOLD_DIR)
    parser.add_argument("--predictions", type=Path, help="score saved predictions (JSON Lines)")
    parser.add_argument("--save-predictions", type=Path, help="write the predictions made")
    parser.add_argument("--verbose", action="store_true", help="list the worst misses")
    parser.add_argument("--top", type=int, default=25, help="rows per miss list with --verbose")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)

    stories = load_gold(args.gold_dir, args.lang)
    if not stories:
        print(f"quality: no gold stories under {args.gold_dir}", file=sys.stderr)
        return 2
    timings: dict[str, float] = {}
    if args.predictions:
        predictions = read_predictions(args.predictions)
    else:
        try:
            predictions, timings = run_tagger(stories)
        except ImportError as error:
            print(f"quality: the tagging core cannot be loaded ({error})", file=sys.stderr)
            return 2
    if args.save_predictions:
        with args.save_predictions.open("w", encoding="utf-8") as out:
            for story in stories:
                record = {"id": story["id"], **predictions.get(story["id"], {})}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")

    empty: Prediction = {"places": [], "violence": [], "focus": None, "sources": []}
    scores = [score_story(story, predictions.get(story["id"], empty)) for story in stories]
    report = build_report(scores)
    if timings:
        report["timing"] = timings
    misses = worst_misses(scores, args.top) if args.verbose else {}
    if args.json:
        if args.verbose:
            report["worst_misses"] = misses
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    print(format_report(report))
    if timings:
        print(
            f"\nloaded in {timings['load_seconds']} s; tagged {len(stories)} stories in "
            f"{timings['tag_seconds']} s ({timings['stories_per_second']} stories/s)"
        )
    print(
        "\nres161: matched spans resolved within 161 km (countries: same country); gnid: exact "
        "GeoNames id; vio: same category; any: category-agnostic"
    )
    if args.verbose:
        print(format_misses(misses))
    return 0


if __name__ == "__main__":
    sys.exit(main())

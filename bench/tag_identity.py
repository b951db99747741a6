"""Identity check of the tagging core: tag a fixed corpus and compare every field with a baseline.

Usage:
    python bench/tag_identity.py --write BASELINE.jsonl   # record the output of this tree
    python bench/tag_identity.py --check BASELINE.jsonl   # compare this tree with a recording

A change meant to make the tagger faster (or tidier) must leave its output untouched; this script
shows that it does, down to offsets, coordinates and lemmas. The corpus (a few thousand texts, all
built deterministically from files in the repository) is:

* every development-set story (tests/devset/gold/*.jsonl): body with headline, with and without
  its language as a hint; the body alone; the headline alone;
* variants of each body: cut at several lengths (mid-word too), upper-cased, lower-cased, lines
  shuffled (fixed seed), an emoji added (text beyond the Basic Multilingual Plane), and joined
  with a story of another language (mixed-language text);
* the bundled samples (streams/samples/*, ../shared/samples/*.txt when present) whole and in
  paragraphs;
* the stories of bench/tag_bench.py;
* a few edge cases (empty text, punctuation only, digits, hashtags, lone letters).

Each text is tagged twice, the second time after the whole corpus went through once, so a cache
whose answer depends on what was tagged before shows up as a difference too. Each output line
holds the text's id and every StoryTags field: language, segments, locations (text, offsets and
the whole place), focus, violence (text, offsets, category, weight), casualties, severity,
sources, lemmas and fingerprint.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bench.tag_bench import build_stories  # noqa: E402
from streams.tagging.model import StoryTags  # noqa: E402

GOLD_DIR = REPO_ROOT / "tests" / "devset" / "gold"
SAMPLE_DIRS = (REPO_ROOT / "streams" / "samples", REPO_ROOT.parent / "shared" / "samples")
CUT_LENGTHS = (37, 120, 333, 700, 1500)
SHUFFLE_SEED = 20220106

# (id, body, headline, language hint)
Case = tuple[str, str, str | None, str | None]

EDGE_CASES: tuple[str, ...] = (
    "",
    " ",
    "\n\n\n",
    "...",
    "12 345 678",
    "2022",
    "a",
    "A",
    "Ω",
    "ё",
    "#almaty #KazakhstanProtests #Алматы",
    "Paris, Texas and Paris",
    "Mobile, Alabama. Nice in Nice. Reading, Split, Georgia; Atlanta.",
    "No one was killed. Никто не погиб. Δεν υπάρχουν θύματα.",
    "Reuters\nTASS\nИнтерфакс\nΑΠΕ-ΜΠΕ\nl'AFP\nBBC's\nSputnik V",
    "dozens were killed and two hundred and fifty injured, 1,200 arrested in 2022",
    "🔥🔥 Almaty 🔥 protesters stormed the mayor's office 🔥",
    "שלום Москва 東京 Αθήνα القاهرة Paris",
    "ALMATY, Jan 6 (Reuters) - SHOTS RANG OUT",
    "Henderson said Jordan Henderson said Washington said",
)


def _read_gold() -> list[dict[str, Any]]:
    stories: list[dict[str, Any]] = []
    for path in sorted(GOLD_DIR.glob("*.jsonl")):
        with path.open(encoding="utf-8") as lines:
            stories.extend(json.loads(line) for line in lines if line.strip())
    return stories


def _shuffled_lines(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    rng.shuffle(lines)
    return "\n".join(lines)


def _with_emoji(text: str) -> str:
    middle = len(text) // 2
    space = text.find(" ", middle)
    position = middle if space < 0 else space
    return "🔥 " + text[:position] + " 🚨" + text[position:]


def corpus() -> Iterator[Case]:
    """Every text of the check, in a fixed order."""
    rng = random.Random(SHUFFLE_SEED)
    gold = _read_gold()
    for k, story in enumerate(gold):
        sid, body, headline = story["id"], story["body"], story.get("headline") or None
        language = story.get("language")
        yield f"{sid}/story", body, headline, None
        yield f"{sid}/story+hint", body, headline, language
        yield f"{sid}/body", body, None, None
        if headline:
            yield f"{sid}/headline", headline, None, None
        for size in CUT_LENGTHS:
            if size < len(body):
                yield f"{sid}/cut{size}", body[:size], headline, None
        yield f"{sid}/upper", body.upper(), headline.upper() if headline else None, None
        yield f"{sid}/lower", body.lower(), None, language
        yield f"{sid}/shuffled", _shuffled_lines(body, rng), headline, None
        yield f"{sid}/emoji", _with_emoji(body), headline, None
        other = gold[(k + 47) % len(gold)]
        if other.get("language") != language:
            yield f"{sid}/mixed", body + "\n\n" + other["body"], headline, None
            # one paragraph of each language on one line: mixed-script lines
            yield (f"{sid}/mixed-line", body.split("\n")[0] + " " + other["body"].split("\n")[0],
                   None, None)
    for directory in SAMPLE_DIRS:
        if not directory.is_dir():
            continue
        for path in sorted(directory.iterdir()):
            if not path.is_file() or path.suffix == ".py":
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            name = f"sample:{directory.name}/{path.name}"
            yield name, text, None, None
            for number, paragraph in enumerate(text.split("\n\n")[:60]):
                yield f"{name}#{number}", paragraph, None, None
    for number, story in enumerate(build_stories()):
        yield f"bench/{number}", story.body, story.headline or None, None
    for number, text in enumerate(EDGE_CASES):
        yield f"edge/{number}", text, None, None
        yield f"edge/{number}+headline", text, text, "en"


def record(case_id: str, tags: StoryTags) -> dict[str, Any]:
    """Every field of the tags as plain JSON values."""
    return {
        "id": case_id,
        "language": tags.language,
        "segments": [[s.start, s.end, s.language] for s in tags.segments],
        "locations": [
            {"text": m.text, "start": m.start, "end": m.end, "place": asdict(m.place)}
            for m in tags.locations
        ],
        "focus": asdict(tags.focus) if tags.focus is not None else None,
        "violence": [[v.text, v.start, v.end, v.category, v.weight] for v in tags.violence],
        "casualties": [tags.casualties.killed, tags.casualties.injured],
        "severity": tags.severity,
        "sources": list(tags.sources),
        "lemmas": tags.lemmas,
        "fingerprint": list(tags.fingerprint),
    }


def tag_corpus() -> tuple[list[str], float]:
    """JSON lines of the corpus tagged twice (the second pass with every cache warm), and the
    seconds the first pass took."""
    from streams.tagging.core import Tagger

    tagger = Tagger.load()
    cases = list(corpus())
    lines: list[str] = []
    started = time.perf_counter()
    for case_id, body, headline, hint in cases:
        tags = tagger.tag(body, headline=headline, language=hint)
        lines.append(json.dumps(record(case_id, tags), ensure_ascii=False, sort_keys=True))
    first_pass = time.perf_counter() - started
    for (case_id, body, headline, hint), first in zip(cases, list(lines), strict=True):
        tags = tagger.tag(body, headline=headline, language=hint)
        again = json.dumps(record(case_id, tags), ensure_ascii=False, sort_keys=True)
        if again != first:
            lines.append(json.dumps({"id": case_id, "warm_pass_differs": json.loads(again)},
                                    ensure_ascii=False, sort_keys=True))
    return lines, first_pass


def _first_difference(expected: dict[str, Any], got: dict[str, Any]) -> str:
    for key in sorted(set(expected) | set(got)):
        if expected.get(key) != got.get(key):
            return f"{key}: expected {expected.get(key)!r}\n      got {got.get(key)!r}"
    return "(no field differs)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Tag a fixed corpus; record or compare output.")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, help="write the output as JSON Lines here")
    action.add_argument("--check", type=Path, help="compare the output with this recording")
    parser.add_argument("--show", type=int, default=10, help="differences to print at most")
    args = parser.parse_args(argv)
    lines, seconds = tag_corpus()
    texts = sum(1 for line in lines if '"warm_pass_differs"' not in line)
    warm_differences = len(lines) - texts
    print(f"{texts} texts tagged in {seconds:.1f} s (first pass); "
          f"{warm_differences} differ when tagged again", file=sys.stderr)
    if args.write:
        args.write.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {args.write}", file=sys.stderr)
        return 1 if warm_differences else 0
    expected = args.check.read_text(encoding="utf-8").splitlines()
    differences = 0
    if len(expected) != len(lines):
        print(f"line count differs: expected {len(expected)}, got {len(lines)}")
        differences += 1
    for old, new in zip(expected, lines, strict=False):
        if old == new:
            continue
        differences += 1
        if differences <= args.show:
            old_record, new_record = json.loads(old), json.loads(new)
            print(f"- {old_record.get('id')}: {_first_difference(old_record, new_record)}")
    if differences:
        print(f"IDENTITY FAILED: {differences} of {len(expected)} lines differ")
        return 1
    print(f"identical: {texts} texts, every field")
    return 0


if __name__ == "__main__":
    sys.exit(main())

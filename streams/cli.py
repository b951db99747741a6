"""The `wirewatch` command: worker, publish, tag, search, demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from streams.settings import Settings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="wirewatch", description="Streaming news monitoring: tag, index and alert on wire stories."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("worker", help="run the Faust worker (tag, index, alert agents)")
    p.add_argument("--loglevel", default="info")

    p = sub.add_parser("publish", help="put stories from files onto the raw topic")
    p.add_argument("paths", nargs="+", type=Path, help="ninjs JSON, JSON Lines, RSS/Atom or text files")
    p.add_argument("--format", choices=["ninjs", "jsonl", "rss", "text"], default=None,
                   help="input format (detected from each file when omitted)")
    p.add_argument("--rate", type=float, default=0.0, help="stories per second (0 = as fast as possible)")

    p = sub.add_parser("tag", help="tag stories: JSON Lines on stdin -> JSON Lines on stdout")
    p.add_argument("--text", type=Path, help="tag one plain-text story file instead of stdin")
    p.add_argument("--pretty", action="store_true", help="indent the output (with --text)")

    p = sub.add_parser("search", help="search indexed stories in Elasticsearch, newest first")
    p.add_argument("query", nargs="*", help="words or \"phrases\" (any language); empty = everything")
    p.add_argument("--country", action="append", default=[], help="ISO country code, e.g. KZ")
    p.add_argument("--category", action="append", default=[], help="violence category, e.g. shooting")
    p.add_argument("--since", default=None, help="age like 30m, 6h, 2d")
    p.add_argument("--min-severity", type=int, default=0)
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="print raw JSON hits")

    p = sub.add_parser("demo", help="the live demo: stack up, worker, sample stories, alerts live")
    p.add_argument("--no-stack", action="store_true", help="use services that are already running")
    p.add_argument("--keep-running", action="store_true", help="leave the worker running at the end")

    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        print(f"wirewatch: {err}", file=sys.stderr)
        return 2

    if args.command == "tag":
        from streams.tagcli import run_tag

        return run_tag(sys.stdin, sys.stdout, text_file=args.text, pretty=args.pretty,
                       stanza_dir=settings.stanza_dir, cache_dir=settings.cache_dir)
    if args.command == "worker":
        from streams.worker import run_worker

        return run_worker(settings, loglevel=args.loglevel)
    if args.command == "publish":
        from streams.publish import run_publish

        return run_publish(settings, args.paths, fmt=args.format, rate=args.rate)
    if args.command == "search":
        from streams.search import run_search

        return run_search(settings, " ".join(args.query), countries=args.country,
                          categories=args.category, since=args.since,
                          min_severity=args.min_severity, limit=args.limit, as_json=args.json)
    if args.command == "demo":
        from streams.demo import run_demo

        return run_demo(settings, start_stack_first=not args.no_stack,
                        keep_running=args.keep_running)
    parser.error(f"unknown command {args.command}")
    return 2


def dump_json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


if __name__ == "__main__":
    sys.exit(main())

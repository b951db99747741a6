"""Demo wire stories bundled with the package: what the live demo publishes."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
SAMPLE_SUFFIXES = frozenset({".json", ".jsonl", ".rss", ".txt"})


def sample_paths() -> list[Path]:
    """The bundled feed files (ninjs, JSON Lines, RSS, plain text), sorted by name."""
    return sorted(
        path for path in SAMPLES_DIR.iterdir() if path.is_file() and path.suffix in SAMPLE_SUFFIXES
    )

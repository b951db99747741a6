"""The package type-checks (mypy, disallow_untyped_defs) and lints clean (ruff)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def test_ruff_finds_nothing() -> None:
    proc = run("ruff", "check", "streams", "tests", "bench", "grafana")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_finds_nothing() -> None:
    proc = run("mypy")
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""`wirewatch tag` keeps its JSON Lines contract: one output line per story, same order, errors inline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "streams" / "samples" / "almaty-2022-01-el.txt"


def run_cli(*args: str, stdin: str = "") -> list[dict[str, object]]:
    proc = subprocess.run([sys.executable, "-m", "streams.cli", "tag", *args], input=stdin,
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_json_lines_contract_in_order_with_inline_errors() -> None:
    lines = [
        json.dumps({"id": "ru-1", "body": "Штурмовики подожгли здание акимата в Алматы, погибли "
                                          "десятки человек.", "language": "ru"}),
        "this is not json",
        json.dumps({"id": "no-body", "headline": "Shots in Almaty"}),
        "",
        json.dumps({"id": "en-1", "headline": "Gunfire in Almaty",
                    "body": "Troops opened fire on protesters in Almaty, Kazakhstan."}),
    ]
    out = run_cli(stdin="\n".join(lines) + "\n")
    assert [o["id"] for o in out] == ["ru-1", None, "no-body", "en-1"]
    assert "error" in out[1] and "error" in out[2] and "body" in str(out[2]["error"])
    for story, body in ((out[0], json.loads(lines[0])["body"]), (out[3], json.loads(lines[4])["body"])):
        assert set(story) >= {"id", "language", "focus", "locations", "violence", "severity",
                              "sources"}
        for item in [*story["locations"], *story["violence"]]:
            assert body[item["start"]:item["end"]] == item["text"]
    assert out[0]["focus"]["country_code"] == "KZ"
    assert {"arson", "killing"} <= {v["category"] for v in out[0]["violence"]}
    assert "Almaty" in {loc["name"] for loc in out[3]["locations"]}
    assert "shooting" in {v["category"] for v in out[3]["violence"]}


def test_text_file_of_the_sample_story() -> None:
    (out,) = run_cli("--text", str(SAMPLE))
    names = {loc["geonames_id"] for loc in out["locations"]}
    assert {1526384, 1522867} <= names
    assert out["focus"]["country_code"] == "KZ"
    assert {"killing", "shooting", "riot_unrest", "arson", "storming"} <= set(out["categories"])
    assert out["sources"] == ["Interfax", "Reuters", "TASS", "Sputnik"]

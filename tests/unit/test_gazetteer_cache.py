"""The gazetteer cache: the same gazetteer read back, rebuilt when the file is bad or stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams.tagging.gazetteer import Gazetteer


def state(gazetteer: Gazetteer) -> dict[str, Any]:
    table = {k: v for k, v in vars(gazetteer.places).items() if k != "_made"}
    return {**{k: v for k, v in vars(gazetteer).items() if k != "places"}, "places": table}


def test_cached_gazetteer_is_the_built_one_and_bad_files_are_rebuilt(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    stale = cache / "gazetteer-0000.pickle"
    cache.mkdir()
    stale.write_bytes(b"from an older build")

    built = Gazetteer.load(cache)
    files = list(cache.glob("gazetteer-*.pickle"))
    assert len(files) == 1 and files[0] != stale  # the stale file is gone
    assert not list(cache.glob("*.partial"))

    cached = Gazetteer.load(cache)
    assert cached is not built
    assert state(cached) == state(built)
    assert [p.geonames_id for p in cached.lookup("αλματι")] == \
        [p.geonames_id for p in built.lookup("αλματι")] == [1526384]

    files[0].write_bytes(b"\x80\x05 truncated")  # a torn or foreign file: built again
    rebuilt = Gazetteer.load(cache)
    assert state(rebuilt) == state(built)
    assert Gazetteer.load(cache).lookup("almaty")[0].geonames_id == 1526384


def test_unwritable_cache_still_gives_a_gazetteer(tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    gazetteer = Gazetteer.load(blocked / "cache")  # cannot create the directory
    assert gazetteer.lookup("kazakhstan")[0].country_code == "KZ"

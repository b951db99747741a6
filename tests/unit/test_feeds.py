"""Feed formats -> RawStory: ninjs 1.x/2.x, JSON Lines, RSS/Atom, plain text, bundled samples."""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

import pytest

from streams.feeds import (
    FeedError,
    detect_format,
    html_to_text,
    parse_timestamp,
    read_stories,
    stories_from_bytes,
    text_story,
)
from streams.records import RawStory
from streams.samples import SAMPLES_DIR, sample_paths
from streams.tagging.text import tokenize
from streams.validate import STORY_FORMATS, content_id, validate_raw

SHA256_ID = re.compile(r"sha256:[0-9a-f]{64}")

NINJS_1 = {
    "uri": "urn:tass.com:news:1384761",
    "type": "text",
    "versioncreated": "2022-01-06T08:51:00+03:00",
    "firstcreated": "2022-01-06T08:40:00+03:00",
    "language": "en-GB",
    "copyrightholder": "TASS",
    "headline": "Troops clash with protesters on Almaty's main square",
    "body_text": "ALMATY, January 6. /TASS/. Troops and protesters clashed on the main square.\n\n"
    "Gunfire was heard as soldiers approached the crowd.",
}

NINJS_2 = {
    "uri": "https://www.example-agency.com/news/2022/01/06/almaty-square",
    "type": "text",
    "firstcreated": "2022-01-06T04:15:00Z",
    "language": "ru-RU",
    "infosources": [{"name": "Interfax", "role": "originator"}],
    "located": "Алматы",
    "headlines": [
        {"role": "sub", "value": "Полиция сообщает о штурме зданий"},
        {
            "role": "main",
            "contenttype": "text/html",
            "value": "Десятки нападавших <b>ликвидированы</b>",
        },
    ],
    "bodies": [
        {
            "role": "main",
            "contenttype": "text/html",
            "value": "<p>Десятки нападавших ликвидированы этой&nbsp;ночью.</p>"
            "<script>track()</script><p>Утром на площади были слышны выстрелы &amp; взрывы.</p>",
        }
    ],
}


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


# --- format detection ---------------------------------------------------------------------------

RSS_FEED = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>AFP - Dépêches Monde</title><link>https://www.afp.com/fr</link>
<description>Dépêches</description><language>fr-FR</language>
<item>
  <title>Burkina Faso: douze soldats tués dans l'attaque d'un poste militaire</title>
  <link>https://www.afp.com/fr/actus/burkina-attaque</link>
  <guid isPermaLink="false">urn:newsml:afp.com:20220108:BFK38</guid>
  <pubDate>Sat, 08 Jan 2022 15:05:00 +0100</pubDate>
  <description>Résumé court.</description>
  <content:encoded><![CDATA[<p>OUAGADOUGOU (AFP) - Au moins douze soldats ont été
  tués samedi.</p><p>Les assaillants ont incendié des véhicules.</p>
  <script>x()</script>]]></content:encoded>
</item>
<item>
  <title>Haïti: deux morts dans des tirs de gangs</title>
  <link>https://www.afp.com/fr/actus/haiti-tirs</link>
  <pubDate>Wed, 12 Jan 2022 21:30:00 GMT</pubDate>
  <description>&lt;p&gt;Deux personnes ont été tuées mercredi à Port-au-Prince.&lt;br&gt;
  Des maisons ont été incendiées.&lt;/p&gt;</description>
  <source url="https://www.afp.com/fr/amerique">AFP Amériques</source>
</item>
<item>
  <title>Paris: les soldes d'hiver ont démarré</title>
  <description>Les soldes ont débuté mercredi en France.</description>
</item>
</channel></rss>
"""

ATOM_FEED = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="es">
  <title>EFE Internacional</title>
  <id>urn:efe:feed:internacional</id>
  <updated>2022-01-06T20:15:00Z</updated>
  <entry>
    <title>Hallan diez cuerpos frente al Palacio de Gobierno de Zacatecas</title>
    <id>urn:efe:20220106:zacatecas</id>
    <link href="https://efe.example/zacatecas"/>
    <updated>2022-01-06T14:10:00-06:00</updated>
    <content type="html">&lt;p&gt;ZACATECAS (EFE).- Las autoridades hallaron
      los cuerpos de diez hombres.&lt;/p&gt;</content>
  </entry>
</feed>
"""

RDF_FEED = """<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
<channel rdf:about="https://x.example/"><title>Wire</title></channel>
<item rdf:about="https://x.example/1"><title>Title</title><link>https://x.example/1</link>
<description>Body text.</description></item></rdf:RDF>
"""

DETECTION_CASES = [
    ("ninjs object", json.dumps(NINJS_1).encode(), "ninjs"),
    ("ninjs array, pretty", json.dumps([NINJS_1, NINJS_2], indent=2).encode(), "ninjs"),
    ("ninjs JSON Lines", (json.dumps(NINJS_1) + "\n" + json.dumps(NINJS_2)).encode(), "ninjs"),
    ("ninjs with UTF-8 BOM", codecs.BOM_UTF8 + json.dumps(NINJS_2).encode(), "ninjs"),
    ("own JSON Lines", b'{"id": "a", "body": "x"}\n{"id": "b", "body": "y"}\n', "jsonl"),
    ("own JSON array", b'[\n  {"body": "x", "headline": "h"}\n]', "jsonl"),
    ("RSS 2.0", RSS_FEED.encode(), "rss"),
    ("Atom", ATOM_FEED.encode(), "rss"),
    ("RSS 1.0 (RDF)", RDF_FEED.encode(), "rss"),
    ("text with date marker", " date 2022-01 Η αστυνομία της Αλμάτι\n\nΣώμα.".encode(), "text"),
    ("text starting with a bracket", b"[URGENT] Explosion heard in Kabul\n\nMore soon.", "text"),
    ("UTF-16 text", "Заголовок\n\nТекст.".encode("utf-16"), "text"),
    ("empty", b"", "text"),
]


@pytest.mark.parametrize(
    ("data", "expected"), [c[1:] for c in DETECTION_CASES], ids=[c[0] for c in DETECTION_CASES]
)
def test_detect_format_from_bytes(data: bytes, expected: str) -> None:
    assert detect_format(data) == expected


def test_detect_format_from_path_matches_bytes(tmp_path: Path) -> None:
    for name, data, expected in DETECTION_CASES:
        path = write(tmp_path, name.replace(" ", "_"), data)
        assert detect_format(path) == expected, name
        assert detect_format(str(path)) == expected, name


def test_detect_format_refuses_html_that_is_not_a_feed() -> None:
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        detect_format(b"<!DOCTYPE html><html><body><p>Hello</p></body></html>")


def test_unknown_format_name_is_refused() -> None:
    with pytest.raises(FeedError, match="unknown feed format 'nitf'"):
        list(stories_from_bytes(b"x", "nitf"))


# --- ninjs --------------------------------------------------------------------------------------


def test_ninjs_1x_item(tmp_path: Path) -> None:
    [story] = read_stories(write(tmp_path, "tass.json", json.dumps(NINJS_1)))
    assert story.id == "urn:tass.com:news:1384761"
    assert story.format == "ninjs"
    assert story.source == "TASS"
    assert story.language == "en"
    assert story.published_at == "2022-01-06T05:51:00Z"  # versioncreated, in UTC
    assert story.headline == "Troops clash with protesters on Almaty's main square"
    assert story.body.startswith("ALMATY, January 6. /TASS/.")
    assert story.body.endswith("as soldiers approached the crowd.")
    assert story.url == ""  # a urn is not a link


def test_ninjs_2x_item_picks_main_headline_strips_html_and_adds_dateline(tmp_path: Path) -> None:
    [story] = read_stories(
        write(tmp_path, "interfax.json", json.dumps(NINJS_2, ensure_ascii=False))
    )
    assert story.headline == "Десятки нападавших ликвидированы"
    assert story.body == (
        "Алматы — Десятки нападавших ликвидированы этой ночью.\n\n"
        "Утром на площади были слышны выстрелы & взрывы."
    )
    assert story.source == "Interfax"  # from infosources
    assert story.language == "ru"
    assert story.published_at == "2022-01-06T04:15:00Z"  # firstcreated when no versioncreated
    assert story.url == NINJS_2["uri"]
    assert story.id == NINJS_2["uri"]


def test_ninjs_located_already_in_the_dateline_is_not_repeated() -> None:
    item = dict(NINJS_1, located="Almaty")
    [story] = stories_from_bytes(json.dumps(item).encode(), "ninjs")
    assert story.body.startswith("ALMATY, January 6.")


def test_ninjs_guid_description_and_byline_fallbacks() -> None:
    item = {
        "guid": "interfax-en-2022-01-06-almaty",
        "by": "Interfax",
        "description_html": "<p>Shots were heard in <em>Almaty</em>.</p>",
        "versioncreated": "2022-01-06T12:03:00+06:00",
    }
    [story] = stories_from_bytes(json.dumps(item).encode(), "ninjs")
    assert (story.id, story.source, story.body) == (
        "interfax-en-2022-01-06-almaty",
        "Interfax",
        "Shots were heard in Almaty.",
    )
    assert story.published_at == "2022-01-06T06:03:00Z"


def test_ninjs_flash_with_headline_only_uses_headline_as_body() -> None:
    item = {"uri": "urn:x:flash:1", "headline": "FLASH: Explosion heard in central Kabul"}
    [story] = stories_from_bytes(json.dumps(item).encode(), "ninjs")
    assert story.body == story.headline == "FLASH: Explosion heard in central Kabul"


def test_ninjs_skips_withdrawn_and_textless_items(tmp_path: Path) -> None:
    items = [
        dict(NINJS_1, uri="urn:x:canceled", pubstatus="canceled"),
        {"uri": "urn:x:picture", "type": "picture", "renditions": [{"name": "baseImage"}]},
        dict(NINJS_1, uri="urn:x:usable", pubstatus="usable"),
    ]
    stories = list(read_stories(write(tmp_path, "items.json", json.dumps(items))))
    assert [s.id for s in stories] == ["urn:x:usable"]


def test_ninjs_json_lines_and_array_give_the_same_stories(tmp_path: Path) -> None:
    lines = json.dumps(NINJS_1) + "\n\n" + json.dumps(NINJS_2, ensure_ascii=False) + "\n"
    array = json.dumps([NINJS_1, NINJS_2], indent=2, ensure_ascii=False)
    from_lines = list(read_stories(write(tmp_path, "items.jsonl", lines)))
    from_array = list(read_stories(write(tmp_path, "items.json", array)))
    assert [s.id for s in from_lines] == [NINJS_1["uri"], NINJS_2["uri"]]
    assert from_lines == from_array


def test_ninjs_bad_json_line_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.jsonl", json.dumps(NINJS_1) + "\n" + '{"uri": "x",\n')
    with pytest.raises(FeedError, match=r"broken\.jsonl:2: not JSON"):
        list(read_stories(path, "ninjs"))


# --- JSON Lines of our own shape ----------------------------------------------------------------


def test_jsonl_own_shape(tmp_path: Path) -> None:
    lines = [
        {
            "id": "efe-es-20220106-zacatecas",
            "headline": "Hallan diez cuerpos en Zacatecas",
            "body": "ZACATECAS (México), 6 ene (EFE).- Las autoridades hallaron diez cuerpos.",
            "language": "es",
            "source": "EFE",
            "url": "https://efe.example/zacatecas",
            "published_at": "2022-01-06T14:10:00-06:00",
            "topic": "ignored extra field",
        },
        {"body": "Σε κλοιό χιονιά βρίσκεται η Αττική.", "published_at": 1643045400},
    ]
    text = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines)
    first, second = read_stories(write(tmp_path, "wires.jsonl", text))
    assert first.id == "efe-es-20220106-zacatecas"
    assert (first.source, first.language, first.format) == ("EFE", "es", "jsonl")
    assert first.url == "https://efe.example/zacatecas"
    assert first.published_at == "2022-01-06T20:10:00Z"
    assert SHA256_ID.fullmatch(second.id)
    assert second.id == content_id("", "Σε κλοιό χιονιά βρίσκεται η Αττική.")
    assert second.published_at == "2022-01-24T17:30:00Z"  # epoch seconds


def test_jsonl_non_string_body_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "wires.jsonl", '{"id": "a", "body": "ok"}\n{"id": "b", "body": 5}\n')
    with pytest.raises(FeedError, match=r"wires\.jsonl:2: body and headline must be strings"):
        list(read_stories(path))


def test_content_hash_ids_are_stable_across_resends_and_whitespace(tmp_path: Path) -> None:
    body = "Gunmen killed dozens of people in Zamfara state, residents said."
    sent = [
        {"headline": "Gunmen kill dozens in Zamfara", "body": body},
        {"headline": "  Gunmen kill dozens in\tZamfara ", "body": body.replace(" ", "  ") + "\r\n"},
        {"headline": "Gunmen kill dozens in Zamfara", "body": body.replace("dozens", "58")},
    ]
    text = "\n".join(json.dumps(s) for s in sent)
    first_read = [s.id for s in read_stories(write(tmp_path, "a.jsonl", text))]
    second_read = [s.id for s in read_stories(write(tmp_path, "b.jsonl", text))]
    assert first_read == second_read
    assert first_read[0] == first_read[1]  # same story, re-sent with other whitespace
    assert first_read[0] != first_read[2]  # an edit is a different story
    assert all(SHA256_ID.fullmatch(i) for i in first_read)


# --- RSS / Atom ---------------------------------------------------------------------------------


def test_rss_items(tmp_path: Path) -> None:
    burkina, haiti, sales = read_stories(write(tmp_path, "monde.rss", RSS_FEED))
    assert burkina.id == "urn:newsml:afp.com:20220108:BFK38"  # guid
    assert burkina.body == (
        "OUAGADOUGOU (AFP) - Au moins douze soldats ont été tués samedi.\n\n"
        "Les assaillants ont incendié des véhicules."
    )  # content:encoded wins over description; tags and script gone
    assert burkina.published_at == "2022-01-08T14:05:00Z"
    assert (burkina.language, burkina.source, burkina.format) == (
        "fr",
        "AFP - Dépêches Monde",
        "rss",
    )
    assert burkina.url == "https://www.afp.com/fr/actus/burkina-attaque"
    assert haiti.id == "https://www.afp.com/fr/actus/haiti-tirs"  # no guid: the link
    assert haiti.body == (
        "Deux personnes ont été tuées mercredi à Port-au-Prince.\nDes maisons ont été incendiées."
    )
    assert haiti.source == "AFP Amériques"  # the item's own <source>
    assert sales.id == content_id(sales.headline, sales.body)  # neither guid nor link
    assert sales.published_at is None


def test_atom_entry(tmp_path: Path) -> None:
    [story] = read_stories(write(tmp_path, "efe.atom", ATOM_FEED))
    assert story.id == "urn:efe:20220106:zacatecas"
    assert story.body == "ZACATECAS (EFE).- Las autoridades hallaron los cuerpos de diez hombres."
    assert story.published_at == "2022-01-06T20:10:00Z"
    assert (story.language, story.source, story.url) == (
        "es",
        "EFE Internacional",
        "https://efe.example/zacatecas",
    )


def test_rss_that_is_not_xml_is_an_error() -> None:
    with pytest.raises(FeedError, match="not a readable RSS/Atom feed"):
        list(stories_from_bytes(b"<rss><channel><item>", "rss"))


# --- plain text ---------------------------------------------------------------------------------


def test_greek_sample_with_date_marker() -> None:
    [story] = read_stories(SAMPLES_DIR / "almaty-2022-01-el.txt")
    assert story.format == "text"
    assert story.published_at == "2022-01-01T00:00:00Z"  # month precision
    assert story.headline == (
        'Η αστυνομία της Αλμάτι ανακοινώνει ότι δεκάδες ταραξίες "εξαλείφθηκαν", '
        "μετέδωσε το Ίντερφαξ."
    )
    assert story.body.startswith("Η αστυνομία της Αλμάτι, της μεγαλύτερης πόλης")
    assert story.body.endswith("#kz #Казахстан pic.twitter.com/s3VHQfRI1I")
    assert "\n\n\n" not in story.body  # runs of blank lines collapsed
    assert "#Kazakhstan Shots heard in the city of #Almaty" in story.body
    assert SHA256_ID.fullmatch(story.id)
    assert story.id == content_id(story.headline, story.body)


TEXT_CASES = [
    (
        "no marker: first line is the headline",
        "Επεισόδια στα Εξάρχεια\n\nΟμάδα κουκουλοφόρων επιτέθηκε με μολότοφ.\n",
        "Επεισόδια στα Εξάρχεια",
        "Ομάδα κουκουλοφόρων επιτέθηκε με μολότοφ.",
        None,
    ),
    (
        "marker with a full date-time",
        " date 2022-01-06T11:05+06:00 Перестрелка в центре Алматы\nВоенные вошли на площадь.",
        "Перестрелка в центре Алматы",
        "Военные вошли на площадь.",
        "2022-01-06T05:05:00Z",
    ),
    (
        "marker alone: the next line is the headline",
        "date 2022-01-03\n\nAl menos 23 muertos en Arauca\n\nLos combates siguen.",
        "Al menos 23 muertos en Arauca",
        "Los combates siguen.",
        "2022-01-03T00:00:00Z",
    ),
    (
        "headline only",
        "FLASH Explosion in Kabul\n",
        "FLASH Explosion in Kabul",
        "FLASH Explosion in Kabul",
        None,
    ),
]


@pytest.mark.parametrize(
    ("text", "headline", "body", "published_at"),
    [c[1:] for c in TEXT_CASES],
    ids=[c[0] for c in TEXT_CASES],
)
def test_text_story(text: str, headline: str, body: str, published_at: str | None) -> None:
    story = text_story(text)
    assert story is not None
    assert (story.headline, story.body, story.published_at) == (headline, body, published_at)


def test_text_files_in_other_encodings(tmp_path: Path) -> None:
    text = "У Києві снігопад\n\nРух транспорту ускладнено."
    [utf16] = read_stories(write(tmp_path, "kyiv16.txt", text.encode("utf-16")))
    assert (utf16.headline, utf16.body) == ("У Києві снігопад", "Рух транспорту ускладнено.")
    with pytest.raises(FeedError, match=r"byte 0xd3 at offset 0 is not UTF-8"):
        list(read_stories(write(tmp_path, "kyiv1251.txt", text.encode("cp1251"))))


def test_empty_text_file_has_no_story(tmp_path: Path) -> None:
    assert list(read_stories(write(tmp_path, "empty.txt", " \n\n"))) == []


# --- HTML and dates -----------------------------------------------------------------------------

HTML_CASES = [
    ("<p>One.</p><p>Two.</p>", "One.\n\nTwo."),
    ("Line one<br>line two<br/>line three", "Line one\nline two\nline three"),
    ("<p>Tom &amp; Jerry &lt;3 &#8212; &laquo;oui&raquo;</p>", "Tom & Jerry <3 — «oui»"),
    ("<div>Kept</div><script>var x = '<p>gone</p>';</script><style>p{}</style>", "Kept"),
    ("<p>Shots <b>heard</b> in\n   <a href='x'>Almaty</a></p>", "Shots heard in Almaty"),
    ("<table><tr><td>Killed</td><td>12</td></tr><tr><td>Injured</td><td>4</td></tr></table>",
     "Killed 12\n\nInjured 4"),
    ("<ul><li>Kharkiv</li><li>Kyiv</li></ul>", "Kharkiv\n\nKyiv"),
    ("Plain text, no tags.", "Plain text, no tags."),
    ("<p>Unclosed <i>tags", "Unclosed tags"),
]  # fmt: skip


@pytest.mark.parametrize(("html", "text"), HTML_CASES)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


TIMESTAMP_CASES = [
    ("2022-01-06T08:51:00+03:00", "2022-01-06T05:51:00Z"),
    ("2022-01-06T05:42:00Z", "2022-01-06T05:42:00Z"),
    ("2022-01-06T05:42:00.250Z", "2022-01-06T05:42:00Z"),
    ("2022-01-06", "2022-01-06T00:00:00Z"),
    ("2022-01", "2022-01-01T00:00:00Z"),
    ("2022-01-06T05:42:00", "2022-01-06T05:42:00Z"),  # no offset: taken as UTC
    ("Thu, 06 Jan 2022 11:42:00 +0600", "2022-01-06T05:42:00Z"),
    ("Thu, 06 Jan 2022 05:42:00 GMT", "2022-01-06T05:42:00Z"),
    (1641447720, "2022-01-06T05:42:00Z"),
    (1641447720000, "2022-01-06T05:42:00Z"),  # epoch milliseconds
    ("yesterday", None),
    ("2022-13-01", None),
    ("", None),
    (None, None),
    (True, None),
]


@pytest.mark.parametrize(("value", "expected"), TIMESTAMP_CASES)
def test_parse_timestamp(value: object, expected: str | None) -> None:
    assert parse_timestamp(value) == expected


# --- the bundled samples ------------------------------------------------------------------------


def sample_stories() -> list[tuple[Path, RawStory]]:
    return [(path, story) for path in sample_paths() for story in read_stories(path)]


def trigrams(text: str) -> set[tuple[str, ...]]:
    words = [t.norm for t in tokenize(text)]
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def jaccard(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> float:
    return len(a & b) / len(a | b)


def test_samples_cover_every_format_and_language() -> None:
    stories = sample_stories()
    assert len(stories) >= 20
    assert {detect_format(path) for path, _ in stories} == set(STORY_FORMATS)
    assert {s.format for _, s in stories} == set(STORY_FORMATS)
    assert {s.language for _, s in stories} >= {"en", "el", "ru", "uk", "fr", "es", "ar"}
    ids = [s.id for _, s in stories]
    assert len(ids) == len(set(ids))
    assert all(s.published_at and s.published_at.endswith("Z") for _, s in stories)


def test_sample_paths_lists_only_feed_files() -> None:
    names = [p.name for p in sample_paths()]
    assert "almaty-2022-01-el.txt" in names
    assert "__init__.py" not in names
    assert "README.md" not in names
    assert names == sorted(names)


def test_samples_pass_validation_unchanged() -> None:
    for path, story in sample_stories():
        assert validate_raw(story.dumps(), 200_000) == story, path.name


def test_samples_hold_three_agency_versions_of_one_clash() -> None:
    stories = [s for _, s in sample_stories()]
    versions = [s for s in stories if s.source in ("Reuters", "TASS", "Interfax")]
    almaty = [s for s in versions if s.language == "en" and "Almaty" in s.headline]
    assert sorted(s.source for s in almaty) == ["Interfax", "Reuters", "TASS"]
    shingles = [trigrams(s.body) for s in almaty]
    for i in range(3):
        for j in range(i + 1, 3):
            assert jaccard(shingles[i], shingles[j]) >= 0.7, (almaty[i].source, almaty[j].source)
            assert almaty[i].body != almaty[j].body  # small edits, not copies
    others = [s for s in stories if s not in almaty]
    for other in others:
        for near in shingles:
            assert jaccard(trigrams(other.body), near) < 0.2, other.id

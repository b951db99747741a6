"""Generate schemas/*.schema.json from the Faust Records (`python -m streams.schemagen`)."""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import faust

from streams.records import Alert, RawStory, TaggedStory
from streams.tagging.model import PlaceKind
from streams.validate import STORY_FORMATS

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

# Message name (file stem) -> the Record it describes.
MESSAGE_RECORDS: dict[str, type[faust.Record]] = {
    "raw_story": RawStory,
    "tagged_story": TaggedStory,
    "alert": Alert,
}

# Constraints the Python types cannot say, taken from other code so they cannot drift either.
ISO_8601_PATTERN = (
    r"^\d{4}-\d{2}(-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?)?$"
)
FIELD_CONSTRAINTS: dict[tuple[str, str], dict[str, Any]] = {
    ("RawStory", "format"): {"enum": list(STORY_FORMATS)},
    ("RawStory", "published_at"): {"pattern": ISO_8601_PATTERN},
    ("TaggedStory", "published_at"): {"pattern": ISO_8601_PATTERN},
    ("LocationTag", "kind"): {"enum": list(get_args(PlaceKind))},
    ("FocusPlace", "kind"): {"enum": list(get_args(PlaceKind))},
    ("LocationTag", "lat"): {"minimum": -90, "maximum": 90},
    ("LocationTag", "lon"): {"minimum": -180, "maximum": 180},
    ("FocusPlace", "lat"): {"minimum": -90, "maximum": 90},
    ("FocusPlace", "lon"): {"minimum": -180, "maximum": 180},
    ("Alert", "lat"): {"minimum": -90, "maximum": 90},
    ("Alert", "lon"): {"minimum": -180, "maximum": 180},
}

FAUST_TAG_SCHEMA: dict[str, Any] = {
    "description": "Faust's type tag, added by Record.dumps(); ignored by readers.",
    "type": "object",
    "properties": {"ns": {"type": "string"}},
}

_PRIMITIVES: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_FIELD_COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+?)\s*$")


def field_comments(record: type[faust.Record]) -> dict[str, str]:
    """The trailing `# comment` of each field line in the Record's source, as its description."""
    try:
        source = inspect.getsource(record)
    except (OSError, TypeError):
        return {}
    comments = {}
    for line in source.splitlines():
        match = _FIELD_COMMENT.match(line)
        if match and match[1] in record._options.fields:
            comments[match[1]] = match[2]
    return comments


def _is_record(kind: object) -> bool:
    return isinstance(kind, type) and issubclass(kind, faust.Record)


def type_schema(kind: Any, defs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """JSON Schema of one field type; nested Records go into defs and are referenced."""
    if kind in _PRIMITIVES:
        return {"type": _PRIMITIVES[kind]}
    origin = get_origin(kind)
    args = get_args(kind)
    if origin in (Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        nullable = len(options) < len(args)
        if len(options) == 1 and options[0] in _PRIMITIVES and nullable:
            return {"type": [_PRIMITIVES[options[0]], "null"]}
        schemas = [type_schema(a, defs) for a in options]
        if nullable:
            schemas.append({"type": "null"})
        return {"anyOf": schemas}
    if origin in (list, tuple, Sequence) and args:
        return {"type": "array", "items": type_schema(args[0], defs)}
    if origin is dict and len(args) == 2 and args[0] is str:
        return {"type": "object", "additionalProperties": type_schema(args[1], defs)}
    if origin is Literal:
        return {"enum": list(args)}
    if _is_record(kind):
        name = kind.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            defs[name] = _object_schema(kind, defs)
        return {"$ref": f"#/$defs/{name}"}
    raise TypeError(f"no JSON Schema for field type {kind!r}; teach streams.schemagen about it")


def _object_schema(record: type[faust.Record], defs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    options = record._options
    comments = field_comments(record)
    properties: dict[str, Any] = {}
    for name, kind in options.fields.items():
        prop = type_schema(kind, defs)
        prop.update(FIELD_CONSTRAINTS.get((record.__name__, name), {}))
        if name in comments:
            prop["description"] = comments[name]
        if name in options.defaults:
            prop["default"] = options.defaults[name]
        properties[name] = prop
    properties["__faust"] = FAUST_TAG_SCHEMA
    return {
        "title": record.__name__,
        "description": inspect.cleandoc(record.__doc__ or record.__name__),
        "type": "object",
        "properties": properties,
        "required": [name for name in options.fields if name not in options.defaults],
        "additionalProperties": False,
    }


def record_schema(record: type[faust.Record]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the messages record.dumps() writes."""
    defs: dict[str, dict[str, Any]] = {}
    schema = {"$schema": JSON_SCHEMA_DIALECT, **_object_schema(record, defs)}
    if defs:
        schema["$defs"] = defs
    return schema


def render_schema(schema: dict[str, Any]) -> str:
    """Stable text of a schema: sorted keys, two-space indent, UTF-8, final newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(name: str, directory: Path = SCHEMA_DIR) -> Path:
    """Where the schema of message `name` (a MESSAGE_RECORDS key) lives."""
    return directory / f"{name}.schema.json"


def rendered_schemas() -> dict[str, str]:
    """Message name -> the text its schema file must have."""
    return {name: render_schema(record_schema(r)) for name, r in MESSAGE_RECORDS.items()}


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Schema files that are missing or differ from what the Records generate."""
    stale = []
    for name, text in rendered_schemas().items():
        path = schema_path(name, directory)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            stale.append(path)
    return stale


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Rewrite the schema files that changed; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered_schemas().items():
        path = schema_path(name, directory)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Write the schemas, or with --check exit 1 when any is out of date."""
    parser = argparse.ArgumentParser(prog="python -m streams.schemagen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema folder")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_schemas(args.dir)
        for path in stale:
            print(f"stale: {path} (run python -m streams.schemagen)", file=sys.stderr)
        return 1 if stale else 0
    for path in write_schemas(args.dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

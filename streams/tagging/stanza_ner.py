"""Place spans proposed by stanza NER models installed on disk (optional: needs the stanza extra).

Model layout read by StanzaPlaceProposer.from_dir - stanza's own resource layout, as written by
`stanza.download(lang, processors="tokenize,ner", model_dir=DIR)` on a connected machine:

    DIR/resources.json                  optional; stanza's own index of packages and dependencies
    DIR/<lang>/ner/<package>.pt         the NER model: the only one, or resources.json's default
    DIR/<lang>/pretrain/<name>.pt       the word vectors it was trained with (required)
    DIR/<lang>/forward_charlm/<name>.pt     character language models, for models trained
    DIR/<lang>/backward_charlm/<name>.pt    with them (both or neither)

When resources.json names the NER package's dependencies those files are used; otherwise each
folder must hold exactly one file. Nothing is ever downloaded. A language whose model is absent
or fails to load is listed in `missing` with the reason; it is never an error.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streams.tagging.model import Segment

log = logging.getLogger(__name__)

# Entity labels that denote places in stanza's NER tag sets: OntoNotes (GPE, LOC, FAC),
# CoNLL-03 / WikiNER and most others (LOC), and a few corpora that spell them out.
PLACE_LABELS = frozenset({"GPE", "LOC", "FAC", "LOCATION", "FACILITY"})

# Words as streams.tagging.text tokenizes them, plus each other non-space character on its own
# (stanza models are trained on text whose punctuation is tokenized).
_TOKEN = re.compile(r"\w+(?:['’\-]\w+)*|\.{2,}|[^\w\s]", re.UNICODE)
_SENTENCE_END = frozenset({".", "!", "?", "…", ";", "。", "！", "？", "؟"})  # ";" is U+037E
_MAX_SENTENCE_TOKENS = 150
_DEPENDENCY_FOLDERS = ("pretrain", "forward_charlm", "backward_charlm")


@functools.cache
def stanza_available() -> bool:
    """True when `import stanza` works (False, not an exception, when stanza or torch is broken)."""
    try:
        import stanza  # noqa: F401
    except Exception as exc:  # torch raises OSError/ValueError when its native libraries are absent
        log.info("stanza is not importable: %s: %s", type(exc).__name__, exc)
        return False
    return True


@dataclass(frozen=True, slots=True)
class StanzaModelFiles:
    """The files of one language's NER model under the model directory."""

    ner: Path
    pretrain: Path
    forward_charlm: Path | None = None
    backward_charlm: Path | None = None

    def pipeline_paths(self) -> dict[str, str]:
        """The stanza.Pipeline keyword arguments that point at these files."""
        paths = {"ner_model_path": str(self.ner), "ner_pretrain_path": str(self.pretrain)}
        if self.forward_charlm is not None and self.backward_charlm is not None:
            paths["ner_forward_charlm_path"] = str(self.forward_charlm)
            paths["ner_backward_charlm_path"] = str(self.backward_charlm)
        return paths


class ModelFilesMissing(Exception):
    """The model directory lacks a file the NER model of a language needs."""


def find_model_files(lang_dir: Path, lang_resources: Mapping[str, Any]) -> StanzaModelFiles:
    """Locate a language's NER model files in stanza's layout; raises ModelFilesMissing."""
    ner_dir = lang_dir / "ner"
    if not lang_dir.is_dir():
        raise ModelFilesMissing(f"no model directory {lang_dir}")
    candidates = sorted(ner_dir.glob("*.pt"))
    if not candidates:
        raise ModelFilesMissing(f"no NER model (*.pt) in {ner_dir}")
    default = lang_resources.get("default_processors", {}).get("ner")
    if isinstance(default, str) and (ner_dir / f"{default}.pt").is_file():
        ner = ner_dir / f"{default}.pt"
    elif len(candidates) == 1:
        ner = candidates[0]
    else:
        names = ", ".join(p.name for p in candidates)
        raise ModelFilesMissing(f"several NER models in {ner_dir} ({names}) and no default named")

    declared = lang_resources.get("ner", {}).get(ner.stem, {}).get("dependencies", [])
    wanted = {d["model"]: d["package"] for d in declared if d.get("model") in _DEPENDENCY_FOLDERS}
    found: dict[str, Path | None] = {}
    for folder in _DEPENDENCY_FOLDERS:
        if folder in wanted:
            path = lang_dir / folder / f"{wanted[folder]}.pt"
            if not path.is_file():
                raise ModelFilesMissing(f"{ner.name} needs {path}, which is absent")
            found[folder] = path
            continue
        files = sorted((lang_dir / folder).glob("*.pt"))
        if len(files) > 1:
            raise ModelFilesMissing(
                f"several files in {lang_dir / folder}, none named for {ner.name}"
            )
        found[folder] = files[0] if files else None
    pretrain = found["pretrain"]
    if pretrain is None:
        raise ModelFilesMissing(f"no word vectors (*.pt) in {lang_dir / 'pretrain'}")
    return StanzaModelFiles(ner, pretrain, found["forward_charlm"], found["backward_charlm"])


@dataclass(frozen=True, slots=True)
class WordSpan:
    """One token handed to stanza: text[start:end]."""

    start: int
    end: int


def split_sentences(text: str, segment: Segment) -> list[list[WordSpan]]:
    """Tokens of a segment in sentences: ends at . ! ? …, at line breaks, or at a length cap."""
    sentences: list[list[WordSpan]] = []
    current: list[WordSpan] = []
    previous_end = segment.start
    for match in _TOKEN.finditer(text, segment.start, segment.end):
        if current and "\n" in text[previous_end : match.start()]:
            sentences.append(current)
            current = []
        current.append(WordSpan(match.start(), match.end()))
        previous_end = match.end()
        if match.group()[0] in _SENTENCE_END or len(current) >= _MAX_SENTENCE_TOKENS:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return sentences


class StanzaPlaceProposer:
    """Proposes place spans (GPE/LOC/FAC-like labels) with stanza NER where a model is installed."""

    def __init__(
        self,
        pipelines: Mapping[str, Any],
        missing: Mapping[str, str],
        place_labels: Iterable[str] = PLACE_LABELS,
    ) -> None:
        self._pipelines = dict(pipelines)
        self._missing = dict(missing)
        self._place_labels = frozenset(place_labels)

    @classmethod
    def from_dir(
        cls,
        model_dir: Path,
        languages: Sequence[str],
        place_labels: Iterable[str] = PLACE_LABELS,
    ) -> StanzaPlaceProposer:
        """Load one NER pipeline per language from model_dir (layout in the module docstring)."""
        pipelines: dict[str, Any] = {}
        missing: dict[str, str] = {}
        if not stanza_available():
            for lang in languages:
                missing[lang] = "stanza is not installed (pip install 'wirewatch[stanza]')"
        else:
            resources = _read_resources(model_dir / "resources.json")
            for lang in dict.fromkeys(languages):
                try:
                    pipelines[lang] = _load_pipeline(model_dir, lang, resources)
                except ModelFilesMissing as exc:
                    missing[lang] = str(exc)
                except Exception as exc:  # a model stanza cannot load is reported, not fatal
                    missing[lang] = f"stanza could not load the model: {type(exc).__name__}: {exc}"
        for lang, reason in missing.items():
            log.warning("stanza NER for %r not available, gazetteer only: %s", lang, reason)
        if pipelines:
            log.info("stanza NER loaded for %s from %s", ", ".join(sorted(pipelines)), model_dir)
        return cls(pipelines, missing, place_labels)

    @property
    def languages(self) -> frozenset[str]:
        """Languages whose NER model loaded."""
        return frozenset(self._pipelines)

    @property
    def missing(self) -> dict[str, str]:
        """Language -> the reason its NER model is not available."""
        return dict(self._missing)

    def propose(self, text: str, segments: Sequence[Segment]) -> list[tuple[int, int]]:
        """Character (start, end) spans of place-like entities in segments whose language loaded."""
        by_language: dict[str, list[list[WordSpan]]] = {}
        for segment in segments:
            if segment.language in self._pipelines:
                by_language.setdefault(segment.language, []).extend(split_sentences(text, segment))
        spans: set[tuple[int, int]] = set()
        for lang, sentences in by_language.items():
            if not sentences:
                continue
            words = [[text[w.start : w.end] for w in sentence] for sentence in sentences]
            doc = self._pipelines[lang](words)
            for sentence, tagged in zip(sentences, doc.sentences, strict=True):
                for entity in tagged.ents:
                    if entity.type not in self._place_labels:
                        continue
                    first, last = entity.tokens[0].id[0] - 1, entity.tokens[-1].id[-1] - 1
                    spans.add((sentence[first].start, sentence[last].end))
        return sorted(spans)


def _read_resources(path: Path) -> dict[str, Any]:
    """stanza's resources.json when present and readable, else {}."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable %s: %s", path, exc)
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _load_pipeline(model_dir: Path, lang: str, resources: Mapping[str, Any]) -> Any:
    """A tokenize(pretokenized)+ner stanza.Pipeline for lang; raises when files are absent."""
    import stanza

    stanza_lang = lang
    while isinstance(resources.get(stanza_lang), dict) and "alias" in resources[stanza_lang]:
        stanza_lang = resources[stanza_lang]["alias"]
    lang_resources = resources.get(stanza_lang, {})
    files = find_model_files(model_dir / stanza_lang, lang_resources)
    options: dict[str, Any] = {
        "processors": "tokenize,ner",
        "tokenize_pretokenized": True,
        "download_method": None,
        "use_gpu": False,
        "logging_level": "WARN",
        **files.pipeline_paths(),
    }
    if lang_resources:
        return stanza.Pipeline(stanza_lang, dir=str(model_dir), **options)
    # stanza insists on a resources.json naming the language; a minimal one suffices with explicit
    # model paths. It is read while the pipeline is built, so a temporary file is enough.
    with tempfile.TemporaryDirectory(prefix="wirewatch-stanza-") as tmp:
        resources_file = Path(tmp) / "resources.json"
        resources_file.write_text(json.dumps({stanza_lang: {"lang_name": stanza_lang}}))
        return stanza.Pipeline(
            stanza_lang, dir=str(model_dir), resources_filepath=str(resources_file), **options
        )

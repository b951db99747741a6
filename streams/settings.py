"""The one settings object: read from the environment once, frozen, secrets typed as secrets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

PREFIX = "WIREWATCH_"


class Secret(str):
    """A string that does not show itself in reprs, logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('**********')" if self else "Secret('')"

    def reveal(self) -> str:
        return str.__str__(self)


class SettingsError(ValueError):
    """A setting from the environment has a value that cannot be used."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of wirewatch. Field `x` is read from env var `WIREWATCH_X`."""

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:19092"
    app_id: str = "wirewatch"
    topic_raw: str = "wire.stories.raw"
    topic_tagged: str = "wire.stories.tagged"
    topic_alerts: str = "wire.alerts"
    topic_deadletter: str = "wire.deadletter"
    topic_partitions: int = 4
    # Elasticsearch
    es_url: str = "http://127.0.0.1:19200"
    es_username: str = ""
    es_password: Secret = field(default_factory=lambda: Secret(""))
    es_api_key: Secret = field(default_factory=lambda: Secret(""))
    stories_index: str = "wirewatch-stories"
    alerts_index: str = "wirewatch-alerts"
    es_bulk_max_docs: int = 500
    # Worker
    bind_host: str = "127.0.0.1"  # where the worker's web and /metrics ports listen
    web_port: int = 16066
    metrics_port: int = 19108
    state_dir: Path = Path(".state")
    max_body_bytes: int = 200_000
    rules_file: Path | None = None
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    stanza_dir: Path | None = None
    # Processes that tag stories (each loads its own Tagger, ~0.6 GB); 0 tags in the event loop.
    tag_processes: int = 1
    # Local stack ports (deploy/local/stack reads the same variables)
    es_port: int = 19200
    kafka_port: int = 19092
    kafka_controller_port: int = 19094
    prometheus_port: int = 19090
    alertmanager_port: int = 19095

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `WIREWATCH_*` variables; unknown values raise SettingsError."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, str(f.type), raw)
        settings = cls(**values)  # type: ignore[arg-type]
        # Defaults that follow from other settings.
        if "WIREWATCH_KAFKA_BOOTSTRAP" not in env and "kafka_port" in values:
            object.__setattr__(settings, "kafka_bootstrap", f"127.0.0.1:{settings.kafka_port}")
        if "WIREWATCH_ES_URL" not in env and "es_port" in values:
            object.__setattr__(settings, "es_url", f"http://127.0.0.1:{settings.es_port}")
        return settings

    @property
    def cache_dir(self) -> Path:
        """Where built data (the gazetteer) is kept between starts."""
        return self.state_dir / "cache"

    @property
    def kafka_url(self) -> str:
        """The broker list as Faust wants it (`kafka://host:port;host:port`)."""
        return "kafka://" + ";".join(self.kafka_bootstrap.split(","))

    def env_names(self) -> list[str]:
        """All environment variable names this object reads (for deployment checks)."""
        return [PREFIX + f.name.upper() for f in fields(self)]


def _convert(name: str, type_name: str, raw: str) -> object:
    env_name = PREFIX + name.upper()
    try:
        if "int" in type_name:
            return int(raw)
        if "Path" in type_name:
            return Path(raw)
        if "Secret" in type_name:
            return Secret(raw)
    except ValueError:
        raise SettingsError(
            f"{env_name}={raw!r} is not a whole number; set it to e.g. "
            f"{env_name}=19092 or unset it to use the default"
        ) from None
    return raw

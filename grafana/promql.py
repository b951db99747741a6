"""PromQL for the dashboards and alert rules: selectors, and Grafana's variables made concrete."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

JOB = "wirewatch"  # the scrape job of the workers (deploy/prometheus/prometheus.yml)
INSTANCE_VARIABLE = "instance"
# Dashboards narrow every selector to the workers picked in the $instance variable.
DASHBOARD_SCOPE = f'job="{JOB}", instance=~"${INSTANCE_VARIABLE}"'
# Alert rules look at every worker of the job.
RULE_SCOPE = f'job="{JOB}"'

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

# Grafana's rounding of a raw interval (ms) to a readable one: (upper bound, rounded value).
_ROUNDING_MS: tuple[tuple[float, int], ...] = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (210_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000), (2_700_000, 1_800_000),
    (5_400_000, 3_600_000), (9_000_000, 7_200_000), (16_200_000, 10_800_000),
    (32_400_000, 21_600_000), (86_400_000, 43_200_000), (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)  # fmt: skip


def dashboard_selector(metric: str, *matchers: str) -> str:
    """`metric{job="wirewatch", instance=~"$instance", <matchers>}`."""
    return f"{metric}{{{', '.join((DASHBOARD_SCOPE, *matchers))}}}"


def rule_selector(metric: str, *matchers: str) -> str:
    """`metric{job="wirewatch", <matchers>}` (alert rules watch every worker)."""
    return f"{metric}{{{', '.join((RULE_SCOPE, *matchers))}}}"


def duration(ms: int) -> str:
    """A Prometheus duration for a whole number of milliseconds (`90s`, `5m`, `250ms`)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def round_interval(ms: float) -> int:
    """Round a raw interval the way Grafana does before it becomes $__interval."""
    for bound, rounded in _ROUNDING_MS:
        if ms < bound:
            return rounded
    return 31_536_000_000


@dataclass(frozen=True, slots=True)
class QueryInterval:
    """The built-in interval variables Grafana sets for one panel query."""

    range_ms: int
    interval_ms: int
    rate_interval_ms: int

    @classmethod
    def for_range(cls, range_ms: int, scrape_interval_ms: int,
                  max_data_points: int = 1000) -> QueryInterval:
        """$__interval from the time range and panel width (never below the scrape interval),
        $__rate_interval = max($__interval + scrape interval, 4 x scrape interval)."""
        interval = max(round_interval(range_ms / max_data_points), scrape_interval_ms)
        rate = max(interval + scrape_interval_ms, 4 * scrape_interval_ms)
        return cls(range_ms=range_ms, interval_ms=interval, rate_interval_ms=rate)

    def variables(self) -> dict[str, str]:
        return {
            "__interval": duration(self.interval_ms),
            "__interval_ms": str(self.interval_ms),
            "__rate_interval": duration(self.rate_interval_ms),
            "__range": duration(self.range_ms),
            "__range_s": str(self.range_ms // 1000),
            "__range_ms": str(self.range_ms),
        }


class UnresolvedVariable(ValueError):
    """A query still holds a Grafana variable after interpolation."""


def interpolate(expr: str, variables: Mapping[str, str]) -> str:
    """Replace Grafana variables ($name, ${name}, [[name]]) with values; unknown ones raise."""

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name not in variables:
            raise UnresolvedVariable(f"no value for ${name} in {expr!r}")
        return variables[name]

    return _VARIABLE.sub(value, expr)


def parse_duration_ms(text: str) -> int:
    """Milliseconds of a Prometheus/Grafana duration like `5s`, `1m30s`, `250ms`."""
    parts = re.fullmatch(r"((\d+)(ms|s|m|h|d|w|y))+", text.strip())
    if not parts:
        raise ValueError(f"not a duration: {text!r}")
    sizes = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000,
             "w": 604_800_000, "y": 31_536_000_000}
    return sum(int(n) * sizes[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text))

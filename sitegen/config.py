"""Load and validate the TOML configuration once, reporting every error as "key.path: message".

The schema is one declarative table (SCHEMA): each key has a kind, a default, a check and
a one-line doc. One code path validates every section, and the README's reference is
tested against the same table.
"""

from __future__ import annotations

import difflib
import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EMBEDDED = "<embedded default>"
PANEL_KINDS = ("line", "area", "stat", "bar", "heatmap")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SELECTOR = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})?$", re.S)
_JOURNAL_MATCH = re.compile(r"^[A-Z0-9_]+=.*$")
_BUCKET = re.compile(r"^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


class ConfigError(Exception):
    """Raised with every problem found; .errors is the list of "key.path: message" strings."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class SiteConfig:
    """[site]: what the site is called, where it goes, how often it is made."""

    title: str = "sitegen"
    base_url: str = ""
    out_dir: Path = Path("public")
    state_dir: Path = Path(".sitegen")
    interval_seconds: int = 30
    workers: int = 0
    history_retention_seconds: int = 7 * 86400
    refresh_seconds: int = 0
    metrics_listen: str = "127.0.0.1:9464"
    otlp_endpoint: str = ""


@dataclass(frozen=True)
class PrometheusConfig:
    """[prometheus]: the server the panels query."""

    url: str = "http://127.0.0.1:9090"
    timeout_seconds: float = 5.0
    bearer_token: str = ""
    username: str = ""
    password: str = ""


@dataclass(frozen=True)
class PanelConfig:
    """One [[panels]] entry: a chart on the metrics page."""

    title: str
    query: str = ""
    range_seconds: int = 3600
    unit: str = ""
    kind: str = "line"
    histogram: str = ""
    percentiles: tuple[float, ...] = (0.5, 0.95, 0.99)
    by: tuple[str, ...] = ()
    rate_seconds: int = 300
    legend: str = ""
    thresholds: tuple[float, ...] = ()
    max_series: int = 50


@dataclass(frozen=True)
class TracesConfig:
    """[traces]: OTLP JSON files to read besides sitegen's own spans."""

    otlp_json: tuple[str, ...] = ()
    max_traces: int = 50
    jaeger_url: str = ""
    jaeger_services: tuple[str, ...] = ()
    tempo_url: str = ""
    tempo_query: str = "{}"
    lookback_seconds: int = 3600


@dataclass(frozen=True)
class LogsConfig:
    """[logs]: log files to tail besides sitegen's own log."""

    paths: tuple[str, ...] = ()
    format: str = "auto"
    tail_lines: int = 200
    journald: bool = False
    journald_matches: tuple[str, ...] = ()
    journald_directory: str = ""
    timezone: str = "UTC"  # of log times written without a zone


@dataclass(frozen=True)
class RedactConfig:
    """[redact]: secrets of your own to mask, besides the built-in kinds."""

    patterns: tuple[str, ...] = ()


@dataclass(frozen=True)
class PublishConfig:
    """[publish]: the S3 bucket and CloudFront distribution of the public site."""

    bucket: str = ""
    prefix: str = ""
    region: str = "us-east-1"
    endpoint_url: str = ""
    distribution_id: str = ""
    cloudwatch: bool = False
    reconcile_minutes: int = 10


@dataclass(frozen=True)
class AlertsConfig:
    """[alerts]: which alerts are read, which are public, how long incidents are kept."""

    prometheus: bool = True  # after parsing: on only when [prometheus] is set too
    alertmanager_url: str = ""
    severities: tuple[str, ...] = ()
    matchers: tuple[str, ...] = ()
    keep_days: int = 90
    source_failures: int = 3


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    site: SiteConfig = field(default_factory=SiteConfig)
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    panels: tuple[PanelConfig, ...] = ()
    traces: TracesConfig = field(default_factory=TracesConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)
    redact: RedactConfig = field(default_factory=RedactConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    source: str = EMBEDDED


# --- value checkers: each returns the converted value or raises ValueError(message) ---


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)  # fmt: skip


def _int(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, got {_kind(value)}")
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}, got {value}")
        return value

    return check


def _number(lo: float, hi: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"must be a number, got {_kind(value)}")
        if not lo < value <= hi:
            raise ValueError(f"must be more than {lo:g} and at most {hi:g}, got {value}")
        return float(value)

    return check


def parse_duration(value: Any) -> float:
    """Return seconds from "30s", "5m", "1h", "7d", "2w" or a bare number of seconds."""
    if isinstance(value, bool):
        raise ValueError(f"must be a duration, got {_kind(value)}")
    if isinstance(value, int):
        # A 400-digit integer does not fit a float: as a duration it is simply infinite.
        return float(value) if abs(value) < 10**300 else (math.inf if value > 0 else -math.inf)
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        if m := _DURATION.match(value):
            number = m.group(1)
            amount = float(number) if len(number) < 300 else math.inf
            return amount * _UNIT_SECONDS[m.group(2)]
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 1h, 7d)")
    raise ValueError(f"must be a duration, got {_kind(value)}")


def _duration(lo: int, hi: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        seconds = parse_duration(value)
        if not lo <= seconds <= hi:
            raise ValueError(f"must be between {_human(lo)} and {_human(hi)}, got {value!r}")
        return int(seconds)

    return check


def _human(seconds: int) -> str:
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


def _url(optional: bool, credentials: str = "") -> Callable[[Any], str]:
    """Check an http(s) URL; `credentials` names the keys that carry its user and password."""

    def check(value: Any) -> str:
        text = _str(value).strip()
        if optional and not text:
            return ""
        try:
            parts = urlsplit(text)
            host, userinfo = parts.hostname, parts.username is not None
            parts.port  # noqa: B018 -- raises ValueError on a port out of range
        except ValueError:
            host = userinfo = None
        if userinfo:
            # The URL is shown on the site (sources, errors): a password in it would be public.
            # Never echo the value here: this message is printed and logged.
            use = f"; use {credentials}" if credentials else ""
            raise ValueError(
                f"must not carry a user name or password (it would be shown on the site){use}"
            )
        if parts.scheme not in ("http", "https") or not host:
            raise ValueError(f"must be an http(s) URL with a host, got {value!r}")
        return text.rstrip("/")

    return check


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if _str(value) not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return value

    return check


def _zone(value: Any) -> str:
    try:
        ZoneInfo(_str(value))
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"not an IANA time zone (e.g. UTC, Europe/Berlin): {value!r}") from None
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {_kind(value)}")
    return value


def _nonempty(value: Any) -> str:
    if not _str(value).strip():
        raise ValueError("must not be empty")
    return value


def _globs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError("must be an array of non-empty glob strings")
    return tuple(value)


def _floats(lo: float, hi: float) -> Callable[[Any], tuple[float, ...]]:
    def check(value: Any) -> tuple[float, ...]:
        ok = isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and lo <= v <= hi for v in value
        )
        if not ok:
            raise ValueError(f"must be an array of numbers between {lo:g} and {hi:g}")
        return tuple(float(v) for v in value)

    return check


def _label_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(v, str) and _LABEL.match(v) for v in value
    ):
        raise ValueError("must be an array of label names ([a-zA-Z_][a-zA-Z0-9_]*)")
    return tuple(value)


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("must be an array of non-empty strings")
    return tuple(value)


def _journal_matches(value: Any) -> tuple[str, ...]:
    bad = [v for v in _strings(value) if v != "+" and not _JOURNAL_MATCH.match(v)]
    if bad:
        raise ValueError(f"not a journal match (FIELD=value, or + between groups): {bad[0]!r}")
    return tuple(value)


def _regexes(value: Any) -> tuple[str, ...]:
    problems = []
    for i, pattern in enumerate(_strings(value)):
        try:
            re.compile(pattern)
        except (re.error, OverflowError, RecursionError) as exc:  # a{99999999999}: Overflow
            problems.append(f"[{i}] {pattern!r} is not a regular expression: {exc}")
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(value)


def _metric_selector(value: Any) -> str:
    if not _SELECTOR.match(_str(value)):
        raise ValueError(f"must be a metric name with an optional {{...}} selector, got {value!r}")
    return value


def _matchers(value: Any) -> tuple[str, ...]:
    from sitegen.alerts.select import parse_matcher  # and the model: only when matchers are set

    for text in _strings(value):
        parse_matcher(text)  # raises ValueError naming the bad one
    return tuple(value)


def _listen(value: Any) -> str:
    host, sep, port = _str(value).rpartition(":")
    if value and not (
        sep and _listen_host(host) and port.isascii() and port.isdigit() and 0 < int(port) < 65536
    ):
        raise ValueError(
            f"must be host:port (e.g. 127.0.0.1:9464, [::1]:9464) or empty, got {value!r}"
        )
    return value


def _listen_host(host: str) -> bool:
    """Whether the server can bind to host: an IPv4 address, [IPv6] in brackets, or a name."""
    if host.startswith("[") and host.endswith("]"):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    # A bare IPv6 address is ambiguous with its port; a name must be a plain DNS name.
    return bool(re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", host))


def _bucket(value: Any) -> str:
    if _str(value) and not _BUCKET.match(value):
        raise ValueError(f"not a valid S3 bucket name: {value!r} (3-63 of a-z 0-9 . -)")
    return value


def _prefix(value: Any) -> str:
    text = _str(value).strip("/")
    return f"{text}/" if text else ""


def _path(value: Any) -> Path:
    if not _nonempty(value):
        raise ValueError("must not be empty")
    if "\0" in value:
        raise ValueError("must not contain a NUL character")
    try:
        return Path(value).expanduser()
    except RuntimeError:  # ~someone who does not exist here
        raise ValueError(f"cannot expand {value!r}: no such user's home directory") from None


@dataclass(frozen=True)
class Key:
    """One documented config key: its TOML name, field, check, kind, default and doc."""

    name: str
    attr: str
    check: Callable[[Any], Any]
    kind: str
    doc: str
    required: bool = False


_SECTIONS: dict[str, tuple[type, tuple[Key, ...]]] = {
    "site": (SiteConfig, (
        Key("title", "title", _str, "string", "Site title, shown in every page's header."),
        Key("base_url", "base_url", _url(True), "URL",
            "Public URL of the site, for absolute links; empty when unknown."),
        Key("out_dir", "out_dir", _path, "path",
            "Where the site is written (a symlink to the newest build)."),
        Key("state_dir", "state_dir", _path, "path",
            "History, last good data per source, sitegen's own spans and logs."),
        Key("interval_seconds", "interval_seconds", _duration(1, 86400), "duration",
            "Time between cycles; the pages' refresh period and the sources' deadline (half of it) "
            "follow from it."),
        Key("workers", "workers", _int(0, 64), "integer",
            "Render processes; 0 = one per CPU, 1 = render in the main process."),
        Key("history_retention", "history_retention_seconds", _duration(3600, 400 * 86400),
            "duration", "How long host and self samples are kept in the local history."),
        Key("refresh_seconds", "refresh_seconds", _duration(0, 86400), "duration",
            "Period of the pages' <meta refresh>; 0 = the interval."),
        Key("metrics_listen", "metrics_listen", _listen, "host:port",
            "Where `sitegen run` serves its own /metrics for Prometheus; empty = off."),
        Key("otlp_endpoint", "otlp_endpoint", _url(True), "URL",
            "OpenTelemetry collector (OTLP/HTTP, e.g. http://127.0.0.1:4318) that also gets "
            "sitegen's own spans; empty = spans stay local."),
    )),
    "prometheus": (PrometheusConfig, (
        Key("url", "url", _url(False, "prometheus.username and prometheus.password"), "URL",
            "Prometheus (or Thanos, Mimir) HTTP API base URL, without credentials."),
        Key("timeout_seconds", "timeout_seconds", _number(0, 300), "number",
            "Timeout of each query, in seconds."),
        Key("bearer_token", "bearer_token", _str, "secret",
            "Bearer token sent with queries; write \"${ENV_VAR}\" to keep it out of the file."),
        Key("username", "username", _str, "string", "Basic-auth user name."),
        Key("password", "password", _str, "secret", "Basic-auth password; use \"${ENV_VAR}\"."),
    )),
    "panels": (PanelConfig, (
        Key("title", "title", _nonempty, "string", "Chart title (required).", required=True),
        Key("query", "query", _nonempty, "PromQL",
            "PromQL expression; give either this or `histogram`."),
        Key("histogram", "histogram", _metric_selector, "metric",
            "A histogram's name (optionally with a {...} selector): the panel charts its "
            "`percentiles` through histogram_quantile over the _bucket series."),
        Key("percentiles", "percentiles", _floats(0, 1), "numbers",
            "Quantiles drawn for a `histogram` panel."),
        Key("by", "by", _label_names, "label names",
            "Labels a `histogram` panel keeps apart (one line per value and percentile)."),
        Key("rate", "rate_seconds", _duration(15, 86400), "duration",
            "rate() window of a `histogram` panel."),
        Key("legend", "legend", _str, "template",
            "Series names from labels, e.g. \"{{service}} {{method}}\"; empty = all labels."),
        Key("thresholds", "thresholds", _floats(-1e300, 1e300), "numbers",
            "Values drawn as dashed lines across the chart (SLOs, limits)."),
        Key("range", "range_seconds", _duration(60, 90 * 86400), "duration",
            "How far back the chart reaches."),
        Key("unit", "unit", _str, "string",
            "Drives number formatting: bytes, bytes/s, seconds, percent, ratio, req/s, ..."),
        Key("max_series", "max_series", _int(1, 1000), "integer",
            "Series drawn at most; past it the ones with the largest newest value are drawn "
            "and the panel says how many more there were."),
        Key("kind", "kind", _choice(*PANEL_KINDS), ", ".join(PANEL_KINDS),
            "Chart kind: lines, stacked areas, a figure with a sparkline per series, bars of "
            "each series' newest value, or a heatmap of a `histogram`'s buckets over time."),
    )),
    "traces": (TracesConfig, (
        Key("otlp_json", "otlp_json", _globs, "globs",
            "OTLP JSON files (the Collector's file exporter output) to read traces from."),
        Key("max_traces", "max_traces", _int(1, 10000), "integer", "Newest traces shown."),
        Key("jaeger_url", "jaeger_url", _url(True), "URL",
            "Jaeger query service (e.g. http://127.0.0.1:16686) whose /api/traces are read; "
            "empty = off."),
        Key("jaeger_services", "jaeger_services", _strings, "strings",
            "Services whose traces are fetched from Jaeger; empty = every service it lists."),
        Key("tempo_url", "tempo_url", _url(True), "URL",
            "Grafana Tempo HTTP API (e.g. http://127.0.0.1:3200) searched for traces; "
            "empty = off."),
        Key("tempo_query", "tempo_query", _nonempty, "TraceQL",
            "Which traces Tempo's search returns, e.g. '{ status = error }'."),
        Key("lookback", "lookback_seconds", _duration(60, 7 * 86400), "duration",
            "How far back the Jaeger and Tempo searches reach."),
    )),
    "logs": (LogsConfig, (
        Key("paths", "paths", _globs, "globs", "Log files to tail."),
        Key("format", "format", _choice("auto", "json", "logfmt", "plain"),
            "auto, json, logfmt or plain",
            "Line format; auto decides per file from its first lines (a line that does not "
            "fit is parsed as whichever format it is in)."),
        Key("tail_lines", "tail_lines", _int(1, 100000), "integer",
            "Newest lines the logs pages show: the newest on the first, the rest on older pages."),
        Key("journald", "journald", _bool, "boolean",
            "Also read the systemd journal, through `journalctl -o json`."),
        Key("journald_matches", "journald_matches", _journal_matches, "matches",
            "journalctl matches, e.g. [\"_SYSTEMD_UNIT=nginx.service\"]; empty = every entry "
            "sitegen may read."),
        Key("journald_directory", "journald_directory", _str, "path",
            "Journal directory to read (`journalctl --directory`), e.g. journals shipped "
            "from other hosts; empty = this machine's journal."),
        Key("timezone", "timezone", _zone, "IANA zone",
            "Zone of log times written without one (syslog, log4j, ...), e.g. "
            "\"Europe/Berlin\"; times that name their zone or offset keep it."),
    )),
    "redact": (RedactConfig, (
        Key("patterns", "patterns", _regexes, "regexes",
            "Regular expressions of your own secrets: what each matches is replaced by "
            "[REDACTED] in logs and traces, before anything is written (use a lookbehind, "
            "`(?<=key=)\\w+`, to keep context)."),
    )),
    "publish": (PublishConfig, (
        Key("bucket", "bucket", _bucket, "string", "S3 bucket; empty = no publishing."),
        Key("prefix", "prefix", _prefix, "string", "Key prefix inside the bucket."),
        Key("region", "region", _str, "string", "AWS region of the bucket."),
        Key("endpoint_url", "endpoint_url", _url(True), "URL",
            "Endpoint for S3, CloudFront and CloudWatch alike (a moto server; MinIO for S3 "
            "alone, without distribution_id); empty = AWS."),
        Key("distribution_id", "distribution_id", _str, "string",
            "CloudFront distribution to invalidate; empty = no invalidation."),
        Key("cloudwatch", "cloudwatch", _bool, "boolean",
            "Chart the distribution's requests and error rates from CloudWatch (needs "
            "`distribution_id` and cloudwatch:GetMetricStatistics)."),
        Key("reconcile_minutes", "reconcile_minutes", _int(1, 1440), "integer",
            "How often `sitegen run` checks every object in the bucket (one LIST) and "
            "repairs what was deleted or overwritten behind its back."),
    )),
    "alerts": (AlertsConfig, (
        Key("prometheus", "prometheus", _bool, "boolean",
            "Read the firing alerts of `[prometheus]` (its /api/v1/alerts) when that section "
            "or a panel is configured and `alertmanager_url` is not."),
        Key("alertmanager_url", "alertmanager_url", _url(True), "URL",
            "Alertmanager (e.g. http://127.0.0.1:9093) whose /api/v2/alerts are read instead "
            "of Prometheus', so silences and inhibitions are honoured; empty = off."),
        Key("severities", "severities", _strings, "strings",
            "Severity labels shown, e.g. [\"critical\", \"warning\"]; empty = every severity."),
        Key("matchers", "matchers", _matchers, "matchers",
            "Label matchers every public alert must satisfy, e.g. ['public=\"true\"'] "
            "(=, !=, =~, !~, as in PromQL)."),
        Key("keep_days", "keep_days", _int(1, 3650), "integer",
            "Days a resolved incident stays on the incidents pages, the feed and status.json."),
        Key("source_failures", "source_failures", _int(0, 10000), "integer",
            "Cycles in a row a source must fail to open an incident of sitegen's own "
            "(SourceFailing); 0 = never."),
    )),
}  # fmt: skip


def _default(cls: type, attr: str) -> Any:
    """Return a dataclass field's default, None for a required field."""
    value = next(f.default for f in fields(cls) if f.name == attr)
    return None if value is MISSING else value


# (section, key, kind, default, doc) for every key: the reference the README is tested against.
SCHEMA = tuple(
    (section, key.name, key.kind, _default(cls, key.attr), key.doc)
    for section, (cls, keys) in _SECTIONS.items()
    for key in keys
)


def _interpolate(value: Any, where: str, env: Mapping[str, str], errors: list[str]) -> Any:
    """Replace ${NAME} in strings (recursively in arrays) by environment variables."""
    if isinstance(value, list):
        return [_interpolate(v, where, env, errors) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in env:
            errors.append(f"{where}: environment variable {m.group(1)} is not set")
            return ""
        return env[m.group(1)]

    return _ENV.sub(sub, value)


def _unknown(where: str, key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{where}: unknown key{hint}"


def _table(
    where: str, raw: Any, section: str, env: Mapping[str, str], errors: list[str]
) -> dict[str, Any] | None:
    """Validate one table against its section's keys; return dataclass kwargs, or None."""
    if not isinstance(raw, dict):
        errors.append(f"{where}: must be a table, got {_kind(raw)}")
        return None
    keys = {k.name: k for k in _SECTIONS[section][1]}
    out: dict[str, Any] = {}
    for name, value in raw.items():
        path = f"{where}.{name}"
        key = keys.get(name)
        if key is None:
            errors.append(_unknown(path, name, list(keys)))
            continue
        try:
            value = _interpolate(value, path, env, errors)
            out[key.attr] = key.check(value)
        except ValueError as exc:
            errors.append(f"{path}: {exc}")
        except RecursionError:  # arrays nested hundreds deep: no key takes those
            errors.append(f"{path}: nested too deeply for a {key.kind}")
    for key in keys.values():
        if key.required and key.name not in raw:
            errors.append(f"{where}.{key.name}: required")
    return out


def parse(
    text: str,
    source: str = "<string>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Parse and validate TOML text; raise ConfigError listing every problem."""
    env = os.environ if env is None else env
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{source}: TOML syntax error: {exc}"]) from None
    except RecursionError:  # tomllib recurses once per nested array or inline table
        raise ConfigError([f"{source}: TOML nested too deeply to read"]) from None
    errors: list[str] = []
    built: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            errors.append(_unknown(name, name, list(_SECTIONS)))
        elif name == "panels":
            if not isinstance(value, list):
                errors.append("panels: must be an array of tables ([[panels]])")
                continue
            panels = [_table(f"panels[{i}]", v, name, env, errors) for i, v in enumerate(value)]
            # Judged on what was written, so a bad histogram is one error, not two.
            for i, (given, panel) in enumerate(zip(value, panels, strict=True)):
                if panel is None:
                    continue
                if bool(given.get("query")) == bool(given.get("histogram")):
                    errors.append(f"panels[{i}]: give either query or histogram (one of them)")
                elif panel.get("kind") == "heatmap" and not given.get("histogram"):
                    errors.append(f"panels[{i}].kind: a heatmap needs `histogram`, not `query`")
                elif panel.get("kind") == "heatmap" and panel.get("by"):
                    errors.append(f"panels[{i}].by: a heatmap sums every series but le")
            built[name] = panels
        else:
            built[name] = _table(name, value, name, env, errors)
    if errors:
        raise ConfigError(errors)
    base = base_dir or Path.cwd()
    site = SiteConfig(**(built.get("site") or {}))
    site = SiteConfig(
        **{
            **site.__dict__,
            "out_dir": (base / site.out_dir).absolute(),
            "state_dir": (base / site.state_dir).absolute(),
        }
    )
    return Config(
        site=site,
        prometheus=PrometheusConfig(**(built.get("prometheus") or {})),
        panels=tuple(PanelConfig(**p) for p in built.get("panels", ()) if p is not None),
        traces=TracesConfig(**(built.get("traces") or {})),
        logs=LogsConfig(**(built.get("logs") or {})),
        publish=PublishConfig(**(built.get("publish") or {})),
        redact=RedactConfig(**(built.get("redact") or {})),
        alerts=_alerts(built.get("alerts") or {}, "prometheus" in raw or "panels" in raw),
        source=source,
    )


def _alerts(given: dict[str, Any], prometheus_set: bool) -> AlertsConfig:
    alerts = AlertsConfig(**given)
    # Prometheus' alerts are read only from a server the config names, and not when an
    # Alertmanager (which has them too, silences applied) is read instead.
    use = alerts.prometheus and prometheus_set and not alerts.alertmanager_url
    return AlertsConfig(**{**alerts.__dict__, "prometheus": use})


def find_config(explicit: str | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """Return the config file to read: --config, $SITEGEN_CONFIG, ./sitegen.toml, or None."""
    for given, how in ((explicit, "--config"), (env.get("SITEGEN_CONFIG"), "$SITEGEN_CONFIG")):
        if given:
            path = cwd / Path(given).expanduser()
            if not path.is_file():
                raise ConfigError([f"{given}: no such config file (from {how})"])
            return path
    local = cwd / "sitegen.toml"
    return local if local.is_file() else None


def load(
    explicit: str | None = None, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> Config:
    """Find, read and validate the configuration; None found means the embedded default."""
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    path = find_config(explicit, env, cwd)
    if path is None:
        return parse("", source=EMBEDDED, env=env, base_dir=cwd)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read: {exc}"]) from None
    return parse(text, source=str(path), env=env, base_dir=path.parent)

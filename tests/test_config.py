"""Config: every error reported at once, by key; defaults; env secrets; lookup order."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitegen.config import EMBEDDED, SCHEMA, ConfigError, find_config, load, parse


def errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as exc:
        parse(text, env=env or {})
    return exc.value.errors


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[site]\ntitel = "x"', "site.titel: unknown key (did you mean 'title'?)"),
        ("[sight]\n", "sight: unknown key (did you mean 'site'?)"),
        ("[site]\nworkers = true", "site.workers: must be an integer, got a boolean"),
        ("[site]\nworkers = 65", "site.workers: must be between 0 and 64, got 65"),
        ("[site]\ninterval_seconds = 0", "site.interval_seconds: must be between 1s and 1d"),
        ('[site]\ninterval_seconds = "soon"', "site.interval_seconds: not a duration: 'soon'"),
        ('[site]\nbase_url = "ftp://x"', "site.base_url: must be an http(s) URL with a host"),
        ('[prometheus]\nurl = "localhost:9090"', "prometheus.url: must be an http(s) URL"),
        ("[prometheus]\ntimeout_seconds = 0", "prometheus.timeout_seconds: must be more than 0"),
        ('[logs]\nformat = "xml"', "logs.format: must be one of auto, json, logfmt, plain"),
        ("[logs]\npaths = [1]", "logs.paths: must be an array of non-empty glob strings"),
        ('[publish]\nbucket = "Bad_Bucket"', "publish.bucket: not a valid S3 bucket name"),
        ('[[panels]]\ntitle = "x"', "panels[0]: give either query or histogram"),
        ('[[panels]]\nquery = "up"', "panels[0].title: required"),
        ('[[panels]]\ntitle = "x"\nhistogram = "a b"', "panels[0].histogram: must be a metric"),
        ('[[panels]]\ntitle = "x"\nquery = "up"\nrange = "30s"', "panels[0].range: must be"),
        ('[panels]\ntitle = "x"', "panels: must be an array of tables ([[panels]])"),
        ('site = "x"', "site: must be a table, got a string"),
        (
            '[[panels]]\ntitle = "x"\nquery = "up"\nkind = "heatmap"',
            "panels[0].kind: a heatmap needs",
        ),
        (
            '[redact]\npatterns = ["ok", "(open"]',
            "redact.patterns: [1] '(open' is not a regular exp",
        ),
        ('[logs]\njournald_matches = ["nginx"]', "logs.journald_matches: not a journal match"),
        ('[traces]\njaeger_url = "jaeger:16686"', "traces.jaeger_url: must be an http(s) URL"),
        ('[traces]\nlookback = "10s"', "traces.lookback: must be between 1m and 1w"),
        # Hostile values: each an error naming its key, none a crash.
        (f"[site]\ninterval_seconds = {'9' * 400}", "site.interval_seconds: must be between"),
        (f'[site]\nhistory_retention = "{"9" * 400}s"', "site.history_retention: must be betw"),
        ('[site]\nout_dir = "~nosuchuser/x"', "site.out_dir: cannot expand '~nosuchuser/x'"),
        ('[site]\nstate_dir = "a\\u0000b"', "site.state_dir: must not contain a NUL character"),
        ('[redact]\npatterns = ["a{99999999999}"]', "redact.patterns: [0] 'a{99999999999}' is not"),
        ("x = " + "[" * 5000 + "]" * 5000, "<string>: TOML nested too deeply"),
        ("[logs]\npaths = " + "[" * 400 + "]" * 400, "logs.paths: must be an array of non-empty"),
        ('[site]\nmetrics_listen = "::1:9464"', "site.metrics_listen: must be host:port"),
        ('[site]\nmetrics_listen = "no such host:9464"', "site.metrics_listen: must be host:port"),
        ('[site]\nmetrics_listen = "127.0.0.1:99999"', "site.metrics_listen: must be host:port"),
        # Credentials in a URL would be shown on the site.
        (
            '[prometheus]\nurl = "http://admin:hunter2@127.0.0.1:9090"',
            "prometheus.url: must not carry a user name or password (it would be shown on the "
            "site); use prometheus.username and prometheus.password",
        ),
        ('[traces]\njaeger_url = "http://u:p@j:16686"', "traces.jaeger_url: must not carry a"),
        ('[traces]\ntempo_url = "http://token@t:3200"', "traces.tempo_url: must not carry a"),
        ('[site]\nbase_url = "https://u:p@example.org"', "site.base_url: must not carry a"),
    ],
)
def test_each_error_names_its_key(toml: str, expected: str) -> None:
    found = errors(toml)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_three_mistakes_are_reported_together() -> None:
    found = errors(
        '[site]\ntitel = "x"\nworkers = "2"\n[[panels]]\ntitle = "a"\nquery = "up"\n'
        'range = "1 hour"\n'
    )
    assert [e.split(":")[0] for e in found] == ["site.titel", "site.workers", "panels[0].range"]


def test_toml_syntax_error_names_the_line() -> None:
    (error,) = errors('[site]\ntitle = "x"\nworkers = = 2\n')
    assert "line 3" in error and "TOML syntax error" in error


def test_defaults_of_the_embedded_default(tmp_path: Path) -> None:
    cfg = load(None, env={}, cwd=tmp_path)
    assert cfg.source == EMBEDDED
    assert cfg.site.out_dir == tmp_path / "public" and cfg.site.state_dir == tmp_path / ".sitegen"
    assert cfg.site.interval_seconds == 30 and cfg.site.workers == 0
    assert cfg.panels == () and cfg.publish.bucket == ""


def test_values_are_converted() -> None:
    cfg = parse(
        '[site]\ninterval_seconds = "1m"\nhistory_retention = "2w"\nbase_url = "https://x.io/"\n'
        '[publish]\nprefix = "/site/"\n[[panels]]\ntitle = "t"\nquery = "up"\nrange = "6h"\n',
        env={},
    )
    assert cfg.site.interval_seconds == 60 and cfg.site.history_retention_seconds == 14 * 86400
    assert cfg.site.base_url == "https://x.io" and cfg.publish.prefix == "site/"
    assert cfg.panels[0].range_seconds == 6 * 3600


def test_secrets_come_from_the_environment() -> None:
    text = '[prometheus]\nbearer_token = "${PROM_TOKEN}"\npassword = "p-${PW}"\n'
    cfg = parse(text, env={"PROM_TOKEN": "abc", "PW": "xyz"})
    assert cfg.prometheus.bearer_token == "abc" and cfg.prometheus.password == "p-xyz"
    found = errors(text, env={"PW": "x"})
    assert found == ["prometheus.bearer_token: environment variable PROM_TOKEN is not set"]


def test_lookup_order(tmp_path: Path) -> None:
    explicit, from_env, local = (tmp_path / n for n in ("a.toml", "b.toml", "sitegen.toml"))
    for path in (explicit, from_env, local):
        path.write_text("")
    env = {"SITEGEN_CONFIG": str(from_env)}
    assert find_config(str(explicit), env, tmp_path) == explicit
    assert find_config(None, env, tmp_path) == from_env
    assert find_config(None, {}, tmp_path) == local
    local.unlink()
    assert find_config(None, {}, tmp_path) is None
    with pytest.raises(ConfigError, match=r"missing\.toml: no such config file"):
        find_config("missing.toml", {}, tmp_path)


def test_relative_dirs_follow_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "s.toml").write_text('[site]\nout_dir = "www"\n')
    cfg = load(str(tmp_path / "etc" / "s.toml"), env={}, cwd=Path("/"))
    assert cfg.site.out_dir == tmp_path / "etc" / "www"


def test_every_key_is_documented() -> None:
    assert len(SCHEMA) >= 25
    assert all(doc.strip() for *_, doc in SCHEMA)


def test_an_ipv6_listen_address_is_accepted_in_brackets() -> None:
    cfg = parse('[site]\nmetrics_listen = "[::1]:9464"', env={})
    assert cfg.site.metrics_listen == "[::1]:9464"


def test_a_refused_url_is_not_echoed() -> None:
    # The error is printed and logged, maybe pasted into a ticket: the password stays out.
    (error,) = errors('[prometheus]\nurl = "http://admin:hunter2@127.0.0.1:9090"')
    assert "hunter2" not in error and "admin" not in error

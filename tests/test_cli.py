"""The command line: verbs, exit codes, and every config error printed at once."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sitegen import __version__
from sitegen.cli import main
from sitegen.config import SCHEMA
from tests.loaded import run_reporting


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"sitegen {__version__}"


@pytest.mark.parametrize("verb", ["render", "check"])
def test_help_for_each_verb(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([verb, "--help"])
    assert exc.value.code == 0
    assert "--config" in capsys.readouterr().out


def test_check_prints_all_three_mistakes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[site]\ntitel = "x"\ninterval_seconds = "soon"\n\n'
        '[[panels]]\ntitle = "p"\nquery = "up"\nrange = "1 hour"\n'
    )
    assert main(["check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "site.titel: unknown key (did you mean 'title'?)" in err
    assert "site.interval_seconds:" in err
    assert "panels[0].range:" in err or "panels[1].range:" in err
    assert "3 error(s)" in err


def test_check_accepts_the_embedded_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SITEGEN_CONFIG", raising=False)
    assert main(["check"]) == 0
    assert "<embedded default>: ok" in capsys.readouterr().out


def test_render_with_a_bad_config_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[site]\nworkers = -1\n")
    assert main(["render", "--config", str(bad), "--out", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sitegen", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.startswith("sitegen ")


# Clients of systems the embedded default never reads: a one-shot render that loaded them
# spent a fifth of its start-up on them.
NOT_FOR_THE_DEFAULT = {"httpx", "prometheus_api_client", "requests", "boto3", "botocore",
                       "sitegen.sources.prometheus", "sitegen.sources.alerts",
                       "sitegen.sources.jaeger", "sitegen.sources.tempo",
                       "sitegen.sources.httpapi", "sitegen.sources.cloudfront"}  # fmt: skip


def test_a_one_shot_render_of_the_default_loads_no_client_it_does_not_use(tmp_path: Path) -> None:
    config = tmp_path / "sitegen.toml"
    config.write_text(f'[site]\nout_dir = "{tmp_path}/public"\nstate_dir = "{tmp_path}/state"\n')
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    args = ["render", "--quiet", "--config", str(config)]
    _output, _frozen, modules = run_reporting(args, env, tmp_path)
    assert (tmp_path / "public/index.html").exists()
    loaded = modules | {m.partition(".")[0] for m in modules}
    assert loaded & NOT_FOR_THE_DEFAULT == set()
    # What it does read, it loaded: the check would pass for a render that did nothing.
    assert {"jinja2", "psutil", "sitegen.sources.host", "sitegen.sources.logs"} <= loaded


# --- any TOML at all: `check` answers 0 or 2 with messages, never a traceback ---

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
_scalars = st.one_of(
    _text,
    st.sampled_from(["30s", "1h", "~nosuchuser/x", "${NOPE}", "a{99999999999}", "[::1]:9464",
                     "http://u:p@h", "/", "", "\x00", "(", "up", "heatmap", "ftp://x"]),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([10**400, -(10**400), 2**63, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)  # fmt: skip
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=12,
)


def _toml_value(value: object) -> str:
    """Write a value as TOML (tomllib reads, it does not write)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return (
            "nan" if value != value else {"inf": "inf", "-inf": "-inf"}.get(str(value), repr(value))
        )
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's, but for DEL (raw in JSON, not in TOML) and astral characters
    # (surrogate pairs in JSON): written as they are, they need no escape.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _section_keys(section: str) -> list[str]:
    return [key for s, key, *_ in SCHEMA if s == section] + ["nosuchkey"]


@st.composite
def _documents(draw: st.DrawFn) -> str:
    """A TOML document: known sections and keys (mostly) with values of any type."""
    lines = []
    for section in draw(st.lists(st.sampled_from([*dict.fromkeys(s for s, *_ in SCHEMA), "x"]),
                                 max_size=4, unique=True)):  # fmt: skip
        header = f"[[{section}]]" if section == "panels" else f"[{section}]"
        keys = draw(st.lists(st.sampled_from(_section_keys(section)), max_size=5, unique=True))
        lines += [header, *(f"{k} = {_toml_value(draw(_values))}" for k in keys)]
    return "\n".join(lines) + "\n"


@settings(
    max_examples=300,
    deadline=timedelta(seconds=5),
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(document=st.one_of(_documents(), st.text(max_size=200), st.just("x = " + "[" * 5000)))
def test_any_toml_gives_exit_0_or_2_never_a_traceback(
    document: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "fuzz.toml"
    config.write_text(document, encoding="utf-8", errors="surrogatepass")
    code = main(["check", "--config", str(config)])
    out, err = capsys.readouterr()
    assert code in (0, 2), (document, err)
    assert "Traceback" not in err
    assert (code == 0 and ": ok (" in out) or (code == 2 and "error(s) in the configuration" in err)

"""The command line: verbs, exit codes, and every config error printed at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sitegen import __version__
from sitegen.cli import main


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

"""The README documents every config key and every command-line option."""

from __future__ import annotations

import re
from pathlib import Path

from sitegen.cli import parser
from sitegen.config import SCHEMA

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_config_key_is_in_the_readme() -> None:
    missing = [f"{entry[0]}.{entry[1]}" for entry in SCHEMA if f"`{entry[1]}`" not in README]
    assert not missing, f"keys missing from README.md: {missing}"


def test_every_verb_and_option_is_in_the_readme() -> None:
    sub = next(a for a in parser()._actions if a.dest == "verb")
    for verb, verb_parser in sub.choices.items():
        assert f"sitegen {verb}" in README, verb
        for action in verb_parser._actions:
            long = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
            for option in long:
                assert re.search(rf"`[^`]*{re.escape(option)}[^`]*`", README), (verb, option)

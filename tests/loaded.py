"""Run a sitegen command and learn which modules it loaded: start-up is what it imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# The sitegen program, saying at exit which modules it loaded and whether it left its
# objects to the exit's cycle collection.
_AT_EXIT = """
import atexit, gc, sys
atexit.register(lambda: print(gc.get_freeze_count() > 0, *sorted(sys.modules)))
from sitegen.cli import command
command()
"""


def run_reporting(
    args: list[str], env: dict[str, str], cwd: Path
) -> tuple[list[str], bool, set[str]]:
    """Run `sitegen ARGS`; return its output lines, whether it froze its objects at exit
    and the modules it loaded."""
    env = {**env, "PYTHONPATH": str(Path(__file__).parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", _AT_EXIT, *args],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    *output, at_exit = done.stdout.splitlines()
    frozen, *modules = at_exit.split()
    return output, frozen == "True", set(modules)

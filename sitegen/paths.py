"""Where the templates and styles are: beside the package in a checkout, or installed."""

from __future__ import annotations

import sys
from pathlib import Path


def data_dir(name: str) -> Path:
    """Return templates/ or styles/: the checkout's, else the installed copy in share/sitegen."""
    for base in (Path(__file__).resolve().parent.parent, Path(sys.prefix) / "share" / "sitegen"):
        if (base / name).is_dir():
            return base / name
    raise FileNotFoundError(f"sitegen's {name}/ directory is missing from this installation")

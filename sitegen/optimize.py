"""Optimize what is served: minified CSS under a content-hashed name (HTML is minified per page)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cssmin

from sitegen.render import ROOT

STYLES_DIR = ROOT / "styles"
# base.css defines the variables and the theme; the others only use them.
FIRST = "base.css"


@dataclass(frozen=True)
class Assets:
    """The static files of the site and the stylesheet's hashed path."""

    files: dict[str, bytes]
    css_href: str


def content_name(stem: str, suffix: str, data: bytes) -> str:
    """Return a file name that changes whenever the content does (for immutable caching)."""
    return f"{stem}.{hashlib.sha256(data).hexdigest()[:12]}{suffix}"


def build_assets(styles_dir: Path = STYLES_DIR) -> Assets:
    """Concatenate and minify the stylesheets into one content-hashed CSS file."""
    sheets = sorted(styles_dir.glob("*.css"), key=lambda p: (p.name != FIRST, p.name))
    css = cssmin.cssmin("\n".join(p.read_text(encoding="utf-8") for p in sheets)).encode()
    href = f"assets/{content_name('site', '.css', css)}"
    return Assets(files={href: css}, css_href=href)

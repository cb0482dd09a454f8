"""Shared fixtures: a config in a temporary directory and a site rendered from it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from sitegen.config import Config, parse

SITE_TOML = """
[site]
title = "test site"
out_dir = "public"
state_dir = "state"
workers = 2
"""


@pytest.fixture(autouse=True, scope="session")
def _user_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep what sitegen caches for the user (botocore's cut models) out of the real home."""
    was = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if was is None:
        del os.environ["XDG_CACHE_HOME"]
    else:
        os.environ["XDG_CACHE_HOME"] = was


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    """A minimal config that writes into tmp_path and uses a pool of two workers."""
    path = tmp_path / "sitegen.toml"
    path.write_text(SITE_TOML)
    return path


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    """The parsed minimal config."""
    return parse(SITE_TOML, source="test", env={}, base_dir=tmp_path)


def unavailable(in_ci: str, here: str) -> NoReturn:
    """Stop a test whose tool is missing: fail under CI (scripts/test installs every tool, so
    a skip there would hide a broken install), else skip, saying how to get it."""
    if os.environ.get("CI"):
        pytest.fail(in_ci)
    pytest.skip(here)

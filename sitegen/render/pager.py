"""Where the pages of a list go (a section's index, then page-N) and how they link each other."""

from __future__ import annotations


def page_path(section: str, page: int) -> str:
    """Return the site path of a section's n-th page (the first is the section's index)."""
    return f"{section}/index.html" if page == 1 else f"{section}/page-{page}.html"


def page_links(section: str, count: int) -> list[tuple[int, str]]:
    """Return (n, link) of a section's pages, the links relative to the section's folder."""
    return [(n, page_path(section, n).removeprefix(f"{section}/")) for n in range(1, count + 1)]

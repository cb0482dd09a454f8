"""What search engines read: robots.txt, and sitemap.xml when the site's public URL is known."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from itertools import compress, repeat
from xml.sax.saxutils import escape

from sitegen.render.tasks import is_still

# Pages a search engine should not list: the still copies repeat their live page, and 404
# is served in place of whatever is missing.
UNLISTED = ("404.html",)


def _entry(root: str, path: str) -> str:
    """Return a page's entry in the sitemap, "" for a path not worth listing."""
    if not path.endswith(".html") or path in UNLISTED or is_still(path):
        return ""
    return f"<url><loc>{escape(root + path)}</loc></url>\n"


class _Entries:
    """Each path's sitemap entry under one root, kept for the paths of the last call.

    A site of 10,000 trace pages gains a few a cycle: filtering and escaping every path
    again took 7 ms of each cycle. A path's entry never changes while the root is the same.
    """

    def __init__(self) -> None:
        self._root = ""
        self._known: dict[str, str] = {}

    def of(self, root: str, paths: list[str]) -> list[str]:
        """Return the entry of each path, in order."""
        if root != self._root:
            self._root, self._known = root, {}
        out = list(map(self._known.get, paths))
        for k in compress(range(len(out)), map(operator.is_, out, repeat(None))):
            out[k] = _entry(root, paths[k])
        # Only this call's: memory follows the site, not its past.
        self._known = dict(zip(paths, out, strict=True))
        return out


_ENTRIES = _Entries()


def crawl_files(paths: Iterable[str], base_url: str) -> dict[str, bytes]:
    """Return robots.txt (every page may be crawled) and, with a base_url, sitemap.xml
    listing every page by its absolute URL (a sitemap holds absolute URLs only), sorted."""
    robots = "User-agent: *\nAllow: /\n"
    if not base_url:
        return {"robots.txt": robots.encode()}
    root = base_url.rstrip("/") + "/"
    urls = "".join(_ENTRIES.of(root, sorted(paths)))
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{urls}</urlset>\n"
    )
    return {
        "robots.txt": f"{robots}Sitemap: {root}sitemap.xml\n".encode(),
        "sitemap.xml": sitemap.encode(),
    }

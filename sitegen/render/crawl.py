"""What search engines read: robots.txt, and sitemap.xml when the site's public URL is known."""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import escape

from sitegen.render.tasks import is_still

# Pages a search engine should not list: the still copies repeat their live page, and 404
# is served in place of whatever is missing.
UNLISTED = ("404.html",)


def listed(paths: Iterable[str]) -> list[str]:
    """Return the site's pages worth listing in a sitemap, sorted."""
    return sorted(p for p in paths if p.endswith(".html") and p not in UNLISTED and not is_still(p))


def crawl_files(paths: Iterable[str], base_url: str) -> dict[str, bytes]:
    """Return robots.txt (every page may be crawled) and, with a base_url, sitemap.xml
    listing every page by its absolute URL (a sitemap holds absolute URLs only)."""
    robots = "User-agent: *\nAllow: /\n"
    if not base_url:
        return {"robots.txt": robots.encode()}
    root = base_url.rstrip("/") + "/"
    urls = "".join(f"<url><loc>{escape(root + p)}</loc></url>\n" for p in listed(paths))
    sitemap = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
        f"{urls}</urlset>\n"
    )
    return {
        "robots.txt": f"{robots}Sitemap: {root}sitemap.xml\n".encode(),
        "sitemap.xml": sitemap.encode(),
    }

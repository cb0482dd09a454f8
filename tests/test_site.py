"""End to end: `sitegen render` from the embedded default writes a complete, linked site."""

from __future__ import annotations

import hashlib
import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from sitegen.cli import main
from sitegen.model import Panel, Series
from sitegen.render.tasks import MAIN_PAGES as PAGES
from sitegen.render.tasks import (
    Common,
    PageTask,
    is_still,
    render_page,
    still_path,
    with_still_copies,
)


class Links(HTMLParser):
    """Collects href/src attributes and the text of <title> elements of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.refs.append(value)


def render_twice(config_file: Path) -> Path:
    assert main(["render", "--config", str(config_file), "--quiet"]) == 0
    assert main(["render", "--config", str(config_file), "--quiet"]) == 0
    return config_file.parent / "public"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site rendered twice from a config that only sets paths and two workers."""
    from tests.conftest import SITE_TOML

    d = tmp_path_factory.mktemp("site")
    (d / "sitegen.toml").write_text(SITE_TOML)
    return render_twice(d / "sitegen.toml")


def test_every_page_exists_and_every_link_resolves(site: Path) -> None:
    for page in (*PAGES, "404.html"):
        assert (site / page).is_file(), page
    html_files = sorted(site.rglob("*.html"))
    assert any(p.parent.name == "traces" and p.name != "index.html" for p in html_files)
    for path in html_files:
        parser = Links()
        parser.feed(path.read_text())
        for ref in parser.refs:
            target = ref.split("#")[0]
            if not target:
                continue
            assert not re.match(r"^[a-z]+:", target), f"{path}: external link {ref}"
            # Absolute links (the 404 page's) start at the site root.
            base = site if target.startswith("/") else path.parent
            assert (base / target.lstrip("/")).resolve().is_file(), f"{path}: broken link {ref}"


def test_manifest_lists_every_file_with_its_hash(site: Path) -> None:
    manifest = json.loads((site / "manifest.json").read_text())
    on_disk = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
    assert set(manifest["files"]) == on_disk - {"manifest.json"}
    for path, entry in manifest["files"].items():
        data = (site / path).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["size"] == len(data)
    assert manifest["files"]["index.html"]["type"] == "text/html; charset=utf-8"
    css = [p for p in manifest["files"] if p.startswith("assets/") and p.endswith(".css")]
    assert len(css) == 1 and re.fullmatch(r"assets/site\.[0-9a-f]{12}\.css", css[0])


def test_snapshot_json_follows_the_contract(site: Path) -> None:
    doc = json.loads((site / "data/snapshot.json").read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", doc["generated_at"])
    assert {"host", "self", "traces", "logs"} <= set(doc["sources"])
    assert all(s["ok"] and s["stale_since"] is None for s in doc["sources"].values())
    titles = {p["title"] for p in doc["panels"]}
    assert {"CPU busy by mode", "Memory", "Load average", "Network"} <= titles
    memory = next(p for p in doc["panels"] if p["title"] == "Memory used")
    (series,) = memory["series"]
    # Two renders, two samples: history carries across runs.
    assert len(series["points"]) == 2
    assert 0 < series["last"] <= 100
    assert series["points"][-1][1] == series["last"]


def test_pages_show_real_host_and_self_data(site: Path) -> None:
    import socket

    index = (site / "index.html").read_text()
    assert socket.gethostname() in index
    # Every sparkline's numbers are in a table too: one row per key figure.
    figures = re.search(r"key figures</h2>(.*?)</section>", index, re.S).group(1)
    assert figures.count('class="spark"') == figures.count("<tr><td>") >= 5
    metrics = (site / "metrics/index.html").read_text()
    assert metrics.count('role="img"') >= 8 or metrics.count("role=img") >= 8
    # sitegen's own render tasks as a heatmap: the first cycle's tasks, by duration.
    heat = metrics[metrics.index('<svg class="chart heat"') :]
    assert re.search(r'<g class="h\d"><title>[^<]* tasks per cycle</title><path d="M', heat)
    traces = (site / "traces/index.html").read_text()
    # The first render's own cycle trace, and both start-ups, are listed and linked.
    (cycle_href,) = re.findall(r'<a href="([^"]+)">cycle</a>', traces)
    assert len(re.findall(r'<a href="[^"]+">startup</a>', traces)) == 2
    page = (site / "traces" / cycle_href).read_text()
    for span in ("collect", "source host", "render", "page metrics", "write"):
        assert f"{span}</" in page, span
    logs = (site / "logs/index.html").read_text()
    assert "sitegen started" in logs and "cycle finished" in logs
    tail = re.search(r'<pre class="?tail[^>]*>(.*?)</pre>', logs, re.S).group(1)
    records = len(re.findall(r'<span class="?lv ', tail))
    assert records > 2 and tail.count("\n") == records  # one line per record, none run on
    about = (site / "about/index.html").read_text()
    assert "recent cycles" in about and "page and asset sizes" in about
    assert re.search(r"assets/site\.[0-9a-f]{12}\.css</td>", about)


def test_pages_carry_csp_refresh_and_age(site: Path) -> None:
    for page in PAGES:
        html = (site / page).read_text()
        assert re.search(r"Content-Security-Policy\"? content=\"[^\"]*script-src 'none'", html)
        assert re.search(r"http-equiv=\"?refresh\"? content=\"?30", html)
        assert "generated <time datetime=" in html or "generated<time datetime=" in html


def test_no_page_or_panel_fell_back_to_its_error_notice(site: Path) -> None:
    for page in site.rglob("*.html"):
        html = page.read_text()
        assert "could not be rendered" not in html and "could not be drawn" not in html, page


def test_robots_txt_lets_every_page_be_crawled_and_a_base_url_adds_a_sitemap(
    site: Path, tmp_path: Path
) -> None:
    assert (site / "robots.txt").read_text() == "User-agent: *\nAllow: /\n"
    assert not (site / "sitemap.xml").exists()  # no public URL: a sitemap needs absolute ones
    from tests.conftest import SITE_TOML

    toml = SITE_TOML.replace("[site]\n", '[site]\nbase_url = "https://status.example.org/ops/"\n')
    assert toml != SITE_TOML
    (tmp_path / "sitegen.toml").write_text(toml)
    assert main(["render", "--config", str(tmp_path / "sitegen.toml"), "--quiet"]) == 0
    public = tmp_path / "public"
    robots = (public / "robots.txt").read_text()
    assert robots.endswith("Sitemap: https://status.example.org/ops/sitemap.xml\n")
    ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
    urls = [u.text for u in ET.parse(public / "sitemap.xml").getroot().findall("s:url/s:loc", ns)]
    assert "https://status.example.org/ops/index.html" in urls
    assert "https://status.example.org/ops/metrics/index.html" in urls
    pages = {p.relative_to(public).as_posix() for p in public.rglob("*.html")}
    # Every page but 404 and the still copies, which repeat their live page.
    expected = {p for p in pages if p != "404.html" and not p.endswith("still.html")}
    assert {u.removeprefix("https://status.example.org/ops/") for u in urls} == expected
    assert any(p.endswith("still.html") for p in pages)


def test_the_sitemap_follows_the_paths_and_the_root_of_each_cycle() -> None:
    from sitegen.render.crawl import crawl_files

    def locs(paths: list[str], base_url: str) -> list[str | None]:
        sitemap = crawl_files(paths, base_url)["sitemap.xml"]
        ns = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}
        return [u.text for u in ET.fromstring(sitemap).findall("s:url/s:loc", ns)]

    one = "https://one.example/"
    assert locs(["b.html", "a.html", "404.html"], one) == [one + "a.html", one + "b.html"]
    # A cycle later: one page gone, one new (with a character XML escapes), a still copy.
    now = ["a.html", "c&d.html", "c.still.html", "data/x.json"]
    assert locs(now, "https://one.example") == [one + "a.html", one + "c&d.html"]
    # Entries kept from the cycle before are not reused under another root.
    assert locs(now, "https://two.example/ops") == [
        "https://two.example/ops/a.html",
        "https://two.example/ops/c&d.html",
    ]


@pytest.mark.parametrize("kind", ["line", "area", "stat", "bar"])
def test_values_at_the_float_limits_draw_their_panel_and_the_table_keeps_them(kind: str) -> None:
    now = 1_795_340_562.0
    values = (1.7e308, 5e-324, math.nan, 1e308, -1e308)
    series = Series(
        (("service", "api"),), tuple((now - 120 + 30 * i, v) for i, v in enumerate(values))
    )
    panel = Panel("limits", "q", "", "prometheus", (series,), 300.0, kind)
    common = Common("t", now, 30, None, "assets/site.css", "", "test", "host", (), ())
    task = PageTask("panel 1", "metrics/panel-1", "panel.html", {"p": panel, "n": 1, "now": now},
                    common, fragment=True)  # fmt: skip
    page = render_page(task)
    html = page.body.decode()
    assert page.record.error is None and "could not be drawn" not in html
    assert "<svg" in html and "no data" not in html
    if kind != "stat":  # a chart named as its panel, for a screen reader (stat: a sparkline each)
        assert re.search(r'<svg class="chart[^>]*><title>limits</title>', html), html[:300]
    if kind != "bar":  # the table's min and max are the finite extremes, 1.7e308 among them
        assert (
            '<td class="num">-1e+308</td><td class="num">1.7e+308</td><td class="num">5</td>'
            in html
        )


def test_each_live_page_gets_its_own_still_copy_linked_both_ways() -> None:
    common = Common("t", 1_795_340_562.0, 30, None, "assets/site.css", "", "test", "host", (), ())
    live = [
        PageTask("incidents", "incidents/index.html", "404.html", {}, common, refresh="live"),
        PageTask("incident a1", "incidents/a1.html", "404.html", {}, common, refresh="live"),
        PageTask("index", "index.html", "404.html", {}, common, refresh="live"),
        PageTask("trace", "traces/t.html", "404.html", {}, common),
    ]
    tasks = with_still_copies(live)
    paths = [t.path for t in tasks]
    # Each copy right after its page: a batch makes it of the page's bytes.
    assert paths == [
        *("incidents/index.html", "incidents/still.html"),
        *("incidents/a1.html", "incidents/a1.still.html"),
        *("index.html", "still.html", "traces/t.html"),
    ]
    assert list(map(is_still, paths)) == [False, True] * 3 + [False]
    for task, copy in (tasks[0:2], tasks[2:4], tasks[4:6]):
        assert copy.path == still_path(task.path)
        assert task.twin == copy.path.rpartition("/")[2]
        assert copy.twin == task.path.rpartition("/")[2] and copy.refresh == "still"
        html = render_page(task).body.decode()
        assert f'<a href="{task.twin}">stop refreshing</a>' in html
        assert f'<a href="{copy.twin}">refresh every 30 s</a>' in render_page(copy).body.decode()

"""What a browser shows: headless Chromium loads every page with no error, no script and no
request leaving the site, at phone and desktop widths. Screenshots go to test-artifacts/."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

from sitegen.cli import main
from tests.conftest import unavailable

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_SCRIPT = """() => document.scripts.length === 0 && ![...document.querySelectorAll('*')]
  .some(e => [...e.attributes].some(a => a.name.startsWith('on')
                                      || /^\\s*javascript:/i.test(a.value)))"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """The embedded default's site, rendered twice, served on a loopback port."""
    if not CHROMIUM:
        unavailable(
            "chromium is not installed: scripts/test installs the Debian package",
            "chromium is not installed (apt-get install chromium)",
        )
    d = tmp_path_factory.mktemp("browser")
    (d / "sitegen.toml").write_text("[site]\nworkers = 2\n")
    for _ in range(2):
        assert main(["render", "--config", str(d / "sitegen.toml"), "--quiet"]) == 0
    site = (d / "public").resolve()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", site
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        yield b
        b.close()


def pages(site: Path) -> list[str]:
    trace = next(p for p in sorted((site / "traces").glob("*.html")) if p.name != "index.html")
    return [
        "index.html", "metrics/index.html", "traces/index.html", f"traces/{trace.name}",
        "logs/index.html", "concurrency/index.html", "about/index.html", "404.html",
    ]  # fmt: skip


@pytest.mark.parametrize("width", [320, 375, 1280, 1920])
def test_every_page_loads_clean_with_no_script_and_no_outside_request(served, browser, width):
    base, site = served
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    problems, requests = [], []
    page.on(
        "console",
        lambda m: (
            problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    ARTIFACTS.mkdir(exist_ok=True)
    shots = {"index.html": "index", "metrics/index.html": "metrics", pages(site)[3]: "trace"}
    shots = shots if width in (375, 1280) else {}  # screenshots at a phone's and a desktop's
    for path in pages(site):
        answer = page.goto(f"{base}/{path}")
        assert answer is not None and answer.status == 200, path
        assert page.evaluate(NO_SCRIPT), f"{path}: a script or an event handler is on the page"
        # Readable at this width: nothing wider than the screen but what scrolls on purpose.
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= width, f"{path} is {overflow}px wide at {width}px"
        if path in shots:
            page.screenshot(path=str(ARTIFACTS / f"{shots[path]}-{width}.png"), full_page=True)
    context.close()
    assert not problems, problems
    assert requests and all(url.startswith(base) for url in requests), requests

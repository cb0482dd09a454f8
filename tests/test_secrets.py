"""Secrets and hostile text across the whole site: nothing leaks, every inline SVG is XML.

The corpus is test_hostile's (log lines and spans full of markup, junk and secrets), with
span names and Prometheus labels full of control, bidi and XML-breaking characters, and a
Prometheus stand-in (for labels a real server would never hand back).
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.test_cli import _toml_string
from tests.test_hostile import (
    HOSTILE,
    TRACE,
    config,
    log_corpus,
    render,
    site_files,
    span,
    trace_corpus,
)
from tests.test_prometheus import _answer, faulty

# Characters that break XML 1.0 even when escaped, or reorder or hide text.
XML_BREAKERS = "\x00\x01\x08\x0b\x0c\x1b\x7f\x85\u202e\u2066\u200b\ufeff\ufffe]]>&<'\"\ud800"
_SVG = re.compile(rb"<svg\b.*?</svg>", re.S)


def test_every_inline_svg_of_a_hostile_site_is_well_formed_xml(tmp_path: Path) -> None:
    log_corpus(tmp_path)
    now = time.time()
    trace_corpus(
        tmp_path,
        [
            span(TRACE, "b7ad6b7169203331", f"GET {XML_BREAKERS}", time.time_ns()),
            span(TRACE, "c7ad6b7169203331", HOSTILE[0], time.time_ns() - 10**6,
                 parentSpanId="b7ad6b7169203331"),
        ],
        service=f"svc{XML_BREAKERS}",
    )  # fmt: skip
    labels = {"service": f"a{XML_BREAKERS}", HOSTILE[1]: HOSTILE[0], "le": "0.5"}
    answer = _answer([{"metric": labels, "values": [[now - 120, "1"], [now - 60, "2"]]}])
    with faulty("answers", {"hostile": answer}) as url:
        cfg = config(tmp_path)
        cfg.write_text(
            cfg.read_text()
            + f'[prometheus]\nurl = "{url}"\n'
            + f'[[panels]]\ntitle = {_toml_string("t" + XML_BREAKERS[:-1])}\nquery = "hostile"\n'
        )
        site = render(cfg)
    files = site_files(site)
    svgs = [(path, m.group()) for path, body in files.items() if path.endswith(".html")
            for m in _SVG.finditer(body)]  # fmt: skip
    svgs += [(path, body) for path, body in files.items() if path.endswith(".svg")]
    assert len(svgs) > 20
    broken = []
    for path, svg in svgs:
        try:
            ET.fromstring(svg)
        except ET.ParseError as exc:
            broken.append((path, str(exc), svg[:200]))
    assert not broken, broken
    doc = json.loads(files["data/snapshot.json"])
    (hostile,) = [p for p in doc["panels"] if p["query"] == "hostile"]
    assert hostile["error"] is None and len(hostile["series"]) == 1
    metrics = files["metrics/index.html"].decode()
    for char in "\x00\x01\x1b\x7f\u202e\u2066\u200b\ufeff":
        assert char not in metrics, repr(char)
    assert "a\\x00\\x01" in metrics  # shown as visible escapes, not dropped

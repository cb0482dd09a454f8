"""Control, bidi and zero-width characters are shown as visible escapes, in pages and charts."""

from __future__ import annotations

from markupsafe import Markup

from sitegen.charts.svg import text, title
from sitegen.render.environment import environment
from sitegen.visible import visible

HOSTILE = "a\x1b]0;owned\x07b\nc\u202eevil\u2066d\u200be\x00f\x7fg\x85h"


def test_visible_escapes_every_invisible_character() -> None:
    got = visible(HOSTILE)
    assert got == "a\\x1b]0;owned\\x07b⏎c\\u202eevil\\u2066d\\u200be\\x00f\\x7fg\\x85h"
    assert visible("plain\ttext é ✓") == "plain\ttext é ✓"


def test_templates_print_values_visibly_but_keep_markup() -> None:
    tpl = environment().from_string("<p>{{ v }}</p>{{ m }}{{ nl }}")
    out = tpl.render(v=HOSTILE, m=Markup("<b>\n</b>"))
    assert "\x1b" not in out and "\u202e" not in out and "\x00" not in out
    assert "<p>a\\x1b]0;owned\\x07b⏎c" in out
    assert out.endswith("<b>\n</b>\n")


def test_svg_text_and_title_are_visible() -> None:
    svg = text(0, 0, "x\u202ey\n<z>") + title("t\x1bu")
    assert "\u202e" not in svg and "\x1b" not in svg and "\n" not in svg
    assert "x\\u202ey⏎&lt;z&gt;" in svg and "t\\x1bu" in svg

"""Text made safe to show: control, bidi and zero-width characters become visible escapes.

A page, a terminal reading it with curl, and a screen reader must all see what a value holds:
a newline inside a value never starts a new line (it is shown as ⏎), an escape byte never
reaches a terminal, and a bidi override never reorders the text around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from markupsafe import Markup, escape

# C0 (but tab) and C1 controls, DEL, zero-width and bidi controls, line/paragraph separators
# and the byte-order mark; also lone surrogates (JSON may carry "\ud800": no UTF-8 can encode
# it) and U+FFFE/U+FFFF, which XML forbids, so an inline SVG stays well-formed.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff\ud800-\udfff\ufffe\uffff]"
)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char == "\n":
        return "⏎"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """Return text with every invisible or control character replaced by a visible escape."""
    if not _INVISIBLE.search(text):
        return text
    return _INVISIBLE.sub(_escape, text)


def finalize(value: object) -> object:
    """Jinja finalize hook: plain strings printed by a template are made visible.

    Markup (a chart, a trusted fragment) passes untouched: it was built from values that went
    through visible() already.
    """
    if isinstance(value, str) and not isinstance(value, Markup):
        return visible(value)
    return value


def shown(text: str) -> str:
    """Return text as a page prints it: made visible, then escaped."""
    return escape(visible(text))


def shown_each(texts: Iterable[str]) -> Iterator[str]:
    """Return each text as shown() does, in order.

    Made visible one by one and escaped all at once, as a call a text cost more than the
    escaping (the lines of a logs page, the rows of a waterfall); no visible text holds a
    NUL, so NULs part them.
    """
    return iter(str(escape("\0".join(map(visible, texts)))).split("\0"))

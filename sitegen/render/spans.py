"""The spans table of a trace page: a row a span, or a group of alike spans, built here.

Built in Python rather than in a template loop: the table was a quarter of a trace page,
much of it jinja's attribute lookups, filter calls and an escape per printed value; built
here, a trace page costs about a tenth less. Trace pages are most of a first render (200 of
the reference bench's 306 pages).
"""

from __future__ import annotations

from collections.abc import Iterator

from markupsafe import Markup

from sitegen.model import Labels, Span
from sitegen.traces.tree import Row, Rows
from sitegen.units import format_duration_ns as dur
from sitegen.visible import shown_each

ATTRIBUTES, EVENTS, EVENT_ATTRIBUTES = 12, 12, 6  # shown at most: a span's, a span's, an event's
VALUE, EVENT_VALUE = 120, 160  # characters of an attribute's value shown, the last a "…"


def _cut(value: str, limit: int) -> str:
    # As jinja's truncate(limit, killwords=True, end="…", leeway=0).
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _texts(row: Row) -> list[str]:
    """Return the texts of a row that come from the data, in the order _row prints them."""
    span = row.span
    texts = [span.name, span.service, span.status]
    if len(row.spans) == 1:
        texts += _labels(span.attributes[:ATTRIBUTES], VALUE)
        for event in span.events[:EVENTS]:
            texts.append(event.name)
            texts += _labels(event.attributes[:EVENT_ATTRIBUTES], EVENT_VALUE)
    return texts


def _labels(labels: Labels, limit: int) -> list[str]:
    return [text for key, value in labels for text in (key, _cut(value, limit))]


def span_table(start_ns: int, rows: Rows) -> Markup:
    """Return the <tr> rows of a trace's spans table, in the waterfall's order; times are
    from `start_ns`, the trace's start."""
    # Escaped all at once, as a call a text cost more than the escaping.
    texts = shown_each(text for row in rows.rows for text in _texts(row))
    return Markup("".join(_row(row, start_ns, texts) for row in rows.rows))


def _row(row: Row, start_ns: int, texts: Iterator[str]) -> str:
    """Return one row of the table, taking its texts, shown, from `texts` (durations are
    made of digits and units: no markup)."""
    span, n = row.span, len(row.spans)
    name, service, status = next(texts), next(texts), next(texts)
    if n > 1:
        errors = row.errors
        state = (
            f'<span class="err">✗ {errors} error{"s" if errors != 1 else ""}</span>'
            if errors
            else status
        )
        return (
            f'<tr><td>×{n} {name}</td><td>{service}</td><td class="num">+'
            f'{dur(row.start_ns - start_ns)}</td><td class="num">{dur(row.end_ns - row.start_ns)}'
            f'</td><td>{state}</td><td class="dim">{n} spans folded</td></tr>\n'
        )
    state = '<span class="err">✗ error</span>' if span.status == "error" else status
    return (
        f"<tr><td>{name}</td><td>{service}</td>"
        f'<td class="num">+{dur(span.start_ns - start_ns)}</td>'
        f'<td class="num">{dur(span.duration_ns)}</td><td>{state}</td>\n'
        f'<td class="text">{_details(span, start_ns, texts)}</td></tr>\n'
    )


def _details(span: Span, start_ns: int, texts: Iterator[str]) -> str:
    """Return a span's attributes and events, as its row's last cell holds them."""
    out = [
        f'<span class="dim">{next(texts)}=</span>{next(texts)} '
        for _ in span.attributes[:ATTRIBUTES]
    ]
    for event in span.events[:EVENTS]:
        out.append(f'<br><span class="ev">◆ +{dur(event.ts_ns - start_ns)} {next(texts)}</span>')
        out += (
            f' <span class="dim">{next(texts)}=</span>{next(texts)}'
            for _ in event.attributes[:EVENT_ATTRIBUTES]
        )
    return "".join(out)

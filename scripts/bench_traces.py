"""Benchmark the trace readers: spans per second from OTLP JSON files and Jaeger answers.

The input is shaped as the formats document it (tests/traceapi.py): traces of 25 spans
with HTTP attributes, every tenth span an error with an exception event. Each run reads
it all with a fresh Scrub (redaction caches start cold, as in a cycle); the median of the
runs is printed. Run: .venv/bin/python scripts/bench_traces.py [--spans N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sitegen.traces.documents import split
from sitegen.traces.jaeger import JaegerReader
from sitegen.traces.otlp import OtlpReader
from sitegen.traces.spans import Scrub
from tests.traceapi import jaeger_trace, otlp_document, otlp_trace

SPANS_PER_TRACE = 25
TRACES_PER_LINE = 4  # the Collector's file exporter writes one batch per line


def otlp_documents(traces: int) -> list[dict]:
    """Return OTLP JSON documents (hex ids, as the Collector's file exporter writes them)."""
    start = time.time_ns()
    return [
        otlp_document(
            [
                s
                for t in range(i, i + TRACES_PER_LINE)
                for s in otlp_trace(t + 1, SPANS_PER_TRACE, start + t)
            ]
        )
        for i in range(0, traces, TRACES_PER_LINE)
    ]


def jaeger_answer(traces: int) -> bytes:
    """Return one Jaeger /api/traces answer holding the traces."""
    start = time.time_ns() // 1000
    data = [jaeger_trace(t + 1, SPANS_PER_TRACE, start + t) for t in range(traces)]
    return json.dumps({"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}).encode()


def otlp_rate(text: str, spans: int) -> float:
    """Split a file's text into documents and read their spans once; return spans per second."""
    start = time.perf_counter()
    reader = OtlpReader(Scrub(), budget=spans)
    reader.add(split(text, reader.convert).docs)
    took = time.perf_counter() - start
    assert len(reader.spans) == spans, len(reader.spans)
    return spans / took


def jaeger_rate(body: bytes, spans: int) -> float:
    """Decode and convert one Jaeger answer; return spans per second."""
    start = time.perf_counter()
    reader = JaegerReader(Scrub(), budget=spans)
    reader.document(json.loads(body))
    took = time.perf_counter() - start
    assert len(reader.spans) == spans, len(reader.spans)
    return spans / took


def main(argv: list[str] | None = None) -> int:
    """Print the median spans/s of the OTLP JSON reader and the Jaeger converter."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=100_000, help="spans per run (default 100000)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    traces = max(
        TRACES_PER_LINE, args.spans // SPANS_PER_TRACE // TRACES_PER_LINE * TRACES_PER_LINE
    )
    spans = traces * SPANS_PER_TRACE
    docs, body = otlp_documents(traces), jaeger_answer(traces)
    lines = "".join(json.dumps(d) + "\n" for d in docs)
    pretty = "".join(json.dumps(d, indent=2) + "\n" for d in docs)
    print(
        f"{spans} spans in {traces} traces; OTLP JSON {len(lines) / 2**20:.1f} MiB in "
        f"{len(docs)} lines ({len(pretty) / 2**20:.1f} MiB pretty-printed), Jaeger answer "
        f"{len(body) / 2**20:.1f} MiB; median of {args.runs} runs:"
    )
    measures = {
        "OTLP JSON, one document a line": lambda: otlp_rate(lines, spans),
        "OTLP JSON, pretty-printed": lambda: otlp_rate(pretty, spans),
        "Jaeger converter": lambda: jaeger_rate(body, spans),
    }
    # Run by run in turn, so a machine that speeds up or slows down meanwhile moves all
    # alike, and the layouts' ratio is taken run by run.
    rates: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(args.runs):
        for name, rate in measures.items():
            rates[name].append(rate())
    for name, got in rates.items():
        print(
            f"  {name}: {statistics.median(got):,.0f} spans/s "
            f"(min {min(got):,.0f}, max {max(got):,.0f})"
        )
    pretty_rates, line_rates = (
        rates["OTLP JSON, pretty-printed"],
        rates["OTLP JSON, one document a line"],
    )
    ratio = statistics.median(p / n for p, n in zip(pretty_rates, line_rates, strict=True))
    print(f"  pretty-printed / one a line: {ratio:.2f} (median of the runs' ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

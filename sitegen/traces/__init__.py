"""Traces: OTLP and Jaeger JSON read into spans (in any file layout), span trees, the critical
path and latency statistics."""

"""Trace decoding plumbing, span trees, the critical path and latency statistics."""

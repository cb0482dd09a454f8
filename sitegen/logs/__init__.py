"""Reading log formats: times, levels, fields, and the summaries drawn from log records."""

"""Alerts -> incidents -> banner, incident pages, feed, badges and data/status.json."""

# The name of the source that reads firing alerts: here, so the incidents know it without
# loading that source's HTTP client.
SOURCE = "alerts"

"""Alerts -> incidents -> banner, incident pages, feed, badges and data/status.json."""

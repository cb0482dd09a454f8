"""Rendering: the jinja2 environment, page tasks, the rounds, the persistent process pool."""

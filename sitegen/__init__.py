"""sitegen: publish observability snapshots as a static, JavaScript-free website."""

__version__ = "0.1.0"

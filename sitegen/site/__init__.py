"""The built site: assets, atomic output with its manifest, publishing, the lease, the probe."""

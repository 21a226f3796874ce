"""I/O towards the Kubernetes API: server-side apply of rendered objects, skipping unchanged ones."""

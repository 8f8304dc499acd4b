"""Web pages and the static assets the platform serves itself (no CDN)."""

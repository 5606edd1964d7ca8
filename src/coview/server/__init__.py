"""The ASGI server: REST API, health and metrics, static assets (and later the session relay)."""

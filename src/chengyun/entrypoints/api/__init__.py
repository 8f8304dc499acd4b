"""The HTTP API (FastAPI): ``/api/v1`` and, later, ``/open311/v2``."""

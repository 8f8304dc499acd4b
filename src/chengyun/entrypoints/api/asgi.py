"""The ASGI application for servers (``uvicorn chengyun.entrypoints.api.asgi:app``)."""

from chengyun.entrypoints.api.app import create_app

app = create_app()

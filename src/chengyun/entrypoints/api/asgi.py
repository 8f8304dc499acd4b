"""The ASGI application for servers (``uvicorn chengyun.entrypoints.api.asgi:app``)."""

from chengyun.entrypoints.api.app import create_app, ready_to_serve

app = ready_to_serve(create_app())

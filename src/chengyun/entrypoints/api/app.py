"""The FastAPI application factory."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from chengyun import __version__
from chengyun.config import Settings
from chengyun.entrypoints.api import errors
from chengyun.entrypoints.api.v1 import router as v1_router
from chengyun.entrypoints.platform import Platform

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
SWAGGER = "/static/vendor/swagger-ui"

DESCRIPTION = """
城运 chengyun — 一网统管城运网格管理平台 / city-operations grid management for a sub-district.

Errors answer with `{"message": "…", "detail": [{"loc": […], "msg": "…", "type": "…"}]}`:
the message says what was wrong and how to fix it, each detail names the place.
"""


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform(settings or Settings())
    app = FastAPI(
        title="chengyun 城运",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served below from vendored assets: government intranets have no CDN
        redoc_url=None,
    )
    app.state.platform = platform
    errors.install(app)
    app.include_router(v1_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="chengyun 城运 — API",
            swagger_js_url=f"{SWAGGER}/swagger-ui-bundle.js",
            swagger_css_url=f"{SWAGGER}/swagger-ui.css",
            swagger_favicon_url=f"{SWAGGER}/favicon-32x32.png",
        )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app

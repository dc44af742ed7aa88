"""``/docs`` and ``/redoc`` served from the package, not a CDN: township intranets are offline.

The Swagger UI and ReDoc bundles come from the ``fastapi-offline`` package (a server
dependency: ``pip install fycli[server]``), which ships them as files. Without it the pages
say how to get them instead of loading a blank page from a public CDN.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
_MISSING = (
    "<!doctype html><title>fycli API docs</title><p>The API documentation pages need the "
    "<code>fastapi-offline</code> package: <code>pip install 'fycli[server]'</code>. The API "
    "description itself is at <a href='/openapi.json'>/openapi.json</a>.</p>"
)


def assets_dir() -> Path | None:
    """Where the packaged Swagger UI / ReDoc files are, or None when the package is missing."""
    try:
        import fastapi_offline
    except ImportError:
        return None
    found = Path(fastapi_offline.__file__).resolve().parent / "static"
    return found if (found / "swagger-ui-bundle.js").is_file() else None


def add_offline_docs(app: FastAPI) -> None:
    """Mount the assets and add ``/docs`` and ``/redoc`` pages that use only same-origin URLs."""
    assets = assets_dir()
    if assets is not None:
        app.mount(ASSETS_URL, StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        if assets is None:
            return HTMLResponse(_MISSING)
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        if assets is None:
            return HTMLResponse(_MISSING)
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

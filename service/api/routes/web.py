"""The browser UI: `GET /` serves the single page (`service/web/index.html`) and `GET /static/...` its
ES modules, stylesheet and dictionaries from `service/web/`, plus ECharts (the dashboard's charts)
and js-yaml (the crossing editor reads the YAML source format, keeping "key absent" apart from
null) from the npm install in `service/web/node_modules` (`make setup`; nothing built is committed).
`GET /docs` is the API documentation: Swagger UI from the same npm install (`swagger-ui-dist`),
so it renders without internet (FastAPI's own page loads it from a CDN); `GET /favicon.ico` the icon.

No authentication here: the files hold no data; every data call of the UI goes to `/api/...` with
the user's token. Paths are resolved and must stay inside `service/web/` (no `..`, no symlink
escapes), only UI file types are served, and `node_modules/`, `package*.json` are never served
directly. Responses carry an ETag and `Cache-Control: no-cache`, so a browser revalidates (cheap
304) and never runs a stale module after an upgrade. None of these routes is in the OpenAPI schema.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

WEB_ROOT = (Path(__file__).resolve().parents[2] / "web").resolve()
INDEX = WEB_ROOT / "index.html"
# Served under /static/vendor/<name>: third-party files from the npm install (see package.json).
VENDOR = {
    "echarts.min.js": WEB_ROOT / "node_modules" / "echarts" / "dist" / "echarts.min.js",
    "js-yaml.mjs": WEB_ROOT / "node_modules" / "js-yaml" / "dist" / "js-yaml.mjs",
    "swagger-ui-bundle.js": WEB_ROOT / "node_modules" / "swagger-ui-dist" / "swagger-ui-bundle.js",
    "swagger-ui.css": WEB_ROOT / "node_modules" / "swagger-ui-dist" / "swagger-ui.css",
}
DOCS = WEB_ROOT / "docs.html"
FAVICON = WEB_ROOT / "favicon.svg"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
_HIDDEN_PARTS = frozenset({"node_modules"})


def _etag(path: Path) -> str:
    """A weak validator from size and mtime: cheap, and it changes whenever the file does."""
    st = path.stat()
    return 'W/"' + hashlib.sha1(f"{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:20] + '"'


def _send(request: Request, path: Path) -> Response:
    """The file with revalidation headers, or 304 when the browser's copy is current."""
    tag = _etag(path)
    headers = {"ETag": tag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if tag in (request.headers.get("if-none-match") or ""):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=headers)


@router.get("/docs", response_class=FileResponse)
def docs(request: Request) -> Response:
    """Swagger UI on /openapi.json, every file served from here (see the module docstring)."""
    return _send(request, DOCS)


@router.get("/favicon.ico", response_class=FileResponse)
def favicon(request: Request) -> Response:
    return _send(request, FAVICON)  # an SVG: every current browser takes it, whatever the name


def resolve_static(rel: str) -> Path:
    """`rel` (the part after /static/) as a file inside WEB_ROOT, or 404: the containment check."""
    if not rel or "\\" in rel or rel.startswith("/"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    parts = Path(rel).parts
    if any(p in ("..", ".") or p.startswith(".") or p in _HIDDEN_PARTS for p in parts):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    try:
        path = (WEB_ROOT / rel).resolve()
        found = path.is_relative_to(WEB_ROOT) and path.suffix in MEDIA_TYPES and path.is_file()
    except (OSError, ValueError):  # e.g. a component over 255 characters (ENAMETOOLONG)
        found = False
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return path


@router.get("/", response_class=FileResponse)
def index(request: Request) -> Response:
    return _send(request, INDEX)


@router.get("/static/vendor/{name}", response_class=FileResponse)
def vendor(name: str, request: Request) -> Response:
    path = VENDOR.get(name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    if not path.is_file():  # npm ci not run: say how to fix it instead of a bare 404
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"{name} is not installed: run `make setup` (npm ci --prefix service/web)"
        )
    return _send(request, path)


@router.get("/static/{rel:path}", response_class=FileResponse)
def static(rel: str, request: Request) -> Response:
    return _send(request, resolve_static(rel))

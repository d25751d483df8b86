"""The dashboard map's basemap: a GeoJSON FeatureCollection of districts / roads that the
deployment supplies as a file (`settings.map_geojson`), so the map works offline. It is read and
checked once when the service starts (a bad file stops the start with one line naming it) and
served as is at `GET /api/map/basemap` to any logged-in user; 404 when none is configured (the
dashboard then draws its lon/lat sketch).
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response, status

from ...settings import SettingsError
from ..deps import CurrentUser
from ..schemas import Message

router = APIRouter(prefix="/api/map", tags=["meta"])

MAX_BYTES = 20 * 1024**2
GEOMETRIES = frozenset({"Polygon", "MultiPolygon", "LineString", "MultiLineString", "Point", "MultiPoint"})


def load_basemap(path: Path) -> bytes:
    """The file's bytes once it is checked to be a GeoJSON FeatureCollection of at most MAX_BYTES
    whose features have geometries ECharts can draw; SettingsError (one line) otherwise."""
    where = f"map_geojson {str(path)!r}"
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SettingsError(f"{where}: {size} bytes, more than {MAX_BYTES}")
        data = path.read_bytes()
    except OSError as e:
        raise SettingsError(f"{where}: cannot be read: {e.strerror or e}") from None
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SettingsError(f"{where}: not JSON ({e})") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise SettingsError(f"{where}: not a GeoJSON FeatureCollection")
    if not doc["features"]:
        raise SettingsError(f"{where}: the FeatureCollection has no features")
    for i, f in enumerate(doc["features"]):
        geometry = f.get("geometry") if isinstance(f, dict) else None
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if kind not in GEOMETRIES:
            raise SettingsError(f"{where}: features[{i}] has no drawable geometry (got {kind!r})")
    return data


@router.get(
    "/basemap",
    response_class=Response,
    responses={
        200: {"content": {"application/geo+json": {}}, "description": "the configured GeoJSON basemap"},
        404: {"model": Message, "description": "no basemap is configured (settings.map_geojson)"},
    },
)
def basemap(request: Request, _: CurrentUser) -> Response:
    data: bytes | None = request.app.state.basemap
    if data is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no basemap is configured (settings.map_geojson)")
    return Response(data, media_type="application/geo+json", headers={"Cache-Control": "private, max-age=3600"})


def setup(app: FastAPI) -> None:
    """Read and check the configured basemap now, so a bad file stops the start, not a request."""
    path = app.state.settings.map_geojson
    app.state.basemap = load_basemap(Path(path)) if path is not None else None

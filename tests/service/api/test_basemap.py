"""The dashboard map's basemap: the GeoJSON file `settings.map_geojson` served at
/api/map/basemap to logged-in users (404 when none is configured), and a bad file stopping the
start with one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.api.app import create_app
from service.settings import Settings, SettingsError

from .conftest import SECRET

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "basemap_test.geojson"


def test_no_basemap_configured_is_404(api):
    r = api.client.get("/api/map/basemap", headers=api.headers("analyst"))
    assert r.status_code == 404 and "map_geojson" in r.json()["detail"]


def test_the_configured_basemap_is_served_as_is(api):
    from service.api.routes.basemap import load_basemap

    api.app.state.basemap = load_basemap(FIXTURE)
    assert api.client.get("/api/map/basemap").status_code == 401  # logged-in users only
    r = api.client.get("/api/map/basemap", headers=api.headers("reviewer"))
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    assert r.content == FIXTURE.read_bytes()
    assert [f["properties"]["name"] for f in json.loads(r.content)["features"]] == ["测试区甲", "测试区乙", "测试大街"]


def test_the_setting_is_read_at_start(db_url, tmp_path):
    settings = Settings(db_url=db_url, evidence_dir=tmp_path / "e", secret_key=SECRET, map_geojson=FIXTURE)
    app = create_app(settings)
    try:
        assert app.state.basemap == FIXTURE.read_bytes()
    finally:
        app.state.engine.dispose()


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "cannot be read"),
        (b"{not json", "not JSON"),
        (b'{"type": "Feature", "geometry": null}', "not a GeoJSON FeatureCollection"),
        (b'{"type": "FeatureCollection", "features": []}', "has no features"),
        (b'{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": null}]}', "features[0]"),
        (b'{"type": "FeatureCollection", "features": [{"geometry": {"type": "Circle"}}]}', "'Circle'"),
    ],
)
def test_a_bad_basemap_stops_the_start_in_one_line(db_url, tmp_path, content, reason):
    path = tmp_path / "map.geojson"
    if content is not None:
        path.write_bytes(content)
    settings = Settings(db_url=db_url, evidence_dir=tmp_path / "e", secret_key=SECRET, map_geojson=path)
    with pytest.raises(SettingsError) as e:
        create_app(settings)
    assert reason in str(e.value) and "map_geojson" in str(e.value) and "\n" not in str(e.value)

"""The dashboard's map of crossings over the deployment's offline basemap (the UI server is
configured with the hand-made fixture tests/fixtures/basemap_test.geojson): with every crossing
located, the crossings sit on the ECharts geo component at their lon/lat over the registered
districts; without a basemap (the endpoint answering 404) the page falls back to the lon/lat
sketch, and without locations to the schematic grid.

The sample crossings get a location only for the length of a test (a new geometry version), and
their original YAML is registered again afterwards (which makes the stored version current again).
"""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import BASEMAP
from test_dashboard import open_dashboard

LOCATIONS = {"hanoi-giangvo-langha": (39.915, 116.392), "vn-rear-stopline": (39.905, 116.415)}


@pytest.fixture
def located(ui):
    """Both sample crossings located inside the fixture's districts; put back afterwards."""
    before = {cid: ui.get("operator", f"/api/crossings/{cid}") for cid in LOCATIONS}
    try:
        for cid, (lat, lon) in LOCATIONS.items():
            cfg = yaml.safe_load(before[cid]["yaml"])
            cfg["location"] = {"lat": lat, "lon": lon}
            r = ui.request("operator", "PUT", f"/api/crossings/{cid}/geometry", json={"yaml": yaml.safe_dump(cfg)})
            assert r.status_code in (200, 201), r.text
        yield LOCATIONS
    finally:
        for cid, d in before.items():
            r = ui.request("operator", "PUT", f"/api/crossings/{cid}/geometry", json={"yaml": d["yaml"]})
            assert r.status_code in (200, 201), r.text
            after = ui.get("operator", f"/api/crossings/{cid}")
            assert (after["version"], after["lat"]) == (d["version"], d["lat"])


MAP_STATE = """() => {
    const box = document.getElementById('dash-map');
    const c = box && window.echarts && window.echarts.getInstanceByDom(box);
    if (!c) return null;
    const o = c.getOption();
    const s = o.series && o.series[0];
    if (!s) return null;
    const geo = o.geo && o.geo[0];
    return {
        geo: geo ? geo.map : null, system: s.coordinateSystem || 'cartesian2d', x: (o.xAxis || []).length,
        title: o.title[0].text,
        points: s.data.map(d => ({id: d.point.id, lonlat: d.value,
            px: geo ? c.convertToPixel({geoIndex: 0}, d.value) : null})),
        size: [box.clientWidth, box.clientHeight],
        regions: geo ? window.echarts.getMap(geo.map).geoJSON.features.map(f => f.properties.name) : [],
    };
}"""


def map_state(page) -> dict:
    page.wait_for_function(f"({MAP_STATE})() !== null", timeout=30000)
    return page.evaluate(MAP_STATE)


def test_located_crossings_are_drawn_on_the_basemap(page_as, ui, located, screenshot):
    page = open_dashboard(page_as)
    page.wait_for_selector("#dash-map[data-basemap='crosswatch-basemap']", state="attached")
    state = map_state(page)
    assert state["geo"] == "crosswatch-basemap" and state["system"] == "geo" and state["x"] == 0, state
    assert state["title"] == "路口地图（本地底图）"
    fixture_names = [f["properties"]["name"] for f in json.loads(BASEMAP.read_text())["features"]]
    assert state["regions"] == fixture_names  # the deployment's GeoJSON, as served
    by_id = {p["id"]: p for p in state["points"]}
    assert set(by_id) == set(located)
    w, h = state["size"]
    for cid, (lat, lon) in located.items():
        assert by_id[cid]["lonlat"] == [lon, lat]
        x, y = by_id[cid]["px"]
        assert 0 < x < w and 0 < y < h, (cid, x, y, w, h)  # inside the drawn map
    # west is left, north is up
    assert by_id["hanoi-giangvo-langha"]["px"][0] < by_id["vn-rear-stopline"]["px"][0]
    assert by_id["hanoi-giangvo-langha"]["px"][1] < by_id["vn-rear-stopline"]["px"][1]
    page.evaluate("document.getElementById('dash-map-section').scrollIntoView({block: 'start'})")
    screenshot(page, "dashboard-map")


def test_without_a_basemap_the_map_falls_back_to_the_sketch(page_as, ui, located):
    page = page_as("analyst", "dashboard")
    page.route(
        "**/api/map/basemap",
        lambda route: route.fulfill(
            status=404, content_type="application/json", body='{"detail": "no basemap is configured"}'
        ),
    )
    page.reload()  # a fresh page load: the basemap is fetched (and refused) again
    ui.wait_ready(page)
    page.wait_for_selector(".dashboard[data-loaded]", timeout=30000)
    state = map_state(page)
    assert state["geo"] is None and state["system"] == "cartesian2d" and state["x"] == 1, state
    assert state["title"] == "按经纬度"
    assert page.get_attribute("#dash-map", "data-basemap") == ""
    assert sorted(p["lonlat"] for p in state["points"]) == sorted([lon, lat] for lat, lon in located.values())


def test_unlocated_crossings_keep_the_schematic(page_as):
    page = open_dashboard(page_as)
    state = map_state(page)
    assert state["geo"] is None and state["system"] == "cartesian2d", state
    assert state["title"] == "示意图（按排名排列）"

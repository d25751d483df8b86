// The crossing map's basemap: the deployment's own GeoJSON of districts / roads
// (settings.map_geojson, served by GET /api/map/basemap, so it works offline), registered once
// per page load with echarts.registerMap. None configured (404): null, and the dashboard keeps
// its lon/lat sketch.

import { ApiError, api } from "../../app.js";

export const BASEMAP = "crosswatch-basemap";

let loaded = null;

/** {name, features} of the registered basemap, or null when the server has none. */
export function loadBasemap(echartsPromise) {
  if (!loaded) {
    loaded = (async () => {
      let geojson;
      try {
        geojson = await api("/api/map/basemap");
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        loaded = null; // a passing failure: try again on the next refresh
        throw e;
      }
      const lib = await echartsPromise;
      lib.registerMap(BASEMAP, geojson);
      return { name: BASEMAP, features: geojson.features.length };
    })();
  }
  return loaded;
}

/** The map over the basemap: the crossings (`points` of mapPoints, x = lon, y = lat) as a
 * scatter on the ECharts geo component; `common` holds the title, tooltip, label and colours the
 * sketch uses too. Districts are drawn light with their names; roads as lines. */
export function geoOption(points, common) {
  return {
    ...common.base,
    title: common.title,
    tooltip: common.tooltip,
    geo: {
      map: BASEMAP, roam: true, top: 64, bottom: 16, left: 16, right: 16,
      itemStyle: { areaColor: "#eef2f6", borderColor: "#8d9aae", borderWidth: 1 },
      label: { show: true, color: "#6b7685", fontSize: 11 },
      emphasis: { itemStyle: { areaColor: "#e2e8f0" }, label: { color: "#37474f" } },
      select: { disabled: true },
      tooltip: { show: false },
    },
    series: [{
      type: "scatter", coordinateSystem: "geo", geoIndex: 0, zlevel: 1,
      data: points.map((p) => ({ value: [p.x, p.y], symbolSize: p.size, name: p.name, point: p,
        itemStyle: common.itemStyle(p) })),
      label: common.label,
    }],
  };
}

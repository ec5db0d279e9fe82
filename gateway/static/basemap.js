/* The map's background: the vendored US states outline (us-states.json, made by
 * tools/us_states.py from us-atlas; licence in us-states-LICENSE.txt), read once and drawn
 * with any projection as canvas paths (the fleet map) or SVG path data (the track card).
 */

import { decodeStates, projectRings } from "./projection.js";

const OUTLINE_URL = new URL("us-states.json", import.meta.url);
let outline = null;

/** The states, decoded: [{id, name, rings: [[[lon, lat], …], …]}]. Fetched once per page. */
export function loadOutline() {
  if (!outline) {
    outline = fetch(OUTLINE_URL, { cache: "no-cache" })
      .then((res) => {
        if (!res.ok) throw new Error("the map outline answered HTTP " + res.status);
        return res.json();
      })
      .then(decodeStates);
    outline.catch(() => {
      outline = null; // try again on the next call
    });
  }
  return outline;
}

/** The outline projected, as one Path2D per panel of the projection with its clip box. */
export function panelPaths(states, project) {
  const panels = project.boxes.map((box) => ({ box, path: new Path2D() }));
  for (const { panel, points } of projectRings(states, project)) {
    const path = panels[panel].path;
    path.moveTo(points[0], points[1]);
    for (let i = 2; i < points.length; i += 2) path.lineTo(points[i], points[i + 1]);
    path.closePath();
  }
  return panels;
}

/** The outline projected, as SVG path data (one decimal: sub-pixel at the scales drawn). */
export function svgPathData(states, project) {
  const parts = [];
  for (const { points } of projectRings(states, project)) {
    let d = "M" + points[0].toFixed(1) + " " + points[1].toFixed(1);
    for (let i = 2; i < points.length; i += 2) d += "L" + points[i].toFixed(1) + " " + points[i + 1].toFixed(1);
    parts.push(d + "Z");
  }
  return parts.join("");
}

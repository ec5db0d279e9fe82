/* The detail's track card: the open truck's positions over the chart's window, on the
 * states outline, zoomed to where it went (Albers USA, as the fleet map: projection.js).
 */

import { loadOutline, svgPathData } from "./basemap.js";
import { svg } from "./dom.js";
import { albersUsa } from "./projection.js";

// The projection's natural frame (975 × 610); the card's viewBox zooms into it.
const PROJECT = albersUsa(1300, 487.5, 305);
const MIN_SPAN = 24;      // frame units (about 110 km): a parked truck is not zoomed into a dot
const PAD = 0.18;
let outlineD = null;

/** The positions of points [{t, lat, lon}] projected, oldest first. */
function projected(points) {
  const out = [];
  for (const p of points) {
    if (p.lat === null || p.lon === null) continue;
    const xy = PROJECT(p.lon, p.lat);
    if (xy) out.push(xy);
  }
  return out;
}

/**
 * Draw the track of `points` into `box` (an aspect of about 2:1); returns how many positions
 * it shows. `current` ([lon, lat] or null) marks where the truck is now.
 */
export async function paintTrack(box, points, current) {
  const xy = projected(points);
  if (current) {
    const now = PROJECT(current[0], current[1]);
    if (now) xy.push(now);
  }
  if (!xy.length) {
    const empty = svg("svg", { viewBox: "0 0 400 60", class: "track-svg" });
    const text = svg("text", { x: 200, y: 34, "text-anchor": "middle", class: "chart-empty" });
    text.textContent = "No positions in this window";
    empty.append(text);
    box.replaceChildren(empty);
    return 0;
  }
  if (outlineD === null) {
    try {
      outlineD = svgPathData(await loadOutline(), PROJECT);
    } catch {
      outlineD = "";
    }
  }
  let [x0, y0, x1, y1] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [x, y] of xy) {
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  // A 2:1 box around the track, padded, at least MIN_SPAN high.
  const h = Math.max(MIN_SPAN, (y1 - y0) * (1 + 2 * PAD), ((x1 - x0) * (1 + 2 * PAD)) / 2);
  const w = h * 2;
  const cx = (x0 + x1) / 2;
  const cy = (y0 + y1) / 2;
  const root = svg("svg", { viewBox: [cx - w / 2, cy - h / 2, w, h].map((v) => v.toFixed(2)).join(" "),
    class: "track-svg", role: "img", "aria-label": "Recent track" });
  if (outlineD) root.append(svg("path", { d: outlineD, class: "track-land" }));
  const d = xy.map(([x, y], i) => (i ? "L" : "M") + x.toFixed(2) + " " + y.toFixed(2)).join("");
  root.append(svg("path", { d, class: "track-line", "data-points": xy.length }));
  const r = h / 45;
  const [sx, sy] = xy[0];
  const [ex, ey] = xy[xy.length - 1];
  root.append(svg("circle", { cx: sx, cy: sy, r, class: "track-start" }));
  root.append(svg("circle", { cx: ex, cy: ey, r: r * 1.4, class: "track-now" }));
  box.replaceChildren(root);
  return xy.length;
}

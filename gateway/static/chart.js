/* The detail's history chart: three lanes (speed; fuel; coolant and oil) over a time
 * window, drawn as SVG, each with round value ticks; the truck's DTCs and refuels as
 * markers across the lanes; round local times (and the zone) below. Thousands of readings
 * are bucketed by pixel column (min and max of each), and a line breaks where readings
 * stop for a while. The crosshair (crosshair.js) reads the geometry paintChart returns.
 */

import { niceTicks, tickText, timeTicks } from "./axis.js";
import { svg } from "./dom.js";
import { clockText, fmtAxis, num, zoneName } from "./format.js";

export const SERIES = [
  { key: "speed", label: "Speed", unit: "mph", color: "speed", min: 0, minSpan: 10 },
  { key: "fuel", label: "Fuel", unit: "%", color: "fuel", min: 0, max: 100 },
  { key: "coolant", label: "Coolant", unit: "°F", color: "coolant", also: { key: "oil", label: "Oil", color: "oil" }, minSpan: 20 },
];
const LANE_H = 56;
const GAP = 22;
const LEFT = 36;
const RIGHT = 8;
const TOP = 26;
const AXIS_H = 18;

/** One chart point from a history row (timestamp_utc) or a live row (marked `live`). */
export function pointOf(t, r) {
  return {
    t,
    speed: num(r.speed_mph),
    rpm: num(r.rpm),
    fuel: num(r.fuel_level_pct),
    coolant: num(r.coolant_temp_f),
    oil: num(r.oil_temp_f),
    lat: num(r.latitude),
    lon: num(r.longitude),
    live: !("timestamp_utc" in r),
  };
}

/**
 * Draw into `box`: the points of the window [now - spanMs, now] and the event `marks`
 * ({t, kind: "dtc" | "dtc-cleared" | "refuel", severity?, label}), or `message` instead (or
 * "Loading…" / "No readings in this window" when there is nothing to draw). Returns the
 * chart's geometry for the crosshair, or null when nothing was drawn.
 */
export function paintChart(box, { points, spanMs, now, ready, message, marks = [] }) {
  const width = Math.max(280, Math.floor(box.clientWidth || 420));
  const height = TOP + SERIES.length * (LANE_H + GAP) - GAP + AXIS_H;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart-svg" });
  const from = now - spanMs;
  const x = (t) => LEFT + Math.min(1, (t - from) / (now - from)) * (width - LEFT - RIGHT);
  const pts = points.filter((p) => p.t >= from);
  if (message || !pts.length) {
    const text = svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" });
    text.textContent = message || (ready ? "No readings in this window" : "Loading…");
    root.append(text);
    box.replaceChildren(root);
    return null;
  }
  const buckets = Math.max(40, Math.floor((width - LEFT - RIGHT) / 2));
  const lanes = SERIES.map((s, i) => paintLane(root, s, TOP + i * (LANE_H + GAP), { pts, x, from, now, width, buckets }));
  const bottom = TOP + SERIES.length * (LANE_H + GAP) - GAP;
  const axisY = bottom + 14;
  for (const t of timeTicks(from, now, width > 360 ? 6 : 4)) {
    const tx = x(t);
    if (tx < LEFT + 16) continue; // the zone's place, under the value axis
    root.append(svg("line", { x1: tx, x2: tx, y1: TOP, y2: bottom, class: "vgrid" }));
    const label = svg("text", { x: tx, y: axisY, "text-anchor": "middle", class: "tick tick-x" });
    label.textContent = clockText(t).slice(0, 5);
    root.append(label);
  }
  const zone = svg("text", { x: 2, y: axisY, class: "tick zone" });
  zone.textContent = zoneName(now);
  root.append(zone);
  paintMarks(root, marks.filter((m) => m.t >= from && m.t <= now), x, bottom);
  box.replaceChildren(root);
  return {
    root, pts, lanes, from, now, left: LEFT, right: width - RIGHT, top: TOP, bottom,
    x, tAt: (px) => from + ((px - LEFT) / (width - LEFT - RIGHT)) * (now - from),
  };
}

/** One lane: its box, round ticks and grid lines, the series line(s) and their legends. */
function paintLane(root, s, y0, { pts, x, from, now, width, buckets }) {
  const keys = s.also ? [s.key, s.also.key] : [s.key];
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of pts) {
    for (const k of keys) {
      const v = p[k];
      if (v === null) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (!Number.isFinite(lo)) {
    lo = 0;
    hi = 1;
  }
  if (s.min !== undefined) lo = Math.min(lo, s.min);
  if (s.max !== undefined) hi = Math.max(hi, s.max);
  if (s.minSpan && hi - lo < s.minSpan) {
    // A flat line would fill the lane with noise: show at least minSpan around it.
    const mid = (hi + lo) / 2;
    lo = s.min !== undefined ? Math.max(s.min, mid - s.minSpan / 2) : mid - s.minSpan / 2;
    hi = lo + s.minSpan;
  }
  const axis = niceTicks(lo, hi, 3);
  lo = axis.lo;
  hi = axis.hi;
  const y = (v) => y0 + LANE_H - ((v - lo) / (hi - lo || 1)) * LANE_H;
  root.append(svg("rect", { x: LEFT, y: y0, width: width - LEFT - RIGHT, height: LANE_H, class: "lane" }));
  for (const v of axis.ticks) {
    const ty = y(v);
    if (v !== lo && v !== hi) root.append(svg("line", { x1: LEFT, x2: width - RIGHT, y1: ty, y2: ty, class: "gridline" }));
    root.append(svg("line", { x1: LEFT - 3, x2: LEFT, y1: ty, y2: ty, class: "tickmark" }));
    const label = svg("text", { x: LEFT - 5, y: ty + 3.5, "text-anchor": "end", class: "tick tick-y", "data-lane": s.key });
    label.textContent = tickText(v, axis.step);
    root.append(label);
  }
  const lines = [{ key: s.key, color: s.color, label: s.label }];
  if (s.also) lines.push(s.also);
  let legendX = LEFT;
  for (const line of lines) {
    const d = pathOf(pts, line.key, x, y, from, now, buckets);
    if (d) root.append(svg("path", { d, class: "series s-" + line.color }));
    const last = [...pts].reverse().find((p) => p[line.key] !== null);
    const legend = svg("text", { x: legendX, y: y0 - 6, class: "legend s-" + line.color });
    legend.textContent = line.label + (last ? " " + fmtAxis(last[line.key]) + " " + s.unit : "");
    root.append(legend);
    legendX += 130;
  }
  return { series: s, y, y0, keys };
}

/** The DTC and refuel markers: a line across the lanes and a glyph above them, titled. */
function paintMarks(root, marks, x, bottom) {
  for (const m of marks) {
    const mx = x(m.t);
    const g = svg("g", { class: "mark mark-" + m.kind, "data-severity": m.severity || "" });
    g.append(svg("line", { x1: mx, x2: mx, y1: TOP - 4, y2: bottom, class: "mark-line" }));
    if (m.kind === "refuel") g.append(svg("circle", { cx: mx, cy: TOP - 9, r: 4, class: "mark-glyph" }));
    else g.append(svg("path", { d: `M${mx - 4.5} ${TOP - 13}h9l-4.5 8z`, class: "mark-glyph" }));
    const title = svg("title", {});
    title.textContent = m.label;
    g.append(title);
    root.append(g);
  }
}

/** An SVG path of one series, min/max per bucket, broken where readings stop for a while. */
function pathOf(pts, key, x, y, from, to, buckets) {
  const width = (to - from) / buckets;
  const cols = new Map();
  let prevT = null;
  const gaps = [];
  for (const p of pts) {
    const v = p[key];
    if (v === null) continue;
    if (prevT !== null && p.t - prevT > Math.max(15 * 60000, width * 3)) gaps.push(p.t);
    prevT = p.t;
    const b = Math.floor((p.t - from) / width);
    const c = cols.get(b);
    if (!c) cols.set(b, { first: v, min: v, max: v, last: v, t: p.t, minFirst: true });
    else {
      if (v < c.min) {
        c.min = v;
        c.minFirst = c.max === c.first;
      }
      if (v > c.max) c.max = v;
      c.last = v;
    }
  }
  let d = "";
  let gapIdx = 0;
  let lastBucketT = null;
  for (const [b, c] of cols) {
    const bx = x(from + (b + 0.5) * width);
    let move = !d;
    while (gapIdx < gaps.length && gaps[gapIdx] <= c.t) {
      if (lastBucketT !== null && gaps[gapIdx] > lastBucketT) move = true;
      gapIdx += 1;
    }
    const vals = c.min === c.max ? [c.first] : c.minFirst ? [c.min, c.max] : [c.max, c.min];
    for (const v of vals) {
      d += (move ? "M" : "L") + bx.toFixed(1) + " " + y(v).toFixed(1);
      move = false;
    }
    lastBucketT = c.t;
  }
  return d;
}

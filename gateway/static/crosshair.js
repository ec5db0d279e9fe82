/* The history chart's crosshair: under the pointer, the reading nearest in time, marked on
 * every lane, with its values and its time (with the zone) in a read-out above the chart.
 * It survives the chart's repaints (live readings redraw it every second).
 */

import { $, svg } from "./dom.js";
import { fmtAxis, zonedTime } from "./format.js";

export class Crosshair {
  /** @param {HTMLElement} box  the chart's container (its SVG is replaced on every paint) */
  constructor(box) {
    this.box = box;
    this.geometry = null;
    this.px = null;     // the pointer's x in the chart, while it is over it
    box.addEventListener("pointermove", (ev) => {
      this.px = ev.clientX - box.getBoundingClientRect().left;
      this.draw();
    });
    box.addEventListener("pointerleave", () => {
      this.px = null;
      this.draw();
    });
  }

  /** The chart was painted again (its geometry, or null when it shows a message). */
  painted(geometry) {
    this.geometry = geometry;
    this.draw();
  }

  /** The reading nearest to time t (points are in time order). */
  nearest(t) {
    const pts = this.geometry.pts;
    let lo = 0;
    let hi = pts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (pts[mid].t < t) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0 && Math.abs(pts[lo - 1].t - t) <= Math.abs(pts[lo].t - t)) lo -= 1;
    return pts[lo];
  }

  draw() {
    const readout = $("chart-readout");
    const g = this.geometry;
    if (g) g.root.querySelector(".xhair")?.remove();
    if (!g || this.px === null || this.px < g.left || this.px > g.right) {
      readout.hidden = true;
      return;
    }
    const p = this.nearest(g.tAt(this.px));
    const x = g.x(p.t);
    const group = svg("g", { class: "xhair" });
    group.append(svg("line", { x1: x, x2: x, y1: g.top, y2: g.bottom, class: "xhair-line" }));
    const parts = [];
    for (const lane of g.lanes) {
      const lines = [lane.series, ...(lane.series.also ? [lane.series.also] : [])];
      for (const line of lines) {
        const v = p[line.key];
        if (v === null) continue;
        group.append(svg("circle", { cx: x, cy: lane.y(v), r: 3, class: "xhair-dot s-" + line.color }));
        parts.push(line.label + " " + fmtAxis(v) + " " + lane.series.unit);
      }
    }
    g.root.append(group);
    readout.textContent = zonedTime(p.t) + " · " + (parts.join(" · ") || "no values");
    readout.dataset.t = String(p.t);
    readout.hidden = false;
  }
}

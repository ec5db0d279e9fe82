/* The fleet map: every truck with a position as a marker on the US outline, coloured by
 * its marker state (filters.js), moving as its rows change; hover names the truck, a click
 * opens it; the open truck's recent track is drawn under the markers.
 *
 * Two canvases: the outline (drawn on resize and theme change only) and the markers,
 * redrawn only when something moved, and for data at most every DATA_FRAME_MS: a big fleet
 * sends a thousand diffs a second, each truck moves once a second, and every redraw costs
 * the compositor a copy of the canvas. The pointer, the filter and the selection redraw
 * on the next frame. Markers are found under the pointer by a scan of their pixel
 * positions (a thousand is microseconds).
 */

import { loadOutline, panelPaths } from "./basemap.js";
import { $ } from "./dom.js";
import { markerState, MARKER_STATES } from "./filters.js";
import { fixed, num } from "./format.js";
import { fitAlbersUsa } from "./projection.js";

const HIT_PX = 9;
const DATA_FRAME_MS = 200;
const RADIUS = { parked: 3, idle: 3.5, driving: 3.5, stale: 3.5, alert: 4.5 };
const COLOR_VARS = {
  land: "--map-land", border: "--map-border", water: "--map-water",
  parked: "--m-parked", idle: "--m-idle", driving: "--m-driving", stale: "--m-stale", alert: "--m-alert",
  track: "--m-track", ring: "--text", halo: "--bg",
};

export class FleetMap {
  /**
   * @param {import("./client.js").FleetClient} client
   * @param {{allows(t): boolean}} filter  which trucks are shown (the table's filter)
   * @param {{open(id: string): void, selected(): string|null}} hooks
   */
  constructor(client, filter, hooks) {
    this.client = client;
    this.filter = filter;
    this.hooks = hooks;
    this.markers = new Map();    // Truck → {lon, lat, x, y, state, shown}
    this.states = null;          // the decoded outline
    this.project = null;
    this.panels = null;
    this.width = 0;
    this.height = 0;
    this.dpr = 1;
    this.colors = null;
    this.frame = 0;
    this.later = null;
    this.lastDraw = -Infinity;
    this.hover = null;
    this.track = null;           // {id, points: [[lon, lat], …]} of the open truck
    this.trackXY = null;
    this.stats = { draws: 0, drawMs: 0, markersDrawn: 0 };
  }

  init() {
    this.box = $("map");
    this.base = $("map-base");
    this.marks = $("map-marks");
    this.tip = $("map-tip");
    new ResizeObserver(() => this.resize()).observe(this.box);
    this.marks.addEventListener("pointermove", (ev) => this.pointer(ev));
    this.marks.addEventListener("pointerleave", () => this.setHover(null));
    this.marks.addEventListener("click", (ev) => {
      const t = this.hit(...this.local(ev));
      if (t) this.hooks.open(t.id);
    });
    loadOutline().then(
      (states) => {
        this.states = states;
        this.resize(true);
      },
      (err) => {
        $("map-note").textContent = "Map outline unavailable: " + err.message;
      },
    );
  }

  /** The canvases follow the box's size; the projection is fitted again, every marker re-placed. */
  resize(force) {
    const w = Math.floor(this.box.clientWidth);
    const h = Math.floor(this.box.clientHeight);
    const dpr = window.devicePixelRatio || 1;
    if (!force && w === this.width && h === this.height && dpr === this.dpr) return;
    this.width = w;
    this.height = h;
    this.dpr = dpr;
    for (const c of [this.base, this.marks]) {
      c.width = Math.max(1, Math.round(w * dpr));
      c.height = Math.max(1, Math.round(h * dpr));
      c.style.width = w + "px";
      c.style.height = h + "px";
    }
    this.project = fitAlbersUsa(w, h, 10);
    this.panels = this.states ? panelPaths(this.states, this.project) : null;
    for (const m of this.markers.values()) this.place(m);
    this.projectTrack();
    this.drawBase();
    this.schedule();
  }

  /** Theme changed: read the colours again and redraw both layers. */
  themeChanged() {
    this.colors = null;
    this.drawBase();
    this.schedule();
  }

  color(name) {
    if (!this.colors) {
      const css = getComputedStyle(document.documentElement);
      this.colors = {};
      for (const [key, v] of Object.entries(COLOR_VARS)) this.colors[key] = css.getPropertyValue(v).trim() || "#888";
    }
    return this.colors[name];
  }

  drawBase() {
    const ctx = this.base.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    if (!this.panels) return;
    ctx.lineJoin = "round";
    ctx.lineWidth = 0.7;
    for (const { box, path } of this.panels) {
      ctx.save();
      ctx.beginPath();
      ctx.rect(box[0], box[1], box[2] - box[0], box[3] - box[1]);
      ctx.clip();
      ctx.fillStyle = this.color("land");
      ctx.strokeStyle = this.color("border");
      ctx.fill(path, "evenodd");
      ctx.stroke(path);
      ctx.restore();
    }
  }

  // ------------------------------------------------------------ markers

  place(m) {
    const pt = this.project ? this.project(m.lon, m.lat) : null;
    m.x = pt ? pt[0] : NaN;
    m.y = pt ? pt[1] : NaN;
  }

  /** A truck's row or state changed: move or recolour its marker (drawn on the next frame). */
  update(t) {
    let m = this.markers.get(t);
    const r = t.row;
    const lat = r ? num(r.latitude) : null;
    const lon = r ? num(r.longitude) : null;
    if (lat === null || lon === null || t.dead) {
      if (m) {
        this.markers.delete(t);
        this.schedule();
      }
      return;
    }
    if (!m) {
      m = { lon: NaN, lat: NaN, x: NaN, y: NaN, state: "none", shown: false };
      this.markers.set(t, m);
    }
    if (m.lon !== lon || m.lat !== lat) {
      m.lon = lon;
      m.lat = lat;
      this.place(m);
    }
    m.state = markerState(t, this.client.alerts);
    m.shown = this.filter.allows(t);
    this.scheduleData();
  }

  /** The truck left the fleet. */
  remove(t) {
    if (this.markers.delete(t)) this.schedule();
  }

  /** The filter changed: every marker's visibility. */
  refilter() {
    for (const [t, m] of this.markers) {
      m.shown = this.filter.allows(t);
      m.state = markerState(t, this.client.alerts);
    }
    if (this.hover && !this.hover.shown) this.setHover(null);
    this.schedule();
  }

  /** Redraw on the next frame (the pointer, the filter, the selection, a resize). */
  schedule() {
    clearTimeout(this.later);
    this.later = null;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.draw());
  }

  /** Redraw for new data: on the next frame, but not sooner than DATA_FRAME_MS after the last one. */
  scheduleData() {
    if (this.frame || this.later) return;
    const wait = this.lastDraw + DATA_FRAME_MS - performance.now();
    if (wait <= 0) this.schedule();
    else this.later = setTimeout(() => this.schedule(), wait);
  }

  draw() {
    this.frame = 0;
    const started = performance.now();
    this.lastDraw = started;
    const ctx = this.marks.getContext("2d");
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.clearRect(0, 0, this.width, this.height);
    this.drawTrack(ctx);
    // One path per state: a thousand arcs and five fills, not a thousand fills.
    const groups = new Map(MARKER_STATES.map((s) => [s, []]));
    for (const m of this.markers.values()) {
      if (m.shown && Number.isFinite(m.x) && groups.has(m.state)) groups.get(m.state).push(m);
    }
    let drawn = 0;
    ctx.lineWidth = 1;
    ctx.strokeStyle = this.color("halo");
    for (const [state, list] of groups) {
      if (!list.length) continue;
      const r = RADIUS[state];
      ctx.beginPath();
      for (const m of list) {
        ctx.moveTo(m.x + r, m.y);
        ctx.arc(m.x, m.y, r, 0, 2 * Math.PI);
      }
      ctx.fillStyle = this.color(state);
      ctx.fill();
      ctx.stroke();
      drawn += list.length;
    }
    const selected = this.hooks.selected();
    const sel = selected && this.client.trucks.get(selected);
    for (const [m, width] of [[sel && this.markers.get(sel), 2], [this.hover, 1.5]]) {
      if (!m || !Number.isFinite(m.x)) continue;
      ctx.beginPath();
      ctx.arc(m.x, m.y, RADIUS[m.state] + 3.5, 0, 2 * Math.PI);
      ctx.lineWidth = width;
      ctx.strokeStyle = this.color("ring");
      ctx.stroke();
    }
    this.stats.draws += 1;
    this.stats.markersDrawn = drawn;
    this.stats.drawMs += performance.now() - started;
    const label = "Map of " + drawn + " trucks";
    // Only when it changed: an attribute write invalidates style for the whole frame.
    if (this.marks.getAttribute("aria-label") !== label) this.marks.setAttribute("aria-label", label);
  }

  // ------------------------------------------------------------ track of the open truck

  /** The open truck's recent positions (oldest first), or null to clear. */
  setTrack(id, points) {
    this.track = id && points && points.length ? { id, points } : null;
    this.projectTrack();
    this.schedule();
  }

  projectTrack() {
    this.trackXY = null;
    if (!this.track || !this.project) return;
    const xy = [];
    for (const [lon, lat] of this.track.points) {
      const pt = this.project(lon, lat);
      if (pt) xy.push(pt);
    }
    this.trackXY = xy;
  }

  drawTrack(ctx) {
    if (!this.trackXY || this.trackXY.length < 2 || this.track.id !== this.hooks.selected()) return;
    ctx.beginPath();
    this.trackXY.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.lineWidth = 2;
    ctx.lineJoin = "round";
    ctx.strokeStyle = this.color("track");
    ctx.stroke();
  }

  // ------------------------------------------------------------ pointer

  local(ev) {
    const rect = this.marks.getBoundingClientRect();
    return [ev.clientX - rect.left, ev.clientY - rect.top];
  }

  /** The shown truck nearest to (x, y) within HIT_PX, or null. */
  hit(x, y) {
    let best = null;
    let bestD = HIT_PX * HIT_PX;
    for (const [t, m] of this.markers) {
      if (!m.shown) continue;
      const d = (m.x - x) ** 2 + (m.y - y) ** 2;
      if (d <= bestD) {
        best = t;
        bestD = d;
      }
    }
    return best;
  }

  pointer(ev) {
    const [x, y] = this.local(ev);
    const t = this.hit(x, y);
    this.setHover(t ? this.markers.get(t) : null, t, x, y);
  }

  setHover(m, t, x, y) {
    const changed = m !== this.hover;
    this.hover = m;
    this.marks.style.cursor = m ? "pointer" : "";
    if (!m) {
      this.tip.hidden = true;
      if (changed) this.schedule();
      return;
    }
    const r = t.row || {};
    const alert = this.client.alerts.worstActive(t.id);
    this.tip.replaceChildren();
    const name = document.createElement("b");
    name.textContent = t.id;
    this.tip.append(name, " " + (r.engine_state || t.state) +
      (num(r.speed_mph) ? " · " + fixed(r.speed_mph, 0) + " mph" : "") +
      (t.state !== "live" ? " · " + t.state : "") + (alert ? " · " + alert + " DTC" : ""));
    this.tip.hidden = false;
    this.tip.dataset.truck = t.id;
    // Beside the pointer, kept inside the map.
    const tw = this.tip.offsetWidth;
    const left = Math.min(Math.max(4, x + 12), this.width - tw - 4);
    const top = y > 40 ? y - 30 : y + 14;
    this.tip.style.transform = "translate(" + Math.round(left) + "px," + Math.round(top) + "px)";
    if (changed) this.schedule();
  }

  // ------------------------------------------------------------ read-outs (tests, scripts)

  /** A truck's marker: {x, y, state, shown} in CSS pixels of the map, or null. */
  markerOf(id) {
    const t = this.client.trucks.get(id);
    const m = t && this.markers.get(t);
    return m ? { x: m.x, y: m.y, state: m.state, shown: m.shown } : null;
  }
}

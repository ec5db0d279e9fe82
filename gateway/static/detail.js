/* The truck detail panel: its live values (KPIs), the history chart with its window
 * buttons, crosshair and DTC/refuel markers, the recent track, and the event lists;
 * opened by a row, a marker or an alert (or #truck=<id>), closed by ✕ or Esc. Live
 * readings of the open truck extend the chart and the track, and a DTC count or fuel
 * jump (or an alert of the truck) reloads the events.
 */

import { paintChart, pointOf } from "./chart.js";
import { RANGES } from "./config.js";
import { Crosshair } from "./crosshair.js";
import { $, h, local } from "./dom.js";
import { loadEvents } from "./events.js";
import { fetchHistory } from "./history.js";
import { HttpError } from "./http.js";
import { ageText, compass, fixed, grouped, num, parseTime, zonedTime } from "./format.js";
import { level } from "./levels.js";
import { fetchMarks, marksOfEvents } from "./marks.js";
import { paintTrack } from "./track.js";

const RANGE_KEY = "fleet-dashboard.range";
const KPIS = [
  ["speed", "Speed", "mph"], ["rpm", "RPM", ""], ["fuel", "Fuel", ""],
  ["coolant", "Coolant", "°F"], ["oiltemp", "Oil temp", "°F"], ["oilpsi", "Oil pressure", "psi"],
  ["load", "Engine load", "%"], ["battery", "Battery", "V"], ["odometer", "Odometer", "mi"],
  ["hours", "Engine hrs", "h"], ["dtcs", "Active DTCs", ""], ["position", "Position", ""],
  ["reading", "Last reading", ""],
];

export class DetailPanel {
  /**
   * @param {import("./client.js").FleetClient} client
   * @param {object} config  staleAfterMs, historyPage, historyBudget, detailRefreshMs
   * @param {{repaint(truck): void, track(id: string|null, points: Array|null): void}} hooks
   *   repaint a truck's row and marker (its "selected" mark); show the open truck's track on the map
   */
  constructor(client, config, hooks) {
    this.client = client;
    this.config = config;
    this.hooks = hooks;
    this.repaintRow = (t) => hooks.repaint(t);
    this.marks = [];            // the chart's DTC and refuel markers
    this.marksSeq = 0;
    this.crosshair = null;
    this.trackTimer = null;
    this.id = null;
    this.range = "1h";
    this.points = [];           // [{t, speed, rpm, fuel, coolant, oil, live}] oldest first
    this.pointsReady = false;
    this.loadSeq = 0;
    this.chartTimer = null;
    this.refreshTimer = null;
    this.eventsAgain = null;
    this.lastDtcCount = null;
    this.kpiCells = null;
  }

  init() {
    this.crosshair = new Crosshair($("chart"));
    $("d-close").addEventListener("click", () => this.close());
    document.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.id && $("auth").hidden) this.close();
    });
    for (const b of $("h-ranges").querySelectorAll("button")) {
      b.addEventListener("click", () => {
        this.range = b.dataset.range;
        if (local) local.setItem(RANGE_KEY, this.range);
        this.paintRanges();
        this.loadHistory();
      });
    }
    const saved = local && local.getItem(RANGE_KEY);
    if (saved && RANGES[saved]) this.range = saved;
    this.paintRanges();
    window.addEventListener("hashchange", () => this.fromHash());
    const dl = $("d-kpis");
    this.kpiCells = {};
    for (const [key, label, unit] of KPIS) {
      const dd = h("dd", { "data-kpi": key });
      const value = h("span", { class: "v" });
      const unitEl = h("span", { class: "u", text: unit ? " " + unit : "" });
      dd.append(value, unitEl);
      dl.append(h("div", { class: "kpi", "data-kpi": key }, h("dt", { text: label }), dd));
      this.kpiCells[key] = { dd, value, unit: unitEl };
    }
  }

  paintRanges() {
    for (const b of $("h-ranges").querySelectorAll("button")) {
      b.classList.toggle("on", b.dataset.range === this.range);
      b.setAttribute("aria-pressed", String(b.dataset.range === this.range));
    }
  }

  /** Follow the address bar's #truck=<id>. */
  fromHash() {
    const m = /^#truck=(.+)$/.exec(location.hash);
    const id = m ? decodeURIComponent(m[1]) : null;
    if (id && this.client.trucks.has(id)) {
      if (id !== this.id) this.open(id);
    } else if (!id && this.id) {
      this.close();
    }
  }

  open(id) {
    const trucks = this.client.trucks;
    const t = trucks.get(id);
    if (!t) return;
    const prev = this.id ? trucks.get(this.id) : null;
    this.id = id;
    if (location.hash !== "#truck=" + encodeURIComponent(id)) {
      history.replaceState(null, "", location.pathname + location.search + "#truck=" + encodeURIComponent(id));
    }
    $("detail").hidden = false;
    document.body.classList.add("with-detail");
    $("d-title").textContent = id;
    if (prev) this.repaintRow(prev);
    this.repaintRow(t);
    this.points = [];
    this.lastDtcCount = t.row ? num(t.row.active_dtc_count) : null;
    this.pointsReady = false;
    this.marks = [];
    this.paintLive();
    this.paintChart();
    this.paintTrack();
    this.loadHistory();
    this.loadEvents();
    clearInterval(this.refreshTimer);
    this.refreshTimer = setInterval(() => this.loadEvents(), this.config.detailRefreshMs);
  }

  close() {
    const prev = this.id ? this.client.trucks.get(this.id) : null;
    this.id = null;
    this.loadSeq += 1;
    clearInterval(this.refreshTimer);
    $("detail").hidden = true;
    document.body.classList.remove("with-detail");
    if (location.hash) history.replaceState(null, "", location.pathname + location.search);
    if (prev) this.repaintRow(prev);
    this.hooks.track(null, null);
  }

  /** The header chips and the KPIs from the open truck's current row. */
  paintLive() {
    const t = this.id && this.client.trucks.get(this.id);
    if (!t) return;
    const r = t.row || {};
    const engine = $("d-engine");
    engine.textContent = r.engine_state || "no data";
    engine.dataset.engine = r.engine_state || "none";
    const status = $("d-status");
    status.textContent = t.state;
    status.dataset.state = t.state;
    const reason = $("d-reason");
    const reasonText = t.state !== "live" && t.reason ? t.reason : "";
    reason.textContent = reasonText;
    reason.hidden = !reasonText;
    const k = this.kpiCells;
    const set = (key, text, cls, unit) => {
      if (k[key].value.textContent !== text) k[key].value.textContent = text;
      if (unit !== undefined && k[key].unit.textContent !== unit) k[key].unit.textContent = unit;
      k[key].dd.className = cls || "";
    };
    const lvl = (field) => level(field, num(r[field]), r);
    set("speed", fixed(r.speed_mph, 1));
    set("rpm", grouped(r.rpm), lvl("rpm"));
    const gal = num(r.estimated_gallons);
    set("fuel", fixed(r.fuel_level_pct, 1), lvl("fuel_level_pct"), " %" + (gal !== null ? " · " + gal.toFixed(0) + " gal" : ""));
    set("load", fixed(r.engine_load_pct, 0));
    set("coolant", fixed(r.coolant_temp_f, 1), lvl("coolant_temp_f"));
    set("oiltemp", fixed(r.oil_temp_f, 1), lvl("oil_temp_f"));
    set("oilpsi", fixed(r.oil_pressure_psi, 1), lvl("oil_pressure_psi"));
    set("battery", fixed(r.battery_voltage, 2), lvl("battery_voltage"));
    set("odometer", grouped(r.odometer_mi, 0));
    set("hours", grouped(r.engine_hours, 1));
    const lat = num(r.latitude);
    const lon = num(r.longitude);
    set("position", lat === null || lon === null ? "—"
      : lat.toFixed(4) + ", " + lon.toFixed(4) + (num(r.heading_deg) !== null ? " · " + compass(r.heading_deg) : ""));
    const dtc = num(r.active_dtc_count);
    set("dtcs", t.row ? String(dtc || 0) : "—", dtc ? "crit" : "");
    status.title = t.via === "ws" && t.epoch ? "WebSocket stream: epoch " + t.epoch + ", seq " + t.seq
      : t.via === "rest" ? "polled over REST" : "";
    this.paintAge(this.client.clock.now());
  }

  paintAge(now) {
    const t = this.id && this.client.trucks.get(this.id);
    if (!t || !this.kpiCells) return;
    const ms = t.readingMs();
    const text = Number.isFinite(ms) ? ageText(now - ms) + " ago · " + zonedTime(ms) : "—";
    const cell = this.kpiCells.reading;
    if (cell.value.textContent !== text) cell.value.textContent = text;
    cell.dd.title = t.row ? String(t.row.timestamp) : "";
    cell.dd.className = now - ms > this.config.staleAfterMs ? "warn" : "";
  }

  /** A new reading of the open truck: extend the chart, refresh DTCs/refuels when they moved. */
  liveUpdate(t, old) {
    const r = t.row;
    if (!r) return;
    const at = parseTime(r.timestamp);
    const last = this.points.length ? this.points[this.points.length - 1].t : -Infinity;
    const span = RANGES[this.range];
    // Live readings extend the chart at about 2000 points per window (not one per second all day).
    if (this.pointsReady && Number.isFinite(at) && at - last >= span / 2000) {
      this.points.push(pointOf(at, r));
      const from = this.client.clock.now() - span;
      while (this.points.length && this.points[0].t < from) this.points.shift();
      this.scheduleChart();
    } else if (old && (old.latitude !== r.latitude || old.longitude !== r.longitude)) {
      this.scheduleChart(); // the track's "now" moved
    }
    const dtc = num(r.active_dtc_count);
    const fuelJump = old && num(r.fuel_level_pct) !== null && num(old.fuel_level_pct) !== null &&
      r.fuel_level_pct - old.fuel_level_pct >= 5;
    if ((this.lastDtcCount !== null && dtc !== this.lastDtcCount) || fuelJump) {
      // The cache row may be written before the event rows: look again a little later.
      this.loadEvents();
      clearTimeout(this.eventsAgain);
      this.eventsAgain = setTimeout(() => this.loadEvents(), 3000);
    }
    this.lastDtcCount = dtc;
  }

  scheduleChart() {
    if (this.chartTimer) return;
    this.chartTimer = setTimeout(() => {
      this.chartTimer = null;
      this.paintChart();
      this.paintTrack();
    }, 1000);
  }

  paintChart(message) {
    const geometry = paintChart($("chart"), {
      points: this.points, spanMs: RANGES[this.range], now: this.client.clock.now(), ready: this.pointsReady, message,
      marks: this.marks,
    });
    if (this.crosshair) this.crosshair.painted(geometry);
  }

  /** The track card and the map's track line, from the window's positions and the live row. */
  async paintTrack() {
    const id = this.id;
    const t = id && this.client.trucks.get(id);
    if (!t) return;
    const r = t.row || {};
    const current = num(r.longitude) !== null && num(r.latitude) !== null ? [r.longitude, r.latitude] : null;
    const points = this.points.filter((p) => p.lat !== null && p.lon !== null);
    const shown = await paintTrack($("track"), this.pointsReady ? points : [], current);
    if (this.id !== id) return;
    $("track-note").textContent = this.pointsReady ? (shown ? shown + " positions" : "") : "loading…";
    const line = points.map((p) => [p.lon, p.lat]);
    if (current) line.push(current);
    this.hooks.track(id, line);
  }

  /** The chart's DTC and refuel markers for the window (REST), with what the alert feed adds. */
  async loadMarks() {
    const id = this.id;
    const seq = ++this.marksSeq;
    const since = this.client.clock.now() - RANGES[this.range];
    let marks = [];
    try {
      marks = await fetchMarks(this.client.api, id, since);
    } catch {
      marks = []; // the chart goes on without its markers
    }
    if (seq !== this.marksSeq || this.id !== id) return;
    const mine = this.client.alerts.items.filter((ev) => ev.truck_id === id);
    const seen = new Set(marks.map((m) => m.kind + "@" + Math.round(m.t / 1000)));
    for (const m of marksOfEvents(mine)) {
      if (Number.isFinite(m.t) && !seen.has(m.kind + "@" + Math.round(m.t / 1000))) marks.push(m);
    }
    this.marks = marks.sort((a, b) => a.t - b.t);
    this.paintChart();
  }

  /** An alert event of the open truck: its lists and markers again. */
  alerted() {
    this.loadEvents();
    this.loadMarks();
  }

  async loadHistory() {
    const id = this.id;
    const seq = ++this.loadSeq;
    const current = () => seq === this.loadSeq;
    this.pointsReady = false;
    $("h-note").textContent = "loading…";
    const c = this.config;
    const until = this.client.clock.now();
    try {
      const got = await fetchHistory(this.client.api, id,
        { span: RANGES[this.range], until, page: c.historyPage, budget: c.historyBudget }, current);
      if (!got) return;
      const { items, since, truncated } = got;
      // Keep the live readings that arrived while loading, past the last stored one.
      const live = this.points.filter((p) => p.live);
      this.points = items.map((r) => pointOf(parseTime(r.timestamp_utc), r)).filter((p) => Number.isFinite(p.t));
      const lastT = this.points.length ? this.points[this.points.length - 1].t : -Infinity;
      for (const p of live) if (p.t > lastT) this.points.push(p);
      this.pointsReady = true;
      $("h-note").textContent = truncated
        ? "last " + ageText(until - since).replace(/ 00 min$/, "") + " shown (" + items.length + " readings)"
        : items.length + " readings";
      this.paintChart();
      this.paintTrack();
      this.loadMarks();
    } catch (err) {
      if (!current()) return;
      this.pointsReady = true;
      $("h-note").textContent = "";
      this.paintChart(err instanceof HttpError && err.status === 503 ? "History unavailable: the database is down. Retrying…"
        : "History unavailable: " + (err.message || "error"));
      if (!(err instanceof HttpError && [401, 403, 404].includes(err.status))) {
        setTimeout(() => {
          if (current() && this.id === id) this.loadHistory();
        }, 10000);
      }
    }
  }

  loadEvents() {
    const id = this.id;
    if (!id) return;
    loadEvents(this.client.api, this.client.clock, id, () => this.id === id);
  }
}
